# -*- coding: utf-8 -*-
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""AWS Budgets and Cost Anomaly Detection as data (no boto3): comparisons for budget_cost and
cost_anomaly_monitor, unit-tested in tests/unit/plugins/module_utils/test_monitoring_cost.py."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation


def amount_equal(a, b):
    """Budget amounts compare as numbers: '50000' == '50000.0'."""
    try:
        return Decimal(str(a)) == Decimal(str(b))
    except (InvalidOperation, ValueError):
        return str(a) == str(b)


def notification_api(spec):
    """Module notification spec -> the Budgets Notification shape."""
    return {
        "NotificationType": spec["notification_type"],
        "ComparisonOperator": spec.get("comparison_operator") or "GREATER_THAN",
        "Threshold": float(spec["threshold"]),
        "ThresholdType": spec.get("threshold_type") or "PERCENTAGE",
    }


def notification_key(notification):
    return (
        notification["NotificationType"],
        notification.get("ComparisonOperator", "GREATER_THAN"),
        float(notification["Threshold"]),
        notification.get("ThresholdType", "PERCENTAGE"),
    )


def subscribers_api(specs):
    return sorted(
        ({"SubscriptionType": s["subscription_type"], "Address": s["address"]} for s in specs),
        key=lambda s: (s["SubscriptionType"], s["Address"]),
    )


def plan_notifications(wanted_specs, current):
    """(to_create [Notification], to_delete [Notification], kept [(wanted Notification, current Notification)])."""
    wanted = {}
    for spec in wanted_specs:
        api = notification_api(spec)
        wanted[notification_key(api)] = api
    have = {notification_key(n): n for n in current}
    to_create = [wanted[k] for k in sorted(wanted, key=str) if k not in have]
    to_delete = [have[k] for k in sorted(have, key=str) if k not in wanted]
    kept = [(wanted[k], have[k]) for k in sorted(wanted, key=str) if k in have]
    return to_create, to_delete, kept


def plan_subscribers(wanted, current):
    """(to_add, to_remove) between two lists of {SubscriptionType, Address}."""

    def key(s):
        return (s["SubscriptionType"], s["Address"])

    want = {key(s): s for s in wanted}
    have = {key(s): s for s in current}
    return ([want[k] for k in sorted(want) if k not in have], [have[k] for k in sorted(have) if k not in want])


def budget_differences(wanted, current):
    """Keys of the budget (limit, time unit, type, cost filters) that differ."""
    diff = []
    if not amount_equal(wanted["BudgetLimit"]["Amount"], current.get("BudgetLimit", {}).get("Amount")) or (
        wanted["BudgetLimit"]["Unit"] != current.get("BudgetLimit", {}).get("Unit")
    ):
        diff.append("BudgetLimit")
    for key in ("TimeUnit", "BudgetType"):
        if wanted[key] != current.get(key):
            diff.append(key)
    if _canonical(wanted.get("CostFilters") or {}) != _canonical(current.get("CostFilters") or {}):
        diff.append("CostFilters")
    return diff


def _canonical(value):
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return sorted((_canonical(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    return value


# ---------------------------------------------------------------------------------------------- anomaly detection


def monitor_api(spec):
    """Module monitor spec -> the AnomalyMonitor shape (without ARN)."""
    monitor = {"MonitorName": spec["name"], "MonitorType": spec["type"]}
    if spec["type"] == "DIMENSIONAL":
        monitor["MonitorDimension"] = spec.get("dimension") or "SERVICE"
    else:
        tags = spec.get("tags") or {}
        if not tags:
            raise ValueError("a CUSTOM anomaly monitor needs monitor tags (cost allocation tags) to select the costs")
        if len(tags) == 1:
            key, values = next(iter(tags.items()))
            monitor["MonitorSpecification"] = {
                "Tags": {"Key": key, "Values": _as_list(values), "MatchOptions": ["EQUALS"]}
            }
        else:
            monitor["MonitorSpecification"] = {
                "And": [
                    {"Tags": {"Key": k, "Values": _as_list(v), "MatchOptions": ["EQUALS"]}}
                    for k, v in sorted(tags.items())
                ]
            }
    return monitor


def _as_list(values):
    return [str(v) for v in values] if isinstance(values, list) else [str(values)]


def monitor_needs_replacement(wanted, current):
    """A monitor's type and specification cannot be updated (only its name): a difference means replace."""
    for key in ("MonitorType", "MonitorDimension"):
        if wanted.get(key) != current.get(key):
            return True
    return _canonical(wanted.get("MonitorSpecification") or {}) != _canonical(current.get("MonitorSpecification") or {})


def threshold_expression(amount):
    """Alert when an anomaly's total impact reaches ``amount`` USD."""
    return {
        "Dimensions": {
            "Key": "ANOMALY_TOTAL_IMPACT_ABSOLUTE",
            "Values": [str(amount)],
            "MatchOptions": ["GREATER_THAN_OR_EQUAL"],
        }
    }


def subscription_differences(wanted, current):
    diff = []
    if wanted["Frequency"] != current.get("Frequency"):
        diff.append("Frequency")
    if sorted(wanted["MonitorArnList"]) != sorted(current.get("MonitorArnList") or []):
        diff.append("MonitorArnList")

    def key(s):
        return (s.get("Type"), s.get("Address"))

    if sorted(key(s) for s in wanted["Subscribers"]) != sorted(key(s) for s in current.get("Subscribers") or []):
        diff.append("Subscribers")
    want_expr = wanted["ThresholdExpression"]["Dimensions"]
    have_expr = (current.get("ThresholdExpression") or {}).get("Dimensions") or {}
    if (
        want_expr["Key"] != have_expr.get("Key")
        or want_expr["MatchOptions"] != have_expr.get("MatchOptions")
        or not amount_equal(want_expr["Values"][0], (have_expr.get("Values") or [None])[0])
    ):
        diff.append("ThresholdExpression")
    return diff
