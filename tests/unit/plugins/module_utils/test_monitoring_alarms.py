"""monitoring_alarms: module alarm specs -> PutMetricAlarm arguments, and the comparison with DescribeAlarms."""

from __future__ import annotations

import pytest

from ansible_collections.manufacturing.platform.plugins.module_utils.monitoring_alarms import (
    AlarmSpecError,
    from_described,
    plan,
    tag_changes,
    to_api,
)

TOPIC = "arn:aws:sns:us-east-1:123456789012:mfg-local-ops"
P99 = {
    "name": "mfg-local/customer-1/lambda-p99-duration",
    "namespace": "AWS/Lambda",
    "metric_name": "Duration",
    "dimensions": {"FunctionName": "fn"},
    "extended_statistic": "p99",
    "period": 60,
    "evaluation_periods": 5,
    "datapoints_to_alarm": 3,
    "threshold": 500,
    "comparison_operator": "GreaterThanThreshold",
    "treat_missing_data": "notBreaching",
    "alarm_actions": [TOPIC],
}
RATE = {
    "name": "mfg-local/customer-1/lambda-error-rate",
    "evaluation_periods": 5,
    "threshold": 5,
    "comparison_operator": "GreaterThanThreshold",
    "alarm_actions": [TOPIC],
    "metrics": [
        {"id": "rate", "expression": "IF(invocations > 0, 100 * errors / invocations, 0)", "return_data": True},
        {
            "id": "errors",
            "metric_stat": {
                "metric": {"namespace": "AWS/Lambda", "metric_name": "Errors", "dimensions": {"FunctionName": "fn"}},
                "period": 60,
                "stat": "Sum",
            },
        },
        {
            "id": "invocations",
            "metric_stat": {
                "metric": {
                    "namespace": "AWS/Lambda",
                    "metric_name": "Invocations",
                    "dimensions": {"FunctionName": "fn"},
                },
                "period": 60,
                "stat": "Sum",
            },
        },
    ],
}


def described(api):
    """What DescribeAlarms returns for an alarm created with these arguments (shape as moto/AWS answer)."""
    out = dict(
        api,
        AlarmArn="arn:aws:cloudwatch:us-east-1:123456789012:alarm:" + api["AlarmName"],
        StateValue="OK",
        Threshold=float(api["Threshold"]),
    )
    out.setdefault("Dimensions", [])
    out.setdefault("Metrics", [])
    return out


def test_plain_metric_alarm_to_api():
    api = to_api(P99)
    assert api["ExtendedStatistic"] == "p99" and "Statistic" not in api
    assert api["Dimensions"] == [{"Name": "FunctionName", "Value": "fn"}]
    assert api["Threshold"] == 500.0 and api["AlarmActions"] == [TOPIC] and api["OKActions"] == []


def test_metric_math_alarm_to_api():
    api = to_api(RATE)
    assert [q["Id"] for q in api["Metrics"]] == ["rate", "errors", "invocations"]
    assert api["Metrics"][1]["MetricStat"]["Metric"]["Dimensions"] == [{"Name": "FunctionName", "Value": "fn"}]
    assert "Namespace" not in api and "Dimensions" not in api


def test_unchanged_alarms_are_not_written_and_changes_are_named():
    current = [described(to_api(P99)), described(to_api(RATE))]
    to_put, unchanged, to_delete = plan([P99, RATE], current, ["mfg-local/customer-1/"])
    assert to_put == [] and to_delete == [] and len(unchanged) == 2
    changed = dict(P99, threshold=600)
    to_put = plan([changed, RATE], current, ["mfg-local/customer-1/"])[0]
    assert [(a["AlarmName"], keys) for a, keys in to_put] == [(P99["name"], ["Threshold"])]


def test_alarms_under_the_prefix_that_are_no_longer_wanted_are_deleted_and_others_kept():
    other = dict(P99, name="mfg-local/customer-12/lambda-p99-duration")
    stale = dict(P99, name="mfg-local/customer-1/old-alarm")
    current = [described(to_api(P99)), described(to_api(other)), described(to_api(stale))]
    to_delete = plan([P99], current, ["mfg-local/customer-1/"])[2]
    assert to_delete == ["mfg-local/customer-1/old-alarm"]


def test_described_defaults_compare_equal():
    minimal = {
        "name": "x",
        "namespace": "N",
        "metric_name": "M",
        "statistic": "Sum",
        "threshold": 1,
        "comparison_operator": "GreaterThanThreshold",
    }
    alarm = {
        "AlarmName": "x",
        "Namespace": "N",
        "MetricName": "M",
        "Statistic": "Sum",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanThreshold",
        "ActionsEnabled": True,
        "AlarmActions": [],
        "OKActions": [],
        "InsufficientDataActions": [],
        "Dimensions": [],
        "Metrics": [],
    }
    assert to_api(minimal) == from_described(alarm)


@pytest.mark.parametrize(
    "bad, message",
    [
        (
            {
                "name": "x",
                "namespace": "N",
                "metric_name": "M",
                "threshold": 1,
                "comparison_operator": "GreaterThanThreshold",
            },
            "exactly one of statistic",
        ),
        (dict(P99, comparison_operator="Above"), "comparison_operator"),
        (dict(P99, threshold="lots"), "not a number"),
        (dict(P99, datapoints_to_alarm=9), "datapoints_to_alarm"),
        (dict(P99, colour="red"), "unknown keys colour"),
        (dict(RATE, metrics=[dict(RATE["metrics"][0], return_data=False)] + RATE["metrics"][1:]), "return_data"),
        (dict(RATE, namespace="AWS/Lambda"), "cannot be combined"),
    ],
)
def test_bad_specs_are_refused_with_the_alarm_named(bad, message):
    with pytest.raises(AlarmSpecError, match=message):
        to_api(bad)


def test_duplicate_alarm_names_are_refused():
    with pytest.raises(AlarmSpecError, match="twice"):
        plan([P99, P99], [], [])


def test_tag_changes():
    add, remove = tag_changes({"A": "1", "B": 2}, {"A": "1", "B": "1", "C": "x", "aws:cloudformation": "y"})
    assert add == [{"Key": "B", "Value": "2"}] and remove == ["C"]
