#!/usr/bin/python
# ruff: noqa: EXE001 - Ansible modules carry a shebang but are not executable files
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: wafv2_association
short_description: Which WAFv2 web ACL protects a resource (an API Gateway stage, a load balancer), idempotent
version_added: 0.1.0
description:
  - Reads the web ACL of O(resource_arn) (C(GetWebACLForResource)) and associates O(web_acl_arn) with it
    (C(AssociateWebACL), which replaces another web ACL) only when it differs; V(absent) disassociates whatever
    web ACL protects the resource. One resource per call, so each tenant converges only its own stage.
author:
  - Manufacturing Platform Team (@manufacturing-platform)
options:
  resource_arn:
    description:
      - ARN of the protected resource, for example C(arn:aws:apigateway:<region>::/restapis/<id>/stages/<stage>).
    type: str
    required: true
  web_acl_arn:
    description: ARN of the web ACL (O(state=present) needs it or O(web_acl_name)).
    type: str
  web_acl_name:
    description:
      - Name of the web ACL instead of its ARN, found in O(scope) (C(ListWebACLs)); the module fails if there is none.
    type: str
  scope:
    description: Scope of O(web_acl_name).
    type: str
    choices: [REGIONAL, CLOUDFRONT]
    default: REGIONAL
  state:
    description: Whether the resource is protected by O(web_acl_arn).
    type: str
    choices: [present, absent]
    default: present
attributes:
  check_mode:
    description: Reads only, and reports the action it would take.
    support: full
  diff_mode:
    description: Shows the web ACL of the resource before and after.
    support: full
requirements:
  - python >= 3.9
  - boto3
  - botocore
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: The tenant's stage behind the environment's web ACL
  manufacturing.platform.wafv2_association:
    resource_arn: arn:aws:apigateway:eu-west-1::/restapis/a1b2c3d4e5/stages/v1
    web_acl_arn: arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/mfg-prod-api/0123abcd
"""

RETURN = r"""
web_acl_arn:
  description: The web ACL that protects the resource after the run (in check mode, would protect); empty if none.
  returned: always
  type: str
actions:
  description: The API operations run (or that would run in check mode), each with its target.
  returned: always
  type: list
  elements: str
  sample: ["associate_web_acl(arn:aws:apigateway:eu-west-1::/restapis/a1b2c3d4e5/stages/v1)"]
"""

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.manufacturing.platform.plugins.module_utils import aws_retry
from ansible_collections.manufacturing.platform.plugins.module_utils.wafv2 import web_acl_summary

try:  # noqa: SIM105 - the usual optional-import pattern of AWS modules
    import botocore
except ImportError:
    pass  # caught by AnsibleAWSModule


def main():
    module = AnsibleAWSModule(
        argument_spec={
            "resource_arn": {"type": "str", "required": True},
            "web_acl_arn": {"type": "str"},
            "web_acl_name": {"type": "str"},
            "scope": {"type": "str", "choices": ["REGIONAL", "CLOUDFRONT"], "default": "REGIONAL"},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        },
        required_if=[("state", "present", ["web_acl_arn", "web_acl_name"], True)],
        mutually_exclusive=[("web_acl_arn", "web_acl_name")],
        supports_check_mode=True,
    )
    params = module.params
    resource = params["resource_arn"]
    client = aws_retry.client(module, "wafv2", extra_codes=["WAFUnavailableEntityException"])
    errors = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)
    try:
        current = client.get_web_acl_for_resource(aws_retry=True, ResourceArn=resource).get("WebACL") or {}
    except is_boto3_error_code("WAFNonexistentItemException"):
        current = {}
    except errors as exc:  # pylint: disable=duplicate-except
        module.fail_json_aws(exc, msg="cannot read the web ACL of %s" % resource)
    current_arn = current.get("ARN", "")
    wanted = params["web_acl_arn"] if params["state"] == "present" else ""
    if params["state"] == "present" and params["web_acl_name"]:
        try:
            wanted = (web_acl_summary(client, params["web_acl_name"], params["scope"]) or {}).get("ARN", "")
        except errors as exc:
            module.fail_json_aws(exc, msg="cannot list the web ACLs")
        if not wanted and module.check_mode:
            # A preview before the shared layer's first converge with WAF: it would create the web ACL first.
            wanted = "(web ACL %s)" % params["web_acl_name"]
        elif not wanted:
            module.fail_json(msg="there is no %s web ACL named %s (it is created by the shared layer: run it first)"
                             % (params["scope"], params["web_acl_name"]))
    actions = []
    if current_arn != wanted:
        action, kwargs = (("associate_web_acl", {"WebACLArn": wanted, "ResourceArn": resource}) if wanted
                          else ("disassociate_web_acl", {"ResourceArn": resource}))
        actions.append("%s(%s)" % (action, resource))
        if not module.check_mode:
            try:
                getattr(client, action)(aws_retry=True, **kwargs)
            except errors as exc:
                module.fail_json_aws(exc, msg="%s failed for %s" % (action, resource), actions=actions)
    result = {"changed": bool(actions), "actions": actions, "web_acl_arn": wanted}
    if module._diff:
        result["diff"] = {"before": {"web_acl_arn": current_arn}, "after": {"web_acl_arn": wanted}}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
