"""rds_event_subscription module: planning (pure) and the update paths. moto 5.2.5 implements Create/Describe/Delete
EventSubscription and tags, but not ``ModifyEventSubscription``, ``AddSourceIdentifierToSubscription`` or
``RemoveSourceIdentifierFromSubscription`` (see docs/emulator-gaps.md): those paths are tested here with botocore's
Stubber on a real ``boto3.client("rds")`` (request and response shapes validated against the installed service
model). Create, the no-op re-run, check mode and delete run against the emulator in
tests/integration/test_monitoring.py."""

from __future__ import annotations

import json

import boto3
import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
from botocore.stub import Stubber

from ansible_collections.manufacturing.platform.plugins.modules import rds_event_subscription as mod

AWS = {"region": "us-east-1", "access_key": "testing", "secret_key": "testing"}
NAME = "mfg-prod-shared-rds-events"
ARN = "arn:aws:rds:us-east-1:123456789012:es:" + NAME
TOPIC = "arn:aws:sns:us-east-1:123456789012:mfg-prod-ops"
OTHER_TOPIC = "arn:aws:sns:us-east-1:123456789012:mfg-prod-other"
CATEGORIES = ("failover", "low storage", "maintenance")


def described(topic=TOPIC, sources=("mfg-prod-shared-postgres",), categories=CATEGORIES, enabled=True):
    return {"EventSubscriptionsList": [{
        "CustSubscriptionId": NAME, "EventSubscriptionArn": ARN, "SnsTopicArn": topic, "SourceType": "db-instance",
        "SourceIdsList": list(sources), "EventCategoriesList": list(categories), "Enabled": enabled,
        "Status": "active"}]}


def tags(**values):
    return {"TagList": [{"Key": k, "Value": v} for k, v in values.items()]}


@pytest.fixture
def rds(monkeypatch):
    client = boto3.client("rds", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")

    def fake_client(self, service, retry_decorator=None, **kwargs):
        assert service == "rds"
        return RetryingBotoClientWrapper(client, retry_decorator)

    monkeypatch.setattr(mod.AnsibleAWSModule, "client", fake_client)
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def run(args, capsys, check_mode=False, diff=False):
    params = dict(AWS, name=NAME, sns_topic_arn=TOPIC, source_ids=["mfg-prod-shared-postgres"],
                  event_categories=CATEGORIES, tags={"Environment": "prod"})
    params.update(args)
    with (
        patch_module_args(dict(params, _ansible_check_mode=check_mode, _ansible_diff=diff)),
        pytest.raises(SystemExit),
    ):
        mod.main()
    out = capsys.readouterr().out
    return json.loads(out[out.index("{") :])


def expect_read(rds, response, tag_values=None):
    rds.add_response("describe_event_subscriptions", response, {"SubscriptionName": NAME})
    rds.add_response("list_tags_for_resource", tags(**(tag_values or {"Environment": "prod"})), {"ResourceName": ARN})


# ------------------------------------------------------------------------------------------------ planning (pure)


def wanted(**overrides):
    state = {"name": NAME, "sns_topic_arn": TOPIC, "source_type": "db-instance", "source_ids": ["a"],
             "event_categories": sorted(CATEGORIES), "enabled": True, "tags": {"Environment": "prod"}}
    state.update(overrides)
    return state


def test_plan_of_an_equal_subscription_is_empty():
    assert mod.plan(dict(wanted(), arn=ARN), wanted(), purge_tags=True) == []


def test_plan_create_sends_every_setting_and_enabled_explicitly():
    steps = mod.plan(None, wanted(enabled=False), purge_tags=True)
    assert steps == [("create_event_subscription", {
        "SubscriptionName": NAME, "SnsTopicArn": TOPIC, "SourceType": "db-instance", "Enabled": False,
        "SourceIds": ["a"], "EventCategories": sorted(CATEGORIES), "Tags": [{"Key": "Environment", "Value": "prod"}]})]


def test_plan_back_to_all_categories_recreates_the_subscription():
    """ModifyEventSubscription cannot clear the category list: an empty list means 'all' only on create."""
    steps = mod.plan(dict(wanted(), arn=ARN), wanted(event_categories=[]), purge_tags=True)
    assert [step[0] for step in steps] == ["delete_event_subscription", "create_event_subscription"]
    assert "EventCategories" not in steps[1][1]


def test_plan_tags_keep_foreign_tags_without_purge():
    current = dict(wanted(tags={"Environment": "prod", "Owner": "dba"}), arn=ARN)
    assert mod.plan(current, wanted(), purge_tags=False) == []
    assert mod.plan(current, wanted(), purge_tags=True) == [
        ("remove_tags_from_resource", {"ResourceName": ARN, "TagKeys": ["Owner"]})]


# ------------------------------------------------------------------------------------------------ Stubber: updates


def test_emulator_gap_modify_event_subscription_changes_topic_categories_and_enabled(rds, capsys):
    expect_read(rds, described(topic=OTHER_TOPIC, categories=["failover"], enabled=False))
    rds.add_response("modify_event_subscription", {"EventSubscription": {}}, {
        "SubscriptionName": NAME, "SnsTopicArn": TOPIC, "EventCategories": sorted(CATEGORIES), "Enabled": True})
    result = run({}, capsys, diff=True)
    assert result["changed"]
    assert result["actions"] == [
        "modify_event_subscription(%s: Enabled, EventCategories, SnsTopicArn)" % NAME]
    assert result["diff"]["before"]["sns_topic_arn"] == OTHER_TOPIC
    assert result["diff"]["after"]["sns_topic_arn"] == TOPIC
    assert result["subscription"]["arn"] == ARN


def test_emulator_gap_source_identifiers_are_added_and_removed_one_by_one(rds, capsys):
    expect_read(rds, described(sources=["mfg-prod-old-postgres", "mfg-prod-shared-postgres"]))
    rds.add_response("add_source_identifier_to_subscription", {"EventSubscription": {}},
                     {"SubscriptionName": NAME, "SourceIdentifier": "mfg-prod-customer-123-postgres"})
    rds.add_response("remove_source_identifier_from_subscription", {"EventSubscription": {}},
                     {"SubscriptionName": NAME, "SourceIdentifier": "mfg-prod-old-postgres"})
    result = run({"source_ids": ["mfg-prod-shared-postgres", "mfg-prod-customer-123-postgres"]}, capsys)
    assert result["actions"] == [
        "add_source_identifier_to_subscription(%s, mfg-prod-customer-123-postgres)" % NAME,
        "remove_source_identifier_from_subscription(%s, mfg-prod-old-postgres)" % NAME]
    assert result["subscription"]["source_ids"] == ["mfg-prod-customer-123-postgres", "mfg-prod-shared-postgres"]


def test_emulator_gap_updates_in_check_mode_make_read_requests_only(rds, capsys):
    expect_read(rds, described(topic=OTHER_TOPIC, sources=[]))
    result = run({}, capsys, check_mode=True)
    assert result["changed"] and len(result["actions"]) == 2  # modify + add source, neither sent


def test_emulator_gap_a_failed_update_reports_the_actions_so_far(rds, capsys):
    expect_read(rds, described(topic=OTHER_TOPIC))
    rds.add_client_error("modify_event_subscription", service_error_code="SNSInvalidTopic",
                         service_message="Invalid SNS topic", http_status_code=400)
    result = run({}, capsys)
    assert result["failed"] and "SNSInvalidTopic" in json.dumps(result)
    assert result["actions"] == ["modify_event_subscription(%s: SnsTopicArn)" % NAME]


def test_a_topic_that_is_not_an_arn_is_refused_before_any_request(rds, capsys):
    result = run({"sns_topic_arn": "mfg-prod-ops"}, capsys)
    assert result["failed"] and "must be an SNS topic ARN" in result["msg"]
