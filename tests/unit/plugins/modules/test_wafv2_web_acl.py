"""wafv2_web_acl: the web ACL's settings are compared as data (what made the stock module update on every run)."""

from __future__ import annotations

from ansible_collections.manufacturing.platform.plugins.modules.wafv2_web_acl import settings_of, wanted_settings

RULE = {"Name": "rate", "Priority": 1, "Action": {"Block": {}},
        "Statement": {"RateBasedStatement": {"Limit": 2000, "AggregateKeyType": "IP", "EvaluationWindowSec": 300}},
        "VisibilityConfig": {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": "rate"}}
COMMON = {"Name": "common", "Priority": 0, "OverrideAction": {"None": {}},
          "Statement": {"ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": "AWSManagedRulesCommonRuleSet"}},
          "VisibilityConfig": {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True,
                               "MetricName": "common"}}
PARAMS = {"name": "mfg-prod-api", "description": "APIs", "default_action": "allow", "rules": [RULE, COMMON],
          "metric_name": None}


def read_back(rules):
    """What GetWebACL answers: other key order, rules by priority, extra fields."""
    return {"Name": "mfg-prod-api", "Id": "1", "ARN": "arn", "Description": "APIs", "Capacity": 3,
            "LabelNamespace": "awswaf:1:webacl:mfg-prod-api:", "DefaultAction": {"Allow": {}},
            "VisibilityConfig": {"MetricName": "mfg-prod-api", "CloudWatchMetricsEnabled": True,
                                 "SampledRequestsEnabled": True},
            "Rules": [dict(reversed(list(r.items()))) for r in rules]}


def test_the_same_web_acl_read_back_is_no_change():
    assert settings_of(read_back([COMMON, RULE])) == wanted_settings(PARAMS)


def test_a_changed_limit_default_action_or_description_is_a_change():
    changed = dict(RULE, Statement={"RateBasedStatement": dict(RULE["Statement"]["RateBasedStatement"], Limit=1000)})
    assert settings_of(read_back([COMMON, changed])) != wanted_settings(PARAMS)
    assert settings_of(read_back([COMMON, RULE])) != wanted_settings(dict(PARAMS, default_action="block"))
    assert settings_of(read_back([COMMON, RULE])) != wanted_settings(dict(PARAMS, description="other"))
    assert settings_of(read_back([COMMON])) != wanted_settings(PARAMS)
