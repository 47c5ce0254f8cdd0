#!/usr/bin/python
# ruff: noqa: EXE001 - Ansible modules carry a shebang but are not executable files
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cloudwatch_log_groups
short_description: Converge several CloudWatch Logs groups (retention, KMS key, tags) in one call
version_added: 0.1.0
description:
  - Creates, updates or deletes all the given log groups in one module call, with as few read requests as
    possible. The groups are read with C(DescribeLogGroups) by name prefix (the longest common prefix of the
    sorted names that share at least two characters; usually one paginated request for all the groups of a host),
    then the tags of every existing group that has O(log_groups[].tags) with C(ListTagsForResource).
  - Only what differs is written (C(CreateLogGroup) with key and tags, C(PutRetentionPolicy) /
    C(DeleteRetentionPolicy), C(AssociateKmsKey) / C(DisassociateKmsKey), C(TagResource) / C(UntagResource),
    C(DeleteLogGroup)); a re-run makes no mutating request.
  - Every item is validated (name, retention value, key ARN, duplicates) before the first AWS request.
  - Replaces one M(amazon.aws.cloudwatchlogs_log_group) task (two reads, one Ansible task) per group.
author:
  - Manufacturing Platform Team (@manufacturing-platform)
options:
  log_groups:
    description: The log groups.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Log group name.
        type: str
        required: true
      retention:
        description:
          - Retention in days; one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150,
            180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653). V(0) means never expire.
          - Omitted leaves the retention alone.
        type: int
      kms_key_id:
        description:
          - ARN of the KMS key that encrypts the group's data. An empty string removes the key. Omitted leaves it
            alone.
        type: str
      tags:
        description: Tags of the group. Omitted leaves the tags alone.
        type: dict
      state:
        description: Whether the group should exist. Defaults to O(state).
        type: str
        choices: [present, absent]
  retention:
    description: Default of O(log_groups[].retention).
    type: int
  kms_key_id:
    description: Default of O(log_groups[].kms_key_id).
    type: str
  tags:
    description: Default of O(log_groups[].tags).
    type: dict
  purge_tags:
    description:
      - Remove tags that are not in O(log_groups[].tags) (never the C(aws:) ones).
    type: bool
    default: true
  state:
    description: Default of O(log_groups[].state).
    type: str
    choices: [present, absent]
    default: present
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
    support: full
seealso:
  - module: amazon.aws.cloudwatchlogs_log_group
"""

EXAMPLES = r"""
- name: The log groups of a tenant's functions and API
  manufacturing.platform.cloudwatch_log_groups:
    log_groups:
      - name: /aws/lambda/mfg-prod-customer-123-alert-processor
        retention: 30
        kms_key_id: "{{ storage_kms_key_arn }}"
        tags: {Environment: prod, Tenant: customer-123}
      - name: /mfg-prod/customer-123/api/access-logs
        retention: 30
        kms_key_id: "{{ storage_kms_key_arn }}"
        tags: {Environment: prod, Tenant: customer-123}

- name: The same settings for every group (module-level defaults of the items)
  manufacturing.platform.cloudwatch_log_groups:
    retention: 30
    kms_key_id: "{{ storage_kms_key_arn }}"
    tags: {Environment: prod}
    log_groups:
      - name: /aws/lambda/mfg-prod-customer-123-alert-processor
      - name: /aws/lambda/mfg-prod-customer-123-secret-rotation

- name: Delete them
  manufacturing.platform.cloudwatch_log_groups:
    state: absent
    log_groups:
      - name: /aws/lambda/mfg-prod-customer-123-alert-processor
      - name: /mfg-prod/customer-123/api/access-logs
"""

RETURN = r"""
actions:
  description: What was (in check mode, would be) done, one line per write.
  returned: always
  type: list
  elements: str
  sample: ["create /aws/lambda/f", "set retention of /aws/lambda/f to 30 days"]
log_groups:
  description: The groups as they are after the run (in check mode, as they would be), keyed by name.
  returned: always
  type: dict
  contains:
    arn:
      description: ARN of the group (without the trailing C(:*)); computed for a group that does not exist yet.
      type: str
    exists:
      description: Whether the group exists.
      type: bool
    retention:
      description: Retention in days (V(0) never expires).
      type: int
    kms_key_id:
      description: ARN of the group's KMS key (empty when none).
      type: str
    tags:
      description: Tags of the group.
      type: dict
  sample:
    /aws/lambda/f:
      arn: arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/f
      exists: true
      retention: 30
      kms_key_id: arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab
      tags: {Environment: prod}
"""

import re

try:  # noqa: SIM105 - the import guard ansible-test expects
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.manufacturing.platform.plugins.module_utils import aws_retry

RETENTION_DAYS = (0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                  3288, 3653)
NAME_RE = re.compile(r"^[.\-_/#A-Za-z0-9]{1,512}$")
KMS_ARN_RE = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/\S+$")
# A shorter common prefix would list (almost) every group of the account.
MIN_PREFIX = 2


def common_prefix(a, b):
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def read_prefixes(names):
    """Prefixes that cover ``names``: sorted names are grouped while they share at least MIN_PREFIX characters."""
    prefixes = []
    for name in sorted(set(names)):
        if prefixes and len(common_prefix(prefixes[-1], name)) >= MIN_PREFIX:
            prefixes[-1] = common_prefix(prefixes[-1], name)
        else:
            prefixes.append(name)
    return prefixes


def validate(module):
    errors, items, seen = [], [], set()
    for item in module.params["log_groups"]:
        item = dict(item)
        for key in ("retention", "kms_key_id", "tags"):
            if item[key] is None:
                item[key] = module.params[key]
        name = item["name"]
        if not NAME_RE.match(name or ""):
            errors.append("%r is not a valid log group name" % name)
        if name in seen:
            errors.append("log group %s is listed twice" % name)
        seen.add(name)
        if item["retention"] is not None and item["retention"] not in RETENTION_DAYS:
            errors.append("log group %s: retention %s is not a value CloudWatch Logs accepts (0 = never expire, %s)"
                          % (name, item["retention"], ", ".join(str(d) for d in RETENTION_DAYS[1:])))
        if item["kms_key_id"] and not KMS_ARN_RE.match(item["kms_key_id"]):
            errors.append("log group %s: kms_key_id %r is not a KMS key ARN" % (name, item["kms_key_id"]))
        state = item["state"] or module.params["state"]
        items.append(dict(item, state=state))
    if errors:
        module.fail_json(msg="; ".join(errors))
    return items


def describe(client, names):
    wanted, found = set(names), {}
    for prefix in read_prefixes(names):
        for page in aws_retry.paginate_pages(client, "describe_log_groups", logGroupNamePrefix=prefix):
            for group in page.get("logGroups", []):
                if group["logGroupName"] in wanted:
                    found[group["logGroupName"]] = group
    return found


def group_arn(group):
    arn = group.get("logGroupArn") or group.get("arn", "")
    return arn[:-2] if arn.endswith(":*") else arn


def arn_base(module, found):
    """``arn:<partition>:logs:<region>:<account>:log-group:`` from a group read, else from STS."""
    for group in found.values():
        arn = group_arn(group)
        if ":log-group:" in arn:
            return arn.split(":log-group:", 1)[0] + ":log-group:"
    identity = aws_retry.client(module, "sts").get_caller_identity(aws_retry=True)
    partition = identity["Arn"].split(":")[1]
    return "arn:%s:logs:%s:%s:log-group:" % (partition, module.region, identity["Account"])


def plan_group(module, item, group, tags, base):
    """(actions, calls, before, after) of one group: calls are (method, kwargs) to run outside check mode."""
    name = item["name"]
    actions, calls = [], []
    if group is None:
        before = {}
    else:
        before = {"retention": int(group.get("retentionInDays") or 0), "kms_key_id": group.get("kmsKeyId", ""),
                  "tags": tags}
    if item["state"] == "absent":
        if group is not None:
            actions.append("delete %s" % name)
            calls.append(("delete_log_group", dict(logGroupName=name)))
        return actions, calls, before, {}
    wanted_tags = None if item["tags"] is None else {str(k): str(v) for k, v in item["tags"].items()}
    if group is None:
        create = dict(logGroupName=name)
        if item["kms_key_id"]:
            create["kmsKeyId"] = item["kms_key_id"]
        if wanted_tags:
            create["tags"] = wanted_tags
        actions.append("create %s" % name)
        calls.append(("create_log_group", create))
        if item["retention"]:
            actions.append("set retention of %s to %s days" % (name, item["retention"]))
            calls.append(("put_retention_policy", dict(logGroupName=name, retentionInDays=item["retention"])))
        after = {"retention": item["retention"] or 0, "kms_key_id": item["kms_key_id"] or "",
                 "tags": wanted_tags or {}}
        return actions, calls, before, after
    after = dict(before)
    if item["retention"] is not None and item["retention"] != before["retention"]:
        after["retention"] = item["retention"]
        if item["retention"]:
            actions.append("set retention of %s to %s days" % (name, item["retention"]))
            calls.append(("put_retention_policy", dict(logGroupName=name, retentionInDays=item["retention"])))
        else:
            actions.append("remove the retention of %s (never expire)" % name)
            calls.append(("delete_retention_policy", dict(logGroupName=name)))
    if item["kms_key_id"] is not None and item["kms_key_id"] != before["kms_key_id"]:
        after["kms_key_id"] = item["kms_key_id"]
        if item["kms_key_id"]:
            actions.append("associate %s with KMS key %s" % (name, item["kms_key_id"]))
            calls.append(("associate_kms_key", dict(logGroupName=name, kmsKeyId=item["kms_key_id"])))
        else:
            actions.append("disassociate %s from its KMS key" % name)
            calls.append(("disassociate_kms_key", dict(logGroupName=name)))
    if wanted_tags is not None:
        arn = group_arn(group) or base + name
        add = {k: v for k, v in sorted(wanted_tags.items()) if tags.get(k) != v}
        remove = sorted(k for k in tags if k not in wanted_tags and not k.startswith("aws:")) \
            if module.params["purge_tags"] else []
        if add:
            actions.append("tag %s with %s" % (name, ", ".join(sorted(add))))
            calls.append(("tag_resource", dict(resourceArn=arn, tags=add)))
        if remove:
            actions.append("remove tags %s from %s" % (", ".join(remove), name))
            calls.append(("untag_resource", dict(resourceArn=arn, tagKeys=remove)))
        after["tags"] = {k: v for k, v in dict(tags, **add).items() if k not in remove}
    return actions, calls, before, after


def converge(module, client):
    items = validate(module)
    found = describe(client, [i["name"] for i in items])
    base = None
    if any(i["name"] not in found for i in items):
        base = arn_base(module, found)
    result = {"changed": False, "actions": [], "log_groups": {}}
    diff = {"before": {}, "after": {}}
    plans = []
    for item in items:
        group = found.get(item["name"])
        tags = {}
        if group is not None and item["state"] == "present" and item["tags"] is not None:
            tags = client.list_tags_for_resource(aws_retry=True, resourceArn=group_arn(group)).get("tags", {})
        actions, calls, before, after = plan_group(module, item, group, tags, base)
        plans.append(calls)
        result["actions"].extend(actions)
        if actions:
            diff["before"][item["name"]] = before
            diff["after"][item["name"]] = after
        state = after if item["state"] == "present" else {}
        result["log_groups"][item["name"]] = {
            "arn": group_arn(group) if group is not None else base + item["name"],
            "exists": item["state"] == "present",
            "retention": state.get("retention", 0),
            "kms_key_id": state.get("kms_key_id", ""),
            "tags": state.get("tags", {}),
        }
    result["changed"] = bool(result["actions"])
    if not module.check_mode:
        for calls in plans:
            for method, kwargs in calls:
                getattr(client, method)(aws_retry=True, **kwargs)
    if module._diff and result["changed"]:
        result["diff"] = diff
    return result


def main():
    argument_spec = dict(
        log_groups=dict(
            type="list",
            elements="dict",
            required=True,
            options=dict(
                name=dict(type="str", required=True),
                retention=dict(type="int"),
                kms_key_id=dict(type="str"),
                tags=dict(type="dict"),
                state=dict(type="str", choices=["present", "absent"]),
            ),
        ),
        retention=dict(type="int"),
        kms_key_id=dict(type="str"),
        tags=dict(type="dict"),
        purge_tags=dict(type="bool", default=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    validate(module)
    client = aws_retry.client(module, "logs")
    try:
        result = converge(module, client)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Failed to converge the CloudWatch Logs groups")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
