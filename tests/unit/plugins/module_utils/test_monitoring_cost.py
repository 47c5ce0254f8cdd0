"""monitoring_cost: budget and anomaly-detection comparisons."""

from __future__ import annotations

import pytest

from ansible_collections.manufacturing.platform.plugins.module_utils.monitoring_cost import (
    amount_equal,
    budget_differences,
    monitor_api,
    monitor_needs_replacement,
    plan_notifications,
    plan_subscribers,
    subscription_differences,
    threshold_expression,
)


def test_amounts_compare_as_numbers():
    assert amount_equal("50000", "50000.0") and not amount_equal("50000", "5000")


def test_budget_differences():
    wanted = {
        "BudgetName": "b",
        "BudgetType": "COST",
        "TimeUnit": "MONTHLY",
        "BudgetLimit": {"Amount": "50000.0", "Unit": "USD"},
        "CostFilters": {"TagKeyValue": ["user:Environment$prod"]},
    }
    current = {
        "BudgetName": "b",
        "BudgetType": "COST",
        "TimeUnit": "MONTHLY",
        "BudgetLimit": {"Amount": "50000", "Unit": "USD"},
        "CostFilters": {"TagKeyValue": ["user:Environment$prod"]},
    }
    assert budget_differences(wanted, current) == []
    assert budget_differences(dict(wanted, BudgetLimit={"Amount": "1", "Unit": "USD"}), current) == ["BudgetLimit"]


def test_notifications_plan():
    current = [
        {
            "NotificationType": "ACTUAL",
            "ComparisonOperator": "GREATER_THAN",
            "Threshold": 80,
            "ThresholdType": "PERCENTAGE",
        },
        {
            "NotificationType": "ACTUAL",
            "ComparisonOperator": "GREATER_THAN",
            "Threshold": 50,
            "ThresholdType": "PERCENTAGE",
        },
    ]
    create, delete, kept = plan_notifications(
        [{"notification_type": "ACTUAL", "threshold": 80}, {"notification_type": "FORECASTED", "threshold": 100}],
        current,
    )
    assert [n["NotificationType"] for n in create] == ["FORECASTED"]
    assert [n["Threshold"] for n in delete] == [50]
    assert len(kept) == 1


def test_subscribers_plan():
    add, remove = plan_subscribers(
        [{"SubscriptionType": "SNS", "Address": "arn:new"}], [{"SubscriptionType": "SNS", "Address": "arn:old"}]
    )
    assert add == [{"SubscriptionType": "SNS", "Address": "arn:new"}] and remove == [
        {"SubscriptionType": "SNS", "Address": "arn:old"}
    ]


def test_custom_monitor_on_the_environment_tag():
    monitor = monitor_api({"name": "m", "type": "CUSTOM", "tags": {"Environment": "prod"}})
    assert monitor["MonitorSpecification"] == {
        "Tags": {"Key": "Environment", "Values": ["prod"], "MatchOptions": ["EQUALS"]}
    }
    assert not monitor_needs_replacement(monitor, dict(monitor, MonitorArn="arn"))
    other = monitor_api({"name": "m", "type": "CUSTOM", "tags": {"Environment": "dev"}})
    assert monitor_needs_replacement(other, monitor)
    with pytest.raises(ValueError):
        monitor_api({"name": "m", "type": "CUSTOM", "tags": {}})


def test_subscription_differences():
    wanted = {
        "MonitorArnList": ["m"],
        "Subscribers": [{"Type": "SNS", "Address": "t"}],
        "Frequency": "IMMEDIATE",
        "ThresholdExpression": threshold_expression(100.0),
    }
    current = dict(wanted, ThresholdExpression=threshold_expression("100"))
    assert subscription_differences(wanted, current) == []
    assert subscription_differences(wanted, dict(current, Frequency="DAILY", Subscribers=[])) == [
        "Frequency",
        "Subscribers",
    ]
