"""cost_anomaly_monitor module, Stubber-tested: the local emulator (moto 5.2.5) has no Cost Anomaly Detection API
(GetAnomalyMonitors & co. answer 500, see docs/emulator-gaps.md), so every test here is an emulator-gap test on a
real ``boto3.client("ce")`` whose requests botocore's Stubber validates against the installed service model."""

from __future__ import annotations

import json

import boto3
import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
from botocore.stub import Stubber

from ansible_collections.manufacturing.platform.plugins.module_utils.monitoring_cost import threshold_expression
from ansible_collections.manufacturing.platform.plugins.modules import cost_anomaly_monitor

AWS = {"region": "us-east-1", "access_key": "testing", "secret_key": "testing"}
MON = "arn:aws:ce::123456789012:anomalymonitor/11111111-2222-3333-4444-555555555555"
SUB = "arn:aws:ce::123456789012:anomalysubscription/66666666-7777-8888-9999-000000000000"
TOPIC = "arn:aws:sns:us-east-1:123456789012:mfg-prod-ops"
ARGS = dict(
    AWS,
    name="mfg-prod-cost-anomalies",
    monitor_type="CUSTOM",
    monitor_tags={"Environment": "prod"},
    threshold_usd=500,
    subscribers=[{"type": "SNS", "address": TOPIC}],
    tags={"Environment": "prod"},
)
SPEC = {"Tags": {"Key": "Environment", "Values": ["prod"], "MatchOptions": ["EQUALS"]}}
MONITOR = {
    "MonitorArn": MON,
    "MonitorName": "mfg-prod-cost-anomalies",
    "MonitorType": "CUSTOM",
    "MonitorSpecification": SPEC,
}
SUBSCRIPTION = {
    "SubscriptionArn": SUB,
    "SubscriptionName": "mfg-prod-cost-anomalies",
    "MonitorArnList": [MON],
    "Subscribers": [{"Type": "SNS", "Address": TOPIC}],
    "Frequency": "IMMEDIATE",
    "ThresholdExpression": threshold_expression(500.0),
}


@pytest.fixture
def ce(monkeypatch):
    client = boto3.client("ce", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")

    def fake_client(self, service, retry_decorator=None, **kwargs):
        assert service == "ce"
        return RetryingBotoClientWrapper(client, retry_decorator)

    monkeypatch.setattr(cost_anomaly_monitor.AnsibleAWSModule, "client", fake_client)
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def run(args, capsys, check_mode=False):
    with patch_module_args(dict(args, _ansible_check_mode=check_mode)), pytest.raises(SystemExit):
        cost_anomaly_monitor.main()
    out = capsys.readouterr().out
    return json.loads(out[out.index("{") :])


def reads(ce, monitors, subscriptions):
    ce.add_response("get_anomaly_monitors", {"AnomalyMonitors": monitors}, {})
    ce.add_response("get_anomaly_subscriptions", {"AnomalySubscriptions": subscriptions}, {})


def test_emulator_gap_cost_anomaly_creates_monitor_and_subscription(ce, capsys):
    reads(ce, [], [])
    ce.add_response(
        "create_anomaly_monitor",
        {"MonitorArn": MON},
        {
            "AnomalyMonitor": {
                "MonitorName": "mfg-prod-cost-anomalies",
                "MonitorType": "CUSTOM",
                "MonitorSpecification": SPEC,
            },
            "ResourceTags": [{"Key": "Environment", "Value": "prod"}],
        },
    )
    ce.add_response(
        "create_anomaly_subscription",
        {"SubscriptionArn": SUB},
        {
            "AnomalySubscription": {k: v for k, v in SUBSCRIPTION.items() if k != "SubscriptionArn"}
            | {"ThresholdExpression": threshold_expression(500.0)},
            "ResourceTags": [{"Key": "Environment", "Value": "prod"}],
        },
    )
    result = run(ARGS, capsys)
    assert result["changed"] and result["monitor_arn"] == MON and result["subscription_arn"] == SUB


def test_emulator_gap_cost_anomaly_rerun_makes_no_mutating_request(ce, capsys):
    reads(ce, [MONITOR], [SUBSCRIPTION])
    result = run(ARGS, capsys)
    assert not result["changed"] and result["changes"] == []


def test_emulator_gap_cost_anomaly_updates_threshold_and_subscribers_in_place(ce, capsys):
    reads(ce, [MONITOR], [SUBSCRIPTION])
    ce.add_response(
        "update_anomaly_subscription",
        {"SubscriptionArn": SUB},
        {
            "SubscriptionArn": SUB,
            "Frequency": "IMMEDIATE",
            "MonitorArnList": [MON],
            "Subscribers": [{"Type": "SNS", "Address": TOPIC}],
            "ThresholdExpression": threshold_expression(900.0),
        },
    )
    result = run(dict(ARGS, threshold_usd=900), capsys)
    assert result["changed"] and result["changes"] == ["subscription: ThresholdExpression"]


def test_emulator_gap_cost_anomaly_replaces_a_monitor_whose_specification_changed(ce, capsys):
    reads(
        ce,
        [
            dict(
                MONITOR,
                MonitorSpecification={"Tags": {"Key": "Environment", "Values": ["dev"], "MatchOptions": ["EQUALS"]}},
            )
        ],
        [SUBSCRIPTION],
    )
    ce.add_response("delete_anomaly_subscription", {}, {"SubscriptionArn": SUB})
    ce.add_response("delete_anomaly_monitor", {}, {"MonitorArn": MON})
    ce.add_response("create_anomaly_monitor", {"MonitorArn": MON + "x"}, None)
    ce.add_response("create_anomaly_subscription", {"SubscriptionArn": SUB + "x"}, None)
    result = run(ARGS, capsys)
    assert result["changes"][0].startswith("monitor (replace") and result["monitor_arn"] == MON + "x"


def test_emulator_gap_cost_anomaly_check_mode_reads_only(ce, capsys):
    reads(ce, [], [])
    result = run(ARGS, capsys, check_mode=True)
    assert result["changed"] and result["changes"] == ["monitor (new)", "subscription (new)"]


def test_emulator_gap_cost_anomaly_absent_deletes_subscription_then_monitor(ce, capsys):
    reads(ce, [MONITOR], [SUBSCRIPTION])
    ce.add_response("delete_anomaly_subscription", {}, {"SubscriptionArn": SUB})
    ce.add_response("delete_anomaly_monitor", {}, {"MonitorArn": MON})
    result = run(dict(AWS, name="mfg-prod-cost-anomalies", state="absent"), capsys)
    assert result["changes"] == ["subscription (delete)", "monitor (delete)"]
    reads(ce, [], [])
    assert not run(dict(AWS, name="mfg-prod-cost-anomalies", state="absent"), capsys)["changed"]


def test_emulator_gap_cost_anomaly_sns_needs_immediate(capsys):
    result = run(dict(ARGS, frequency="DAILY"), capsys)
    assert result["failed"] and "IMMEDIATE" in result["msg"]
