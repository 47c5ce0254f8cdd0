#!/usr/bin/python
# ruff: noqa: EXE001 - Ansible modules carry a shebang but are not executable files
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cloudwatch_log_groups_info
short_description: The CloudWatch Logs groups under several name prefixes, with their retention and KMS key, in one call
version_added: 0.1.0
description:
  - Lists the log groups whose names start with any of O(prefixes), with one paginated C(DescribeLogGroups) per
    prefix (a prefix that starts with another listed prefix is not read twice), and returns their name, ARN,
    retention and KMS key.
  - Tags are not read (M(amazon.aws.cloudwatchlogs_log_group_info) sends one C(ListTagsLogGroup) per group found,
    and runs once per prefix); use it where tags are needed.
  - Read-only; runs the same in check mode.
author:
  - Manufacturing Platform Team (@manufacturing-platform)
options:
  prefixes:
    description: Log group name prefixes. An empty list reads nothing.
    type: list
    elements: str
    required: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
seealso:
  - module: manufacturing.platform.cloudwatch_log_groups
  - module: amazon.aws.cloudwatchlogs_log_group_info
"""

EXAMPLES = r"""
- name: The log groups of a tenant
  manufacturing.platform.cloudwatch_log_groups_info:
    prefixes:
      - /aws/lambda/mfg-prod-customer-123-alert-processor
      - /mfg-prod/customer-123/
  register: tenant_log_groups

- name: Groups without retention
  ansible.builtin.debug:
    msg: "{{ tenant_log_groups.log_groups | rejectattr('retention_in_days', 'defined')
             | map(attribute='log_group_name') }}"
"""

RETURN = r"""
log_groups:
  description:
    - The groups found, sorted by name. C(retention_in_days) and C(kms_key_id) are left out when the group has none
      (as M(amazon.aws.cloudwatchlogs_log_group_info) returns them).
  returned: always
  type: list
  elements: dict
  contains:
    log_group_name:
      description: Name of the group.
      type: str
    arn:
      description: ARN of the group (without the trailing C(:*)).
      type: str
    retention_in_days:
      description: Retention in days.
      type: int
    kms_key_id:
      description: ARN of the group's KMS key.
      type: str
    stored_bytes:
      description: Bytes stored in the group.
      type: int
  sample:
    - log_group_name: /aws/lambda/mfg-prod-customer-123-alert-processor
      arn: arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/mfg-prod-customer-123-alert-processor
      retention_in_days: 30
      kms_key_id: arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab
      stored_bytes: 0
prefixes_read:
  description: The prefixes that were read (one C(DescribeLogGroups) pagination each).
  returned: always
  type: list
  elements: str
  sample: ["/aws/lambda/mfg-prod-customer-123-alert-processor", "/mfg-prod/customer-123/"]
"""

try:  # noqa: SIM105 - the import guard ansible-test expects
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.manufacturing.platform.plugins.module_utils import aws_retry


def minimal_prefixes(prefixes):
    """The prefixes without those that start with another one (already covered by its read)."""
    kept = []
    for prefix in sorted(set(prefixes)):
        if not any(prefix.startswith(k) for k in kept):
            kept.append(prefix)
    return kept


def group_info(group):
    arn = group.get("logGroupArn") or group.get("arn", "")
    info = {"log_group_name": group["logGroupName"], "arn": arn[:-2] if arn.endswith(":*") else arn,
            "stored_bytes": group.get("storedBytes", 0)}
    if group.get("retentionInDays") is not None:
        info["retention_in_days"] = group["retentionInDays"]
    if group.get("kmsKeyId"):
        info["kms_key_id"] = group["kmsKeyId"]
    return info


def main():
    module = AnsibleAWSModule(argument_spec=dict(prefixes=dict(type="list", elements="str", required=True)),
                              supports_check_mode=True)
    empty = [p for p in module.params["prefixes"] if not p]
    if empty:
        module.fail_json(msg="prefixes: an empty prefix would list every log group of the account")
    prefixes = minimal_prefixes(module.params["prefixes"])
    found = {}
    if prefixes:
        client = aws_retry.client(module, "logs")
        try:
            for prefix in prefixes:
                for page in aws_retry.paginate_pages(client, "describe_log_groups", logGroupNamePrefix=prefix):
                    for group in page.get("logGroups", []):
                        found[group["logGroupName"]] = group_info(group)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg="Failed to list the log groups under %s" % ", ".join(prefixes))
    module.exit_json(changed=False, log_groups=[found[n] for n in sorted(found)], prefixes_read=prefixes)


if __name__ == "__main__":
    main()
