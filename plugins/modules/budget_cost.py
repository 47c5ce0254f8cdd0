#!/usr/bin/python
# ruff: noqa: EXE001 - Ansible modules carry a shebang but are not executable files
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: budget_cost
short_description: An AWS cost budget with its notifications and subscribers, idempotent with check mode
version_added: 1.0.0
description:
  - Creates or updates an AWS Budgets cost budget (limit, time unit, cost filters) and converges its
    notifications (actual / forecasted spend over a percentage or an absolute value) and their subscribers
    (SNS topics, e-mail addresses).
  - Everything is read first and written only when it differs; a re-run makes no mutating request.
  - With O(state=absent) the budget (and its notifications) is deleted.
author:
  - Manufacturing Platform Team (@manufacturing-platform)
options:
  name:
    description: Budget name (unique in the account).
    type: str
    required: true
  state:
    description: Whether the budget should exist.
    type: str
    choices: [present, absent]
    default: present
  account_id:
    description: Account that owns the budget. Empty is the caller's account (STS C(GetCallerIdentity)).
    type: str
    default: ""
  amount:
    description: Budget limit per O(time_unit). Required with O(state=present).
    type: float
  currency:
    description: Currency of O(amount).
    type: str
    default: USD
  time_unit:
    description: Period of the budget.
    type: str
    choices: [DAILY, MONTHLY, QUARTERLY, ANNUALLY]
    default: MONTHLY
  cost_filters:
    description:
      - "Cost filters, for example C(TagKeyValue=[user:Environment$prod]), a cost allocation tag that must be
        activated in the billing console. Empty counts every cost of the account."
    type: dict
    default: {}
  notifications:
    description: The notifications; others on the budget are deleted.
    type: list
    elements: dict
    default: []
    suboptions:
      notification_type:
        description: Actual or forecasted spend.
        type: str
        choices: [ACTUAL, FORECASTED]
        required: true
      comparison_operator:
        description: Comparison with the threshold.
        type: str
        choices: [GREATER_THAN, LESS_THAN, EQUAL_TO]
        default: GREATER_THAN
      threshold:
        description:
          - Percent of the limit, or an amount with O(notifications[].threshold_type=ABSOLUTE_VALUE).
        type: float
        required: true
      threshold_type:
        description: How O(notifications[].threshold) is read.
        type: str
        choices: [PERCENTAGE, ABSOLUTE_VALUE]
        default: PERCENTAGE
      subscribers:
        description: Who is told (1-11 subscribers; at most one SNS topic).
        type: list
        elements: dict
        required: true
        suboptions:
          subscription_type:
            description: V(SNS) (topic ARN) or V(EMAIL).
            type: str
            choices: [SNS, EMAIL]
            required: true
          address:
            description: Topic ARN or e-mail address.
            type: str
            required: true
  verify_subscribers:
    description:
      - Read the subscribers of existing notifications (C(DescribeSubscribersForNotification)) and converge them.
      - V(false) trusts that an existing notification has the subscribers it was created with (for an emulator
        without that API; see docs/emulator-gaps.md).
    type: bool
    default: true
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
- name: The environment's monthly budget, alerts to the ops topic
  manufacturing.platform.budget_cost:
    name: mfg-prod-monthly
    amount: 50000
    cost_filters: {TagKeyValue: ["user:Environment$prod"]}
    notifications:
      - notification_type: ACTUAL
        threshold: 80
        subscribers: [{subscription_type: SNS, address: "{{ ops_topic_arn }}"}]
      - notification_type: FORECASTED
        threshold: 100
        subscribers: [{subscription_type: SNS, address: "{{ ops_topic_arn }}"}]
"""

RETURN = r"""
name:
  description: Budget name.
  returned: always
  type: str
account_id:
  description: Account of the budget.
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

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.manufacturing.platform.plugins.module_utils.monitoring_cost import (
    budget_differences,
    notification_api,
    notification_key,
    plan_notifications,
    plan_subscribers,
    subscribers_api,
)
from ansible_collections.manufacturing.platform.plugins.module_utils import aws_retry


def read_budget(client, account, name):
    try:
        return client.describe_budget(aws_retry=True, AccountId=account, BudgetName=name)["Budget"]
    except is_boto3_error_code("NotFoundException"):
        return None


def read_notifications(client, account, name):
    notes, token = [], None
    while True:
        kwargs = {"AccountId": account, "BudgetName": name}
        if token:
            kwargs["NextToken"] = token
        page = client.describe_notifications_for_budget(aws_retry=True, **kwargs)
        notes.extend(page.get("Notifications", []))
        token = page.get("NextToken")
        if not token:
            return notes


def read_subscribers(client, account, name, notification):
    subs, token = [], None
    while True:
        kwargs = {"AccountId": account, "BudgetName": name, "Notification": notification}
        if token:
            kwargs["NextToken"] = token
        page = client.describe_subscribers_for_notification(aws_retry=True, **kwargs)
        subs.extend(page.get("Subscribers", []))
        token = page.get("NextToken")
        if not token:
            return subs


def ensure_present(module, client, account):
    params = module.params
    name = params["name"]
    changes = []
    wanted = {
        "BudgetName": name,
        "BudgetType": "COST",
        "TimeUnit": params["time_unit"],
        "BudgetLimit": {"Amount": str(params["amount"]), "Unit": params["currency"]},
    }
    if params["cost_filters"]:
        wanted["CostFilters"] = {
            k: [str(v) for v in (vals if isinstance(vals, list) else [vals])]
            for k, vals in params["cost_filters"].items()
        }
    subscribers = {
        notification_key(notification_api(n)): subscribers_api(n["subscribers"]) for n in params["notifications"]
    }
    current = read_budget(client, account, name)
    if current is None:
        changes.append("budget (new)")
        changes.extend("notification %s %s %s (new)" % (k[0], k[1], k[2]) for k in sorted(subscribers, key=str))
        if not module.check_mode:
            client.create_budget(
                aws_retry=True,
                AccountId=account,
                Budget=wanted,
                NotificationsWithSubscribers=[
                    {"Notification": notification_api(n), "Subscribers": subscribers_api(n["subscribers"])}
                    for n in params["notifications"]
                ],
            )
        return changes
    diff = budget_differences(wanted, current)
    if diff:
        changes.append("budget: %s" % ", ".join(diff))
        if not module.check_mode:
            client.update_budget(aws_retry=True, AccountId=account, NewBudget=wanted)
    to_create, to_delete, kept = plan_notifications(params["notifications"], read_notifications(client, account, name))
    for note in to_delete:
        changes.append("notification %s %s %s (delete)" % notification_key(note)[:3])
        if not module.check_mode:
            client.delete_notification(aws_retry=True, AccountId=account, BudgetName=name, Notification=note)
    for note in to_create:
        changes.append("notification %s %s %s (new)" % notification_key(note)[:3])
        if not module.check_mode:
            client.create_notification(
                aws_retry=True,
                AccountId=account,
                BudgetName=name,
                Notification=note,
                Subscribers=subscribers[notification_key(note)],
            )
    if params["verify_subscribers"]:
        for want_note, have_note in kept:
            have = read_subscribers(client, account, name, have_note)
            add, remove = plan_subscribers(subscribers[notification_key(want_note)], have)
            for sub in add:
                changes.append("subscriber %s of %s %s (new)" % ((sub["Address"],) + notification_key(have_note)[:2]))
                if not module.check_mode:
                    client.create_subscriber(
                        aws_retry=True, AccountId=account, BudgetName=name, Notification=have_note, Subscriber=sub
                    )
            for sub in remove:
                changes.append(
                    "subscriber %s of %s %s (delete)" % ((sub["Address"],) + notification_key(have_note)[:2])
                )
                if not module.check_mode:
                    client.delete_subscriber(
                        aws_retry=True, AccountId=account, BudgetName=name, Notification=have_note, Subscriber=sub
                    )
    return changes


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        account_id=dict(type="str", default=""),
        amount=dict(type="float"),
        currency=dict(type="str", default="USD"),
        time_unit=dict(type="str", choices=["DAILY", "MONTHLY", "QUARTERLY", "ANNUALLY"], default="MONTHLY"),
        cost_filters=dict(type="dict", default={}),
        notifications=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(
                notification_type=dict(type="str", choices=["ACTUAL", "FORECASTED"], required=True),
                comparison_operator=dict(
                    type="str", choices=["GREATER_THAN", "LESS_THAN", "EQUAL_TO"], default="GREATER_THAN"
                ),
                threshold=dict(type="float", required=True),
                threshold_type=dict(type="str", choices=["PERCENTAGE", "ABSOLUTE_VALUE"], default="PERCENTAGE"),
                subscribers=dict(
                    type="list",
                    elements="dict",
                    required=True,
                    options=dict(
                        subscription_type=dict(type="str", choices=["SNS", "EMAIL"], required=True),
                        address=dict(type="str", required=True),
                    ),
                ),
            ),
        ),
        verify_subscribers=dict(type="bool", default=True),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec, supports_check_mode=True, required_if=[("state", "present", ["amount"])]
    )
    # Budgets is a global service served from us-east-1.
    client = aws_retry.client(module, "budgets")
    name = module.params["name"]
    try:
        account = module.params["account_id"]
        if not account:
            account = aws_retry.client(module, "sts").get_caller_identity(aws_retry=True)["Account"]
        if module.params["state"] == "present":
            changes = ensure_present(module, client, account)
        else:
            changes = []
            if read_budget(client, account, name) is not None:
                changes.append("budget (delete)")
                if not module.check_mode:
                    client.delete_budget(aws_retry=True, AccountId=account, BudgetName=name)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Failed to converge budget %s" % name)
    result = {"changed": bool(changes), "name": name, "account_id": account, "changes": changes}
    if module._diff and changes:
        result["diff"] = {"before": "", "after": "\n".join(changes) + "\n"}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
