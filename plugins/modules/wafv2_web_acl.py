#!/usr/bin/python
# ruff: noqa: EXE001 - Ansible modules carry a shebang but are not executable files
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: wafv2_web_acl
short_description: A WAFv2 web ACL (rules, default action, metrics, logging, tags), idempotent with check mode and diff
version_added: 0.1.0
description:
  - Converges one WAFv2 web ACL found by name and scope (C(ListWebACLs), C(GetWebACL)), with C(CreateWebACL) or
    one C(UpdateWebACL) (with the lock token) when the rules, the default action, the description or the
    visibility configuration differ, and the tags (C(TagResource) / C(UntagResource)).
  - Rules are given in the WAFv2 API's own shape and compared as data (key order does not matter), so a re-run
    makes no mutating request. C(community.aws.wafv2_web_acl) re-sends its rules on every run.
  - With O(log_destination_arn), the web ACL logs to that destination (C(PutLoggingConfiguration)); a CloudWatch
    Logs group must be named C(aws-waf-logs-*).
author:
  - Manufacturing Platform Team (@manufacturing-platform)
options:
  name:
    description: Name of the web ACL.
    type: str
    required: true
  scope:
    description: V(REGIONAL) for API Gateway stages, load balancers and the like; V(CLOUDFRONT) in us-east-1.
    type: str
    choices: [REGIONAL, CLOUDFRONT]
    default: REGIONAL
  state:
    description: Whether the web ACL should exist. V(absent) deletes it (it must not be associated any more).
    type: str
    choices: [present, absent]
    default: present
  description:
    description: Description of the web ACL.
    type: str
    default: ""
  default_action:
    description: What happens to a request that no rule blocks or allows.
    type: str
    choices: [allow, block]
    default: allow
  rules:
    description: The rules, each a dict in the shape of the WAFv2 API (C(Name), C(Priority), C(Statement), C(Action)
      or C(OverrideAction), C(VisibilityConfig)).
    type: list
    elements: dict
    default: []
  metric_name:
    description: CloudWatch metric name of the web ACL (default O(name)); sampled requests and metrics are on.
    type: str
  log_destination_arn:
    description: ARN of the logging destination (a C(aws-waf-logs-*) log group); omitted, logging is left alone.
    type: str
  tags:
    description: Tags of the web ACL (others are removed).
    type: dict
    default: {}
attributes:
  check_mode:
    description: Reads only, and reports the actions it would take.
    support: full
  diff_mode:
    description: Shows the web ACL's settings before and after.
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
- name: Web ACL of the environment's tenant APIs
  manufacturing.platform.wafv2_web_acl:
    name: mfg-prod-api
    description: Tenant REST APIs of mfg-prod
    rules:
      - Name: aws-common
        Priority: 0
        OverrideAction: {None: {}}
        Statement:
          ManagedRuleGroupStatement: {VendorName: AWS, Name: AWSManagedRulesCommonRuleSet}
        VisibilityConfig: {SampledRequestsEnabled: true, CloudWatchMetricsEnabled: true, MetricName: aws-common}
    log_destination_arn: arn:aws:logs:eu-west-1:123456789012:log-group:aws-waf-logs-mfg-prod-api
    tags: {Environment: prod}
"""

RETURN = r"""
web_acl:
  description: The web ACL after the run (in check mode, what it would be); empty when absent.
  returned: always
  type: dict
  contains:
    name:
      description: Name.
      type: str
    id:
      description: Id (empty in check mode before it exists).
      type: str
    arn:
      description: ARN (empty in check mode before it exists).
      type: str
    rules:
      description: Names of the rules, by priority.
      type: list
      elements: str
actions:
  description: The API operations run (or that would run in check mode), in order, each with its target.
  returned: always
  type: list
  elements: str
  sample: ["create_web_acl(mfg-prod-api)"]
"""

import json

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.tagging import (
    ansible_dict_to_boto3_tag_list,
    boto3_tag_list_to_ansible_dict,
    compare_aws_tags,
)
from ansible_collections.manufacturing.platform.plugins.module_utils import aws_retry
from ansible_collections.manufacturing.platform.plugins.module_utils.wafv2 import web_acl_summary

try:  # noqa: SIM105 - the usual optional-import pattern of AWS modules
    import botocore
except ImportError:
    pass  # caught by AnsibleAWSModule


def canonical(value):
    return json.loads(json.dumps(value, sort_keys=True))


def find(client, name, scope):
    """(web_acl, lock_token) of the web ACL called ``name``, or (None, None)."""
    summary = web_acl_summary(client, name, scope)
    if summary is None:
        return None, None
    got = client.get_web_acl(aws_retry=True, Name=name, Scope=scope, Id=summary["Id"])
    return got["WebACL"], got["LockToken"]


def settings_of(web_acl):
    return canonical({
        "Description": web_acl.get("Description", ""),
        "DefaultAction": web_acl.get("DefaultAction"),
        "Rules": sorted(web_acl.get("Rules", []), key=lambda r: (r.get("Priority", 0), r.get("Name", ""))),
        "VisibilityConfig": web_acl.get("VisibilityConfig"),
    })


def wanted_settings(params):
    return canonical({
        "Description": params["description"],
        "DefaultAction": {"Allow": {}} if params["default_action"] == "allow" else {"Block": {}},
        "Rules": sorted(params["rules"], key=lambda r: (r.get("Priority", 0), r.get("Name", ""))),
        "VisibilityConfig": {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True,
                             "MetricName": params["metric_name"] or params["name"]},
    })


def logging_destinations(client, arn):
    try:
        config = client.get_logging_configuration(aws_retry=True, ResourceArn=arn)["LoggingConfiguration"]
    except is_boto3_error_code("WAFNonexistentItemException"):
        return []
    return config.get("LogDestinationConfigs", [])


def main():
    module = AnsibleAWSModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "scope": {"type": "str", "choices": ["REGIONAL", "CLOUDFRONT"], "default": "REGIONAL"},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "description": {"type": "str", "default": ""},
            "default_action": {"type": "str", "choices": ["allow", "block"], "default": "allow"},
            "rules": {"type": "list", "elements": "dict", "default": []},
            "metric_name": {"type": "str"},
            "log_destination_arn": {"type": "str"},
            "tags": {"type": "dict", "default": {}},
        },
        supports_check_mode=True,
    )
    params = module.params
    name, scope = params["name"], params["scope"]
    client = aws_retry.client(module, "wafv2", extra_codes=["WAFUnavailableEntityException"])
    errors = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)
    actions = []

    def do(action, **kwargs):
        actions.append("%s(%s)" % (action, name))
        if module.check_mode:
            return {}
        try:
            return getattr(client, action)(aws_retry=True, **kwargs)
        except errors as exc:
            module.fail_json_aws(exc, msg="%s failed for the web ACL %s" % (action, name), actions=actions)

    try:
        current, lock = find(client, name, scope)
        current_tags = {}
        destinations = []
        if current:
            current_tags = boto3_tag_list_to_ansible_dict(
                client.list_tags_for_resource(aws_retry=True, ResourceARN=current["ARN"])
                .get("TagInfoForResource", {}).get("TagList", []))
            if params["log_destination_arn"]:
                destinations = logging_destinations(client, current["ARN"])
    except errors as exc:
        module.fail_json_aws(exc, msg="cannot read the web ACL %s" % name)

    before = dict(settings_of(current), tags=current_tags) if current else {}
    if params["state"] == "absent":
        if current:
            do("delete_web_acl", Name=name, Scope=scope, Id=current["Id"], LockToken=lock)
        result = {"changed": bool(actions), "actions": actions, "web_acl": {}}
        if module._diff:
            result["diff"] = {"before": before, "after": {}}
        module.exit_json(**result)

    wanted = wanted_settings(params)
    arn, acl_id = (current or {}).get("ARN", ""), (current or {}).get("Id", "")
    if current is None:
        created = do("create_web_acl", Name=name, Scope=scope, Tags=ansible_dict_to_boto3_tag_list(params["tags"]),
                     **wanted)
        arn, acl_id = created.get("Summary", {}).get("ARN", ""), created.get("Summary", {}).get("Id", "")
    else:
        if settings_of(current) != wanted:
            do("update_web_acl", Name=name, Scope=scope, Id=acl_id, LockToken=lock, **wanted)
        add, remove = compare_aws_tags(current_tags, params["tags"], purge_tags=True)
        if add:
            do("tag_resource", ResourceARN=arn, Tags=ansible_dict_to_boto3_tag_list(add))
        if remove:
            do("untag_resource", ResourceARN=arn, TagKeys=remove)
    destination = params["log_destination_arn"]
    if destination and destinations != [destination]:
        do("put_logging_configuration",
           LoggingConfiguration={"ResourceArn": arn or "arn:(new)", "LogDestinationConfigs": [destination]})

    after = dict(wanted, tags=params["tags"])
    result = {"changed": bool(actions), "actions": actions,
              "web_acl": {"name": name, "id": acl_id, "arn": arn, "rules": [r.get("Name") for r in wanted["Rules"]]}}
    if module._diff:
        result["diff"] = {"before": before, "after": after}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
