#!/usr/bin/python
# ruff: noqa: EXE001 - Ansible modules carry a shebang but are not executable files
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: apigateway_account
short_description: Set the CloudWatch Logs role of the account's API Gateway settings, never replacing another one
version_added: 1.0.0
description:
  - API Gateway writes stage access logs and execution logs with the IAM role named in the account's settings
    (C(GetAccount) / C(UpdateAccount), field C(cloudwatchRoleArn)); without it, a stage with access logging fails.
    This is one setting per account and region, shared by every API in it.
  - Reads the account's settings. When no role is configured, sets O(cloudwatch_role_arn). When the account
    already carries that role, does nothing. When it carries B(another) role, keeps it and warns (RV(status) is
    C(kept_other)) unless O(replace_existing=true), because someone else configured it and may rely on it.
  - C(UpdateAccount) fails while a role created moments ago is not yet assumable by API Gateway (IAM
    propagation); that error is retried with jittered backoff for up to about a minute.
author:
  - Manufacturing Platform Team (@manufacturing-platform)
options:
  cloudwatch_role_arn:
    description:
      - ARN of the IAM role API Gateway assumes to write to CloudWatch Logs (trusting C(apigateway.amazonaws.com),
        with the C(AmazonAPIGatewayPushToCloudWatchLogs) managed policy or equivalent).
    type: str
    required: true
  replace_existing:
    description:
      - Replace a different role already configured in the account. By default such a role is kept and reported.
    type: bool
    default: false
notes:
  - Check mode makes read calls only (C(GetAccount)) and reports what would be done; diff mode shows the
    account's C(cloudwatchRoleArn) before and after.
  - There is no C(state=absent). The setting belongs to the account, not to an environment; clear it with the
    AWS CLI if you must.
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
- name: API Gateway's CloudWatch Logs role of the account (only when none is configured)
  manufacturing.platform.apigateway_account:
    cloudwatch_role_arn: arn:aws:iam::123456789012:role/manufacturing-platform-apigateway-cloudwatch
  register: account

- name: Say so when another role is configured
  ansible.builtin.debug:
    msg: "API Gateway logs with {{ account.cloudwatch_role_arn }} (configured outside this collection)"
  when: account.status == 'kept_other'
"""

RETURN = r"""
cloudwatch_role_arn:
  description: The account's C(cloudwatchRoleArn) after the run (in check mode, what it would be).
  returned: always
  type: str
  sample: arn:aws:iam::123456789012:role/manufacturing-platform-apigateway-cloudwatch
previous_cloudwatch_role_arn:
  description: The account's C(cloudwatchRoleArn) before the run (empty when none was configured).
  returned: always
  type: str
status:
  description:
    - V(unchanged) the account already uses O(cloudwatch_role_arn); V(set) it had no role and now uses it;
      V(replaced) another role was replaced (O(replace_existing=true)); V(kept_other) another role is configured
      and was kept.
  returned: always
  type: str
  sample: set
actions:
  description: Operations run (or that would run in check mode).
  returned: always
  type: list
  elements: str
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.manufacturing.platform.plugins.module_utils import aws_retry

try:  # noqa: SIM105 - the usual optional-import pattern of AWS modules
    import botocore
except ImportError:
    pass  # caught by AnsibleAWSModule


def main():
    module = AnsibleAWSModule(
        argument_spec={
            "cloudwatch_role_arn": {"type": "str", "required": True},
            "replace_existing": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    desired = module.params["cloudwatch_role_arn"].strip()
    if not desired.startswith("arn:") or ":role/" not in desired:
        module.fail_json(msg="cloudwatch_role_arn must be an IAM role ARN, got %r" % desired)
    read_retry = aws_retry.retry_decorator()
    # BadRequestException: "The role ARN does not have required permissions set to API Gateway" while IAM has
    # not propagated a new role or its trust policy yet.
    write_retry = aws_retry.retry_decorator(extra_codes=["ConflictException", "BadRequestException"], retries=12,
                                            delay=2, max_delay=15)
    client = module.client("apigateway", config=aws_retry.botocore_config())
    errors = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)
    try:
        account = read_retry(client.get_account)()
    except errors as exc:
        module.fail_json_aws(exc, msg="cannot read the account's API Gateway settings")
    current = account.get("cloudwatchRoleArn") or ""
    actions = []
    if current == desired:
        status = "unchanged"
    elif current and not module.params["replace_existing"]:
        status = "kept_other"
        module.warn("the account's API Gateway settings already use the CloudWatch Logs role %s; it was kept "
                    "(not %s). Set replace_existing to replace it." % (current, desired))
    else:
        status = "replaced" if current else "set"
        actions.append("update_account(cloudwatchRoleArn)")
        if not module.check_mode:
            try:
                write_retry(client.update_account)(patchOperations=[
                    {"op": "replace", "path": "/cloudwatchRoleArn", "value": desired}])
            except errors as exc:
                module.fail_json_aws(exc, msg="cannot set the account's API Gateway CloudWatch Logs role to %s"
                                     % desired)
    after = desired if actions else current
    result = {"changed": bool(actions), "actions": actions, "status": status, "cloudwatch_role_arn": after,
              "previous_cloudwatch_role_arn": current}
    if module._diff:
        result["diff"] = {"before": {"cloudwatchRoleArn": current}, "after": {"cloudwatchRoleArn": after}}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
