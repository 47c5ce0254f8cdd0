#!/usr/bin/python
# ruff: noqa: EXE001 - Ansible modules carry a shebang but are not executable files
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cost_anomaly_monitor
short_description: A Cost Anomaly Detection monitor and its alert subscription, idempotent with check mode
version_added: 1.0.0
description:
  - Converges a Cost Explorer anomaly monitor (C(DIMENSIONAL) by service, or C(CUSTOM) on cost allocation tags)
    and one subscription that alerts its subscribers (an SNS topic, e-mail addresses) when an anomaly's total
    impact reaches O(threshold_usd).
  - Monitors and subscriptions are found by name. A subscription is updated in place; a monitor whose type or
    specification differs is replaced (Cost Explorer only lets a monitor be renamed).
  - With O(state=absent) the subscription and the monitor are deleted.
  - No stock module manages anomaly detection. The API is not in the local cloud's emulator (see
    docs/emulator-gaps.md); the module is tested with botocore's Stubber.
author:
  - Manufacturing Platform Team (@manufacturing-platform)
options:
  name:
    description: Name of the monitor; the subscription is named O(name) unless O(subscription_name) is set.
    type: str
    required: true
  subscription_name:
    description: Name of the subscription. Empty is O(name).
    type: str
    default: ""
  state:
    description: Whether monitor and subscription should exist.
    type: str
    choices: [present, absent]
    default: present
  monitor_type:
    description: V(DIMENSIONAL) watches every service of the account; V(CUSTOM) the costs carrying O(monitor_tags).
    type: str
    choices: [DIMENSIONAL, CUSTOM]
    default: CUSTOM
  monitor_dimension:
    description: Dimension of a V(DIMENSIONAL) monitor.
    type: str
    default: SERVICE
  monitor_tags:
    description: Cost allocation tags (key -> value or list of values) a V(CUSTOM) monitor selects.
    type: dict
    default: {}
  threshold_usd:
    description: Alert when an anomaly's total impact is at least this many USD.
    type: float
    default: 100
  frequency:
    description: How often alerts are sent; SNS subscribers need V(IMMEDIATE).
    type: str
    choices: [DAILY, IMMEDIATE, WEEKLY]
    default: IMMEDIATE
  subscribers:
    description: Who is told.
    type: list
    elements: dict
    default: []
    suboptions:
      type:
        description: Subscriber type.
        type: str
        choices: [SNS, EMAIL]
        required: true
      address:
        description: Topic ARN or e-mail address.
        type: str
        required: true
  tags:
    description: Tags set on the monitor and the subscription when they are created.
    type: dict
    default: {}
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
"""

EXAMPLES = r"""
- name: Cost anomalies of the environment, to the ops topic
  manufacturing.platform.cost_anomaly_monitor:
    name: mfg-prod-cost-anomalies
    monitor_type: CUSTOM
    monitor_tags: {Environment: prod}
    threshold_usd: 200
    subscribers: [{type: SNS, address: "{{ ops_topic_arn }}"}]
"""

RETURN = r"""
monitor_arn:
  description: ARN of the monitor (empty in check mode before creation, or when absent).
  returned: always
  type: str
subscription_arn:
  description: ARN of the subscription (empty in check mode before creation, or when absent).
  returned: always
  type: str
changes:
  description: What was (would be) changed.
  returned: always
  type: list
  elements: str
"""

try:  # noqa: SIM105 - the import guard ansible-test expects
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.manufacturing.platform.plugins.module_utils.monitoring_cost import (
    monitor_api,
    monitor_needs_replacement,
    subscription_differences,
    threshold_expression,
)
from ansible_collections.manufacturing.platform.plugins.module_utils import aws_retry


def _pages(call, key, **kwargs):
    items, token = [], None
    while True:
        if token:
            kwargs["NextPageToken"] = token
        page = call(aws_retry=True, **kwargs)
        items.extend(page.get(key, []))
        token = page.get("NextPageToken")
        if not token:
            return items


def find_monitor(client, name):
    return next(
        (m for m in _pages(client.get_anomaly_monitors, "AnomalyMonitors") if m.get("MonitorName") == name), None
    )


def find_subscription(client, name):
    return next(
        (
            s
            for s in _pages(client.get_anomaly_subscriptions, "AnomalySubscriptions")
            if s.get("SubscriptionName") == name
        ),
        None,
    )


def run(module, client):
    params = module.params
    sub_name = params["subscription_name"] or params["name"]
    changes = []
    result = {"monitor_arn": "", "subscription_arn": ""}
    tags = [{"Key": str(k), "Value": str(v)} for k, v in sorted(params["tags"].items())]
    monitor = find_monitor(client, params["name"])
    subscription = find_subscription(client, sub_name)

    if params["state"] == "absent":
        if subscription:
            changes.append("subscription (delete)")
            if not module.check_mode:
                client.delete_anomaly_subscription(aws_retry=True, SubscriptionArn=subscription["SubscriptionArn"])
        if monitor:
            changes.append("monitor (delete)")
            if not module.check_mode:
                client.delete_anomaly_monitor(aws_retry=True, MonitorArn=monitor["MonitorArn"])
        return changes, result

    wanted_monitor = monitor_api(
        {
            "name": params["name"],
            "type": params["monitor_type"],
            "dimension": params["monitor_dimension"],
            "tags": params["monitor_tags"],
        }
    )
    if monitor is not None and monitor_needs_replacement(wanted_monitor, monitor):
        changes.append("monitor (replace: type or specification differs)")
        if subscription is not None and not module.check_mode:
            client.delete_anomaly_subscription(aws_retry=True, SubscriptionArn=subscription["SubscriptionArn"])
            subscription = None
        if not module.check_mode:
            client.delete_anomaly_monitor(aws_retry=True, MonitorArn=monitor["MonitorArn"])
        monitor = None
    elif monitor is None:
        changes.append("monitor (new)")
    if monitor is None:
        if module.check_mode:
            return changes + ([] if subscription else ["subscription (new)"]), result
        arn = client.create_anomaly_monitor(aws_retry=True, AnomalyMonitor=wanted_monitor, ResourceTags=tags)[
            "MonitorArn"
        ]
        monitor = dict(wanted_monitor, MonitorArn=arn)
    result["monitor_arn"] = monitor["MonitorArn"]

    wanted_sub = {
        "SubscriptionName": sub_name,
        "MonitorArnList": [monitor["MonitorArn"]],
        "Subscribers": [{"Type": s["type"], "Address": s["address"]} for s in params["subscribers"]],
        "Frequency": params["frequency"],
        "ThresholdExpression": threshold_expression(params["threshold_usd"]),
    }
    if subscription is None:
        changes.append("subscription (new)")
        if not module.check_mode:
            result["subscription_arn"] = client.create_anomaly_subscription(
                aws_retry=True, AnomalySubscription=wanted_sub, ResourceTags=tags
            )["SubscriptionArn"]
        return changes, result
    result["subscription_arn"] = subscription["SubscriptionArn"]
    diff = subscription_differences(wanted_sub, subscription)
    if diff:
        changes.append("subscription: %s" % ", ".join(diff))
        if not module.check_mode:
            client.update_anomaly_subscription(
                aws_retry=True,
                SubscriptionArn=subscription["SubscriptionArn"],
                Frequency=wanted_sub["Frequency"],
                MonitorArnList=wanted_sub["MonitorArnList"],
                Subscribers=wanted_sub["Subscribers"],
                ThresholdExpression=wanted_sub["ThresholdExpression"],
            )
    return changes, result


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        subscription_name=dict(type="str", default=""),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        monitor_type=dict(type="str", choices=["DIMENSIONAL", "CUSTOM"], default="CUSTOM"),
        monitor_dimension=dict(type="str", default="SERVICE"),
        monitor_tags=dict(type="dict", default={}),
        threshold_usd=dict(type="float", default=100),
        frequency=dict(type="str", choices=["DAILY", "IMMEDIATE", "WEEKLY"], default="IMMEDIATE"),
        subscribers=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(
                type=dict(type="str", choices=["SNS", "EMAIL"], required=True),
                address=dict(type="str", required=True),
            ),
        ),
        tags=dict(type="dict", default={}),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    if (
        module.params["state"] == "present"
        and module.params["frequency"] != "IMMEDIATE"
        and any(s["type"] == "SNS" for s in module.params["subscribers"])
    ):
        module.fail_json(msg="SNS subscribers of an anomaly subscription need frequency IMMEDIATE")
    # Cost Explorer answers LimitExceededException for "too many calls in a short period" (a throttle there).
    client = aws_retry.client(module, "ce", extra_codes=["LimitExceededException"])
    try:
        changes, result = run(module, client)
    except ValueError as e:
        module.fail_json(msg=str(e))
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Failed to converge cost anomaly monitor %s" % module.params["name"])
    result.update(changed=bool(changes), changes=changes)
    if module._diff and changes:
        result["diff"] = {"before": "", "after": "\n".join(changes) + "\n"}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
