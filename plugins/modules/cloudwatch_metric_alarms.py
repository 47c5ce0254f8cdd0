#!/usr/bin/python
# ruff: noqa: EXE001 - Ansible modules carry a shebang but are not executable files
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cloudwatch_metric_alarms
short_description: Many CloudWatch metric alarms (plain and metric math) in one call, written only when they differ
version_added: 1.0.0
description:
  - Converges a set of CloudWatch metric alarms with one task, for example every alarm of a tenant.
  - The current alarms are read with C(DescribeAlarms) (by name and by O(purge_prefix)); C(PutMetricAlarm) is
    sent only for alarms that are new or whose definition differs, tags are converged with C(TagResource) /
    C(UntagResource). A re-run with the same input makes no mutating request.
  - The tags of the alarms that exist are read with one Resource Groups Tagging API C(GetResources) per 100 alarms
    (C(tag:GetResources)), not one C(ListTagsForResource) per alarm. That API is eventually consistent, so an alarm
    whose tags it reports as different is read once more with C(ListTagsForResource) (authoritative) before
    anything is changed; a no-op run of 30 alarms is two requests.
  - Alarms whose name starts with O(purge_prefix) and that are not in O(alarms) are deleted (one
    C(DeleteAlarms) call per 100 alarms).
  - With O(state=absent) the alarms in O(alarms) and every alarm under O(purge_prefix) are deleted.
  - Check mode reads only and reports what would change; diff mode lists, per alarm, the keys that differ.
author:
  - Manufacturing Platform Team (@manufacturing-platform)
options:
  alarms:
    description:
      - The alarms. Each is a dict with C(name), C(comparison_operator), C(threshold), C(evaluation_periods) and either
        a plain metric (C(namespace), C(metric_name), C(dimensions) as a dict, C(statistic) or C(extended_statistic)
        such as V(p99), C(period), optional C(unit)) or metric math in C(metrics) (a list of queries with C(id),
        C(expression) or C(metric_stat) {C(metric) {C(namespace), C(metric_name), C(dimensions)}, C(period), C(stat)},
        C(label), C(return_data)).
      - Optional keys C(description), C(datapoints_to_alarm), C(treat_missing_data), C(actions_enabled),
        C(alarm_actions), C(ok_actions), C(insufficient_data_actions), C(evaluate_low_sample_count_percentile),
        C(threshold_metric_id).
    type: list
    elements: dict
    default: []
  purge_prefix:
    description:
      - Alarms whose name starts with this prefix and that are not in O(alarms) are deleted. Empty deletes nothing.
      - Choose a prefix ending in a separator no other owner's alarm names share (for example V(mfg-prod/customer-1/)).
    type: str
    default: ""
  alarm_actions:
    description: Actions (SNS topic ARNs) added to every alarm's C(alarm_actions).
    type: list
    elements: str
    default: []
  tags:
    description: Tags of every alarm (purged to exactly these).
    type: dict
    default: {}
  state:
    description: V(present) converges the alarms; V(absent) deletes them and every alarm under O(purge_prefix).
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
  - module: amazon.aws.cloudwatch_metric_alarm
"""

EXAMPLES = r"""
- name: The alarms of a tenant
  manufacturing.platform.cloudwatch_metric_alarms:
    purge_prefix: mfg-prod/customer-123/
    tags: {Environment: prod, Tenant: customer-123}
    alarms:
      - name: mfg-prod/customer-123/lambda-p99-duration
        namespace: AWS/Lambda
        metric_name: Duration
        dimensions: {FunctionName: mfg-prod-customer-123-alert-processor}
        extended_statistic: p99
        period: 60
        evaluation_periods: 5
        datapoints_to_alarm: 3
        threshold: 500
        comparison_operator: GreaterThanThreshold
        treat_missing_data: notBreaching
        alarm_actions: [arn:aws:sns:us-east-1:123456789012:mfg-prod-ops]
      - name: mfg-prod/customer-123/lambda-error-rate
        evaluation_periods: 5
        threshold: 5
        comparison_operator: GreaterThanThreshold
        metrics:
          - {id: rate, expression: "IF(invocations > 0, 100 * errors / invocations, 0)", return_data: true}
          - id: errors
            metric_stat:
              metric:
                namespace: AWS/Lambda
                metric_name: Errors
                dimensions: {FunctionName: mfg-prod-customer-123-alert-processor}
              period: 60
              stat: Sum
          - id: invocations
            metric_stat:
              metric:
                namespace: AWS/Lambda
                metric_name: Invocations
                dimensions: {FunctionName: mfg-prod-customer-123-alert-processor}
              period: 60
              stat: Sum
"""

RETURN = r"""
alarms:
  description: Names of the alarms in O(alarms).
  returned: always
  type: list
  elements: str
alarm_arns:
  description: Name -> ARN of the alarms in O(alarms) that exist (after the change; not in check mode for new ones).
  returned: always
  type: dict
created:
  description: Alarms that were (would be) created.
  returned: always
  type: list
  elements: str
updated:
  description: Alarms whose definition or tags were (would be) changed.
  returned: always
  type: list
  elements: str
deleted:
  description: Alarms that were (would be) deleted.
  returned: always
  type: list
  elements: str
"""

try:  # noqa: SIM105 - the import guard ansible-test expects
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.manufacturing.platform.plugins.module_utils.monitoring_alarms import (
    AlarmSpecError,
    plan,
    tag_changes,
)
from ansible_collections.manufacturing.platform.plugins.module_utils import aws_retry


def describe(client, names, prefix):
    """MetricAlarms of the given names and of every alarm under prefix."""
    found = {}
    paginator = aws_retry.retrying_paginator(client, "describe_alarms")
    if prefix:
        for page in paginator.paginate(AlarmNamePrefix=prefix, AlarmTypes=["MetricAlarm"]):
            for alarm in page.get("MetricAlarms", []):
                found[alarm["AlarmName"]] = alarm
    missing = sorted(n for n in names if n not in found)
    for start in range(0, len(missing), 100):
        for page in paginator.paginate(AlarmNames=missing[start : start + 100], AlarmTypes=["MetricAlarm"]):
            for alarm in page.get("MetricAlarms", []):
                found[alarm["AlarmName"]] = alarm
    return list(found.values())


def current_tags(client, arn):
    tags = client.list_tags_for_resource(aws_retry=True, ResourceARN=arn).get("Tags", [])
    return {t["Key"]: t["Value"] for t in tags}


def bulk_tags(tagging, arns):
    """ARN -> tags of the alarms, one GetResources per 100 ARNs. An alarm the API does not list has no tags (AWS
    lists tagged and formerly tagged resources only)."""
    found = {arn: {} for arn in arns}
    for start in range(0, len(arns), 100):
        paginator = aws_retry.retrying_paginator(tagging, "get_resources")
        for page in paginator.paginate(ResourceARNList=arns[start : start + 100]):
            for resource in page.get("ResourceTagMappingList", []):
                if resource["ResourceARN"] in found:
                    found[resource["ResourceARN"]] = {t["Key"]: t["Value"] for t in resource.get("Tags", [])}
    return found


def run(module, client, tagging):
    params = module.params
    names = [str(a.get("name")) for a in params["alarms"] if isinstance(a, dict)]
    described = describe(client, names, params["purge_prefix"])
    by_name = {a["AlarmName"]: a for a in described}
    result = {"changed": False, "alarms": names, "created": [], "updated": [], "deleted": [], "alarm_arns": {}}
    diff_before, diff_after = {}, {}

    if params["state"] == "absent":
        to_delete = sorted(
            n for n in by_name if n in names or (params["purge_prefix"] and n.startswith(params["purge_prefix"]))
        )
        to_put, tag_updates = [], []
    else:
        to_put, unchanged, to_delete = plan(
            params["alarms"], described, [params["purge_prefix"]], params["alarm_actions"]
        )
        tag_updates = []
        listed = bulk_tags(tagging(), sorted(by_name[n]["AlarmArn"] for n in unchanged)) if unchanged else {}
        for name in unchanged:
            arn = by_name[name]["AlarmArn"]
            add, remove = tag_changes(params["tags"], listed[arn])
            if add or remove:  # the tagging API may lag: ask the alarm itself before changing anything
                add, remove = tag_changes(params["tags"], current_tags(client, arn))
            if add or remove:
                tag_updates.append((name, add, remove))

    for api, keys in to_put:
        name = api["AlarmName"]
        (result["created"] if name not in by_name else result["updated"]).append(name)
        diff_before[name] = "absent" if name not in by_name else {"differs": keys}
        diff_after[name] = "present" if name not in by_name else {"differs": keys}
    for name, add, remove in tag_updates:
        result["updated"].append(name)
        diff_before[name] = {"tags": sorted(k["Key"] for k in add) + remove}
        diff_after[name] = {"tags": sorted(k["Key"] for k in add) + remove}
    for name in to_delete:
        result["deleted"].append(name)
        diff_before[name], diff_after[name] = "present", "absent"
    result["changed"] = bool(to_put or tag_updates or to_delete)

    if not module.check_mode:
        wanted_tags = [{"Key": str(k), "Value": str(v)} for k, v in sorted(params["tags"].items())]
        for api, _keys in to_put:
            name = api["AlarmName"]
            client.put_metric_alarm(aws_retry=True, Tags=wanted_tags, **api)
            if name in by_name:  # PutMetricAlarm ignores Tags on an existing alarm
                add, remove = tag_changes(params["tags"], current_tags(client, by_name[name]["AlarmArn"]))
                if add:
                    client.tag_resource(aws_retry=True, ResourceARN=by_name[name]["AlarmArn"], Tags=add)
                if remove:
                    client.untag_resource(aws_retry=True, ResourceARN=by_name[name]["AlarmArn"], TagKeys=remove)
        for name, add, remove in tag_updates:
            if add:
                client.tag_resource(aws_retry=True, ResourceARN=by_name[name]["AlarmArn"], Tags=add)
            if remove:
                client.untag_resource(aws_retry=True, ResourceARN=by_name[name]["AlarmArn"], TagKeys=remove)
        for start in range(0, len(to_delete), 100):
            client.delete_alarms(aws_retry=True, AlarmNames=to_delete[start : start + 100])
        if result["created"]:
            for alarm in describe(client, result["created"], ""):
                by_name[alarm["AlarmName"]] = alarm
    if params["state"] == "present":
        result["alarm_arns"] = {n: by_name[n]["AlarmArn"] for n in names if n in by_name and "AlarmArn" in by_name[n]}
    if module._diff:
        result["diff"] = {"before": diff_before, "after": diff_after}
    return result


def main():
    argument_spec = dict(
        alarms=dict(type="list", elements="dict", default=[]),
        purge_prefix=dict(type="str", default=""),
        alarm_actions=dict(type="list", elements="str", default=[]),
        tags=dict(type="dict", default={}),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    client = aws_retry.client(module, "cloudwatch")
    try:
        result = run(module, client, lambda: aws_retry.client(module, "resourcegroupstaggingapi"))
    except AlarmSpecError as e:
        module.fail_json(msg=str(e))
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Failed to converge the CloudWatch alarms")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
