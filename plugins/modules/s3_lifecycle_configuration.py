#!/usr/bin/python
# ruff: noqa: EXE001 - Ansible modules carry a shebang but are not executable files
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: s3_lifecycle_configuration
short_description: Manage the whole lifecycle configuration of an S3 bucket in one call, with check mode and diff
version_added: 1.0.0
description:
  - Reads the bucket's lifecycle configuration, merges the given rules into it (by rule ID) and writes the
    whole configuration back in one C(PutBucketLifecycleConfiguration) call, only when it differs.
  - With O(purge_rules=true) the configuration becomes exactly O(rules); with O(purge_rules=false) rules of the
    bucket that O(rules) does not name are kept (read-modify-write), so several callers can each manage
    their own rules.
  - What S3 returns is normalised (filter forms, legacy top-level prefix, field order, transition order,
    defaults) before comparing, so a re-run is not reported as a change.
  - O(state=absent) removes the rules named in O(rules) (only their O(rules[].id) is needed), or the whole
    configuration when O(rules) is empty and O(purge_rules=true). A bucket that does not exist has no rules to
    remove, so nothing changes.
  - Transitions are validated like S3 does (storage class order, strictly increasing days, IA not before day
    30, 30 days in IA and 90 days in Glacier before the next transition) before any request is made.
author:
  - Manufacturing Platform Team (@manufacturing-platform)
options:
  name:
    description: Bucket name.
    type: str
    required: true
  state:
    description: Whether the rules should be present or absent.
    type: str
    choices: [present, absent]
    default: present
  purge_rules:
    description: Remove rules that are not in O(rules).
    type: bool
    default: true
  rules:
    description: Lifecycle rules.
    type: list
    elements: dict
    default: []
    suboptions:
      id:
        description: Unique rule ID.
        type: str
        required: true
      enabled:
        description: Rule status.
        type: bool
        default: true
      prefix:
        description: Key prefix the rule applies to; empty for the whole bucket.
        type: str
        default: ''
      tags:
        description: Object tags the rule is restricted to.
        type: dict
      transitions:
        description: Storage class transitions of current versions.
        type: list
        elements: dict
        suboptions:
          days:
            description: Days after creation.
            type: int
            required: true
          storage_class:
            description: Target storage class.
            type: str
            required: true
            choices: [STANDARD_IA, INTELLIGENT_TIERING, ONEZONE_IA, GLACIER_IR, GLACIER, DEEP_ARCHIVE]
      expiration_days:
        description: Expire current versions this many days after creation.
        type: int
      expired_object_delete_marker:
        description: Remove expired object delete markers (not with O(rules[].expiration_days)).
        type: bool
        default: false
      noncurrent_version_expiration_days:
        description: Delete noncurrent versions this many days after they became noncurrent.
        type: int
      newer_noncurrent_versions:
        description: Number of newest noncurrent versions to keep regardless of age.
        type: int
      noncurrent_version_transitions:
        description: Storage class transitions of noncurrent versions.
        type: list
        elements: dict
        suboptions:
          days:
            description: Days after the version became noncurrent.
            type: int
            required: true
          storage_class:
            description: Target storage class.
            type: str
            required: true
            choices: [STANDARD_IA, INTELLIGENT_TIERING, ONEZONE_IA, GLACIER_IR, GLACIER, DEEP_ARCHIVE]
      abort_incomplete_multipart_upload_days:
        description: Abort multipart uploads not completed this many days after they were started.
        type: int
notes:
  - Supports check mode and diff mode. The diff shows only the rules that differ, keyed by rule ID.
  - S3 allows up to 1000 rules per bucket.
requirements:
  - python >= 3.9
  - boto3
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Every tenant's rule on the shared bucket (the whole configuration)
  manufacturing.platform.s3_lifecycle_configuration:
    name: mfg-prod-data-123456789012
    purge_rules: true
    rules:
      - id: tenant-customer-456
        prefix: tenants/customer-456/
        transitions:
          - {days: 30, storage_class: STANDARD_IA}
          - {days: 90, storage_class: GLACIER}
          - {days: 180, storage_class: DEEP_ARCHIVE}
        noncurrent_version_expiration_days: 90
        abort_incomplete_multipart_upload_days: 7

- name: Only this tenant's rule, keep the others
  manufacturing.platform.s3_lifecycle_configuration:
    name: mfg-prod-data-123456789012
    purge_rules: false
    rules:
      - id: tenant-customer-789
        prefix: tenants/customer-789/
        transitions:
          - {days: 60, storage_class: STANDARD_IA}

- name: Remove one rule
  manufacturing.platform.s3_lifecycle_configuration:
    name: mfg-prod-data-123456789012
    state: absent
    purge_rules: false
    rules:
      - id: tenant-customer-789
"""

RETURN = r"""
rules:
  description: The whole lifecycle configuration after the task (in check mode, as it would be), normalised.
  returned: always
  type: list
  elements: dict
  sample: [{"ID": "tenant-customer-456", "Status": "Enabled", "Filter": {"Prefix": "tenants/customer-456/"},
            "Transitions": [{"Days": 30, "StorageClass": "STANDARD_IA"}]}]
changed_rules:
  description: IDs of the rules added, changed or removed.
  returned: always
  type: list
  elements: str
  sample: [tenant-customer-456]
"""

try:  # noqa: SIM105 - the import guard ansible-test expects
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.manufacturing.platform.plugins.module_utils.storage_lifecycle import (
    diff_rules,
    merge_rules,
    normalize_rules,
    remove_rules,
    rule_from_params,
    validate_transitions,
)
from ansible_collections.manufacturing.platform.plugins.module_utils import aws_retry

TRANSITION_OPTIONS = dict(
    days=dict(type="int", required=True),
    storage_class=dict(type="str", required=True,
                       choices=["STANDARD_IA", "INTELLIGENT_TIERING", "ONEZONE_IA", "GLACIER_IR", "GLACIER",
                                "DEEP_ARCHIVE"]),
)


def read_rules(client, name):
    try:
        response = client.get_bucket_lifecycle_configuration(aws_retry=True, Bucket=name)
    except is_boto3_error_code("NoSuchLifecycleConfiguration"):
        return []
    return normalize_rules(response.get("Rules", []))


def to_api(rule):
    """Canonical rule -> request shape (the canonical form is already valid API input)."""
    return dict(rule.items())


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        purge_rules=dict(type="bool", default=True),
        rules=dict(type="list", elements="dict", default=[], options=dict(
            id=dict(type="str", required=True),
            enabled=dict(type="bool", default=True),
            prefix=dict(type="str", default=""),
            tags=dict(type="dict"),
            transitions=dict(type="list", elements="dict", options=TRANSITION_OPTIONS),
            expiration_days=dict(type="int"),
            expired_object_delete_marker=dict(type="bool", default=False),
            noncurrent_version_expiration_days=dict(type="int"),
            newer_noncurrent_versions=dict(type="int"),
            noncurrent_version_transitions=dict(type="list", elements="dict", options=TRANSITION_OPTIONS),
            abort_incomplete_multipart_upload_days=dict(type="int"),
        )),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    name, state, purge = module.params["name"], module.params["state"], module.params["purge_rules"]
    params_rules = module.params["rules"]

    ids = [r["id"] for r in params_rules]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        module.fail_json(msg="duplicate rule IDs: %s" % ", ".join(duplicates))
    problems = []
    if state == "present":
        for index, rule in enumerate(params_rules):
            transitions = [{"days": t["days"], "storage_class": t["storage_class"]} for t in rule["transitions"] or []]
            problems.extend("rules[%d] (%s).%s: %s" % (index, rule["id"], f, m)
                            for f, m in validate_transitions(transitions))
            for key in ("expiration_days", "noncurrent_version_expiration_days",
                        "abort_incomplete_multipart_upload_days"):
                if rule[key] is not None and rule[key] < 1:
                    problems.append("rules[%d] (%s).%s: must be at least 1" % (index, rule["id"], key))
    if problems:
        module.fail_json(msg="invalid lifecycle rules: " + "; ".join(problems), problems=problems)

    client = aws_retry.client(module, "s3")
    try:
        try:
            current = read_rules(client, name)
        except is_boto3_error_code("NoSuchBucket"):
            if state == "present":
                raise
            module.exit_json(changed=False, rules=[], changed_rules=[])  # a deleted bucket has no rules left
        if state == "present":
            wanted = merge_rules(current, [rule_from_params(r) for r in params_rules], purge)
        elif purge and not params_rules:
            wanted = []
        else:
            wanted = remove_rules(current, ids)
        changed_ids, before, after = diff_rules(current, wanted)
        if changed_ids and not module.check_mode:
            if wanted:
                client.put_bucket_lifecycle_configuration(
                    aws_retry=True, Bucket=name, LifecycleConfiguration={"Rules": [to_api(r) for r in wanted]})
            else:
                client.delete_bucket_lifecycle(aws_retry=True, Bucket=name)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Failed to converge the lifecycle configuration of bucket %s" % name)

    result = {"changed": bool(changed_ids), "rules": wanted, "changed_rules": changed_ids}
    if module._diff:
        result["diff"] = {"before": {"rules": before}, "after": {"rules": after},
                          "before_header": "s3://%s lifecycle" % name, "after_header": "s3://%s lifecycle" % name}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
