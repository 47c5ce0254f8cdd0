"""budget_cost module. Budgets itself works on the local emulator (tests/integration/test_monitoring.py); the calls
moto 5.2.5 lacks — UpdateBudget and DescribeSubscribersForNotification / CreateSubscriber / DeleteSubscriber (500,
see docs/emulator-gaps.md) — are covered here with botocore's Stubber on a real ``boto3.client("budgets")``."""

from __future__ import annotations

import json

import boto3
import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
from botocore.stub import Stubber

from ansible_collections.manufacturing.platform.plugins.modules import budget_cost

AWS = {"region": "us-east-1", "access_key": "testing", "secret_key": "testing"}
ACCOUNT = "123456789012"
TOPIC = "arn:aws:sns:us-east-1:123456789012:mfg-prod-ops"
OTHER = "arn:aws:sns:us-east-1:123456789012:old-ops"
NOTE = {
    "NotificationType": "ACTUAL",
    "ComparisonOperator": "GREATER_THAN",
    "Threshold": 80.0,
    "ThresholdType": "PERCENTAGE",
}
ARGS = dict(
    AWS,
    name="mfg-prod-monthly",
    account_id=ACCOUNT,
    amount=50000,
    cost_filters={"TagKeyValue": ["user:Environment$prod"]},
    notifications=[
        {
            "notification_type": "ACTUAL",
            "threshold": 80,
            "subscribers": [{"subscription_type": "SNS", "address": TOPIC}],
        }
    ],
)
BUDGET = {
    "BudgetName": "mfg-prod-monthly",
    "BudgetLimit": {"Amount": "50000.0", "Unit": "USD"},
    "TimeUnit": "MONTHLY",
    "BudgetType": "COST",
    "CostFilters": {"TagKeyValue": ["user:Environment$prod"]},
}


@pytest.fixture
def budgets(monkeypatch):
    client = boto3.client(
        "budgets", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )

    def fake_client(self, service, retry_decorator=None, **kwargs):
        assert service == "budgets"
        return RetryingBotoClientWrapper(client, retry_decorator)

    monkeypatch.setattr(budget_cost.AnsibleAWSModule, "client", fake_client)
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def run(args, capsys, check_mode=False):
    with patch_module_args(dict(args, _ansible_check_mode=check_mode)), pytest.raises(SystemExit):
        budget_cost.main()
    out = capsys.readouterr().out
    return json.loads(out[out.index("{") :])


def existing(budgets, budget=None, subscribers=None):
    budgets.add_response(
        "describe_budget", {"Budget": budget or BUDGET}, {"AccountId": ACCOUNT, "BudgetName": "mfg-prod-monthly"}
    )
    budgets.add_response(
        "describe_notifications_for_budget",
        {"Notifications": [NOTE]},
        {"AccountId": ACCOUNT, "BudgetName": "mfg-prod-monthly"},
    )
    budgets.add_response(
        "describe_subscribers_for_notification",
        {"Subscribers": subscribers or [{"SubscriptionType": "SNS", "Address": TOPIC}]},
        {"AccountId": ACCOUNT, "BudgetName": "mfg-prod-monthly", "Notification": NOTE},
    )


def test_emulator_gap_budget_verified_subscribers_rerun_is_a_no_op(budgets, capsys):
    existing(budgets)
    result = run(ARGS, capsys)
    assert not result["changed"], result


def test_emulator_gap_budget_update_budget_when_the_amount_changes(budgets, capsys):
    budgets.add_response(
        "describe_budget",
        {"Budget": dict(BUDGET, BudgetLimit={"Amount": "1000", "Unit": "USD"})},
        {"AccountId": ACCOUNT, "BudgetName": "mfg-prod-monthly"},
    )
    budgets.add_response(
        "update_budget",
        {},
        {
            "AccountId": ACCOUNT,
            "NewBudget": {
                "BudgetName": "mfg-prod-monthly",
                "BudgetType": "COST",
                "TimeUnit": "MONTHLY",
                "BudgetLimit": {"Amount": "50000.0", "Unit": "USD"},
                "CostFilters": {"TagKeyValue": ["user:Environment$prod"]},
            },
        },
    )
    budgets.add_response(
        "describe_notifications_for_budget",
        {"Notifications": [NOTE]},
        {"AccountId": ACCOUNT, "BudgetName": "mfg-prod-monthly"},
    )
    result = run(dict(ARGS, verify_subscribers=False), capsys)
    assert result["changes"] == ["budget: BudgetLimit"]


def test_emulator_gap_budget_subscribers_are_converged(budgets, capsys):
    existing(budgets, subscribers=[{"SubscriptionType": "SNS", "Address": OTHER}])
    budgets.add_response(
        "create_subscriber",
        {},
        {
            "AccountId": ACCOUNT,
            "BudgetName": "mfg-prod-monthly",
            "Notification": NOTE,
            "Subscriber": {"SubscriptionType": "SNS", "Address": TOPIC},
        },
    )
    budgets.add_response(
        "delete_subscriber",
        {},
        {
            "AccountId": ACCOUNT,
            "BudgetName": "mfg-prod-monthly",
            "Notification": NOTE,
            "Subscriber": {"SubscriptionType": "SNS", "Address": OTHER},
        },
    )
    result = run(ARGS, capsys)
    assert result["changed"] and len(result["changes"]) == 2


def test_emulator_gap_budget_check_mode_only_reads(budgets, capsys):
    existing(budgets, subscribers=[{"SubscriptionType": "SNS", "Address": OTHER}])
    result = run(ARGS, capsys, check_mode=True)
    assert result["changed"] and len(result["changes"]) == 2
