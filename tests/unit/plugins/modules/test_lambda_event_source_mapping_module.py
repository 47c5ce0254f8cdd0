"""Unit tests of the lambda_event_source_mapping module with botocore's Stubber.

The emulator has no MSK event sources (CreateEventSourceMapping answers ResourceNotFoundException "Invalid
EventSourceArn" for a Kafka cluster ARN; docs/emulator-gaps.md), so env=local skips the mapping
(compute_event_source_enabled: false) and its code paths are tested here on a real ``boto3.client("lambda")``
whose requests the Stubber validates against the installed service model (``test_emulator_gap_*``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

_COLLECTIONS = Path(__file__).resolve().parents[4] / "collections"
if str(_COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(_COLLECTIONS))

import boto3  # noqa: E402
from ansible.module_utils.testing import patch_module_args  # noqa: E402
from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper  # noqa: E402
from botocore.stub import Stubber  # noqa: E402

from ansible_collections.manufacturing.platform.plugins.modules import lambda_event_source_mapping as esm  # noqa: E402

AWS = {"region": "us-east-1", "access_key": "testing", "secret_key": "testing"}
FN = "arn:aws:lambda:us-east-1:123456789012:function:mfg-prod-t1-alert-processor:live"
CLUSTER = "arn:aws:kafka:us-east-1:123456789012:cluster/mfg-prod-shared/0f1e2d3c-aaaa-bbbb-cccc-111122223333-3"
DLQ = "arn:aws:sqs:us-east-1:123456789012:mfg-prod-t1-alert-dlq"
UUID = "6c2b8b4e-0000-1111-2222-333344445555"
LIST = {"FunctionName": FN, "EventSourceArn": CLUSTER}


def args(**over):
    base = dict(AWS, function_name=FN, cluster_arn=CLUSTER, topic="t1.telemetry",
                consumer_group_id="t1.alert-processor", starting_position="LATEST", batch_size=100,
                maximum_batching_window=1, on_failure_destination=DLQ)
    base.update(over)
    return base


def mapping(state="Enabled", **over):
    base = {"UUID": UUID, "FunctionArn": FN, "EventSourceArn": CLUSTER, "Topics": ["t1.telemetry"],
            "StartingPosition": "LATEST", "BatchSize": 100, "MaximumBatchingWindowInSeconds": 1, "State": state,
            "AmazonManagedKafkaEventSourceConfig": {"ConsumerGroupId": "t1.alert-processor"},
            "DestinationConfig": {"OnFailure": {"Destination": DLQ}}}
    base.update(over)
    return base


def run(params, capsys, check_mode=False, diff=False):
    params = dict(params, _ansible_check_mode=check_mode, _ansible_diff=diff)
    with patch_module_args(params), pytest.raises(SystemExit) as exit_info:
        esm.main()
    out = capsys.readouterr().out
    result = json.loads(out[out.index("{"):])
    result["_rc"] = exit_info.value.code
    return result


@pytest.fixture
def stub(monkeypatch):
    client = boto3.client("lambda", region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")

    def fake_client(self, service, retry_decorator=None, **kwargs):
        assert service == "lambda" and retry_decorator is not None
        return RetryingBotoClientWrapper(client, retry_decorator)

    monkeypatch.setattr(esm.AnsibleAWSModule, "client", fake_client)
    monkeypatch.setattr(esm.time, "sleep", lambda s: None)
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def test_emulator_gap_msk_event_source_created_with_iam_auth_group_and_batching(stub, capsys):
    stub.add_response("list_event_source_mappings", {"EventSourceMappings": []}, LIST)
    stub.add_response("create_event_source_mapping", mapping(state="Creating"), {
        "FunctionName": FN, "EventSourceArn": CLUSTER, "Topics": ["t1.telemetry"], "StartingPosition": "LATEST",
        "BatchSize": 100, "MaximumBatchingWindowInSeconds": 1, "Enabled": True,
        "AmazonManagedKafkaEventSourceConfig": {"ConsumerGroupId": "t1.alert-processor"},
        "DestinationConfig": {"OnFailure": {"Destination": DLQ}}})
    stub.add_response("get_event_source_mapping", mapping(state="Creating"), {"UUID": UUID})
    stub.add_response("get_event_source_mapping", mapping(), {"UUID": UUID})
    result = run(args(), capsys)
    assert result["_rc"] == 0 and result["changed"] and result["uuid"] == UUID
    assert result["actions"] == ["create_event_source_mapping"]


def test_emulator_gap_msk_event_source_converged_is_unchanged(stub, capsys):
    stub.add_response("list_event_source_mappings", {"EventSourceMappings": [mapping()]}, LIST)
    result = run(args(), capsys)
    assert not result["changed"] and result["actions"] == []


def test_emulator_gap_msk_event_source_batch_settings_updated_in_place(stub, capsys):
    stub.add_response("list_event_source_mappings", {"EventSourceMappings": [mapping()]}, LIST)
    stub.add_response("update_event_source_mapping", mapping(state="Updating", BatchSize=500),
                      {"UUID": UUID, "BatchSize": 500, "MaximumBatchingWindowInSeconds": 5})
    stub.add_response("get_event_source_mapping", mapping(BatchSize=500, MaximumBatchingWindowInSeconds=5),
                      {"UUID": UUID})
    result = run(args(batch_size=500, maximum_batching_window=5), capsys)
    assert result["changed"]
    assert result["actions"] == ["update_event_source_mapping(BatchSize,MaximumBatchingWindowInSeconds)"]


def test_emulator_gap_msk_event_source_immutable_change_fails_without_recreate(stub, capsys):
    stub.add_response("list_event_source_mappings", {"EventSourceMappings": [mapping()]}, LIST)
    result = run(args(starting_position="TRIM_HORIZON"), capsys)
    assert result["_rc"] == 1 and "StartingPosition cannot change" in result["msg"]


def test_emulator_gap_msk_event_source_check_mode_makes_no_write(stub, capsys):
    stub.add_response("list_event_source_mappings", {"EventSourceMappings": []}, LIST)
    result = run(args(), capsys, check_mode=True, diff=True)
    assert result["changed"] and result["uuid"] == "" and result["diff"]["after"]["Topics"] == ["t1.telemetry"]


def test_emulator_gap_msk_event_source_deleted(stub, capsys):
    stub.add_response("list_event_source_mappings", {"EventSourceMappings": [mapping()]}, LIST)
    stub.add_response("delete_event_source_mapping", mapping(state="Deleting"), {"UUID": UUID})
    stub.add_client_error("get_event_source_mapping", "ResourceNotFoundException", expected_params={"UUID": UUID})
    result = run(args(state="absent"), capsys)
    assert result["changed"] and result["actions"] == ["delete_event_source_mapping"]


# ---- error handling controls (provisioned mode): emulator gap, see docs/emulator-gaps.md

POLLERS = {"MinimumPollers": 1, "MaximumPollers": 2}
CONTROLS = {"MaximumRetryAttempts": 3, "MaximumRecordAgeInSeconds": 86400, "BisectBatchOnFunctionError": True,
            "FunctionResponseTypes": [], "ProvisionedPollerConfig": POLLERS}


def controlled(**over):
    return args(**dict({"maximum_retry_attempts": 3, "maximum_record_age": 86400,
                        "bisect_batch_on_function_error": True, "report_batch_item_failures": False,
                        "provisioned_pollers": {"minimum_pollers": 1, "maximum_pollers": 2}}, **over))


def test_emulator_gap_msk_event_source_created_with_bounded_retries_record_age_and_bisect(stub, capsys):
    """The emulator has no MSK event sources: the request is validated by the Stubber against the botocore
    model (CreateEventSourceMapping's MaximumRetryAttempts, MaximumRecordAgeInSeconds,
    BisectBatchOnFunctionError, FunctionResponseTypes, ProvisionedPollerConfig)."""
    stub.add_response("list_event_source_mappings", {"EventSourceMappings": []}, LIST)
    stub.add_response("create_event_source_mapping", mapping(state="Creating", **CONTROLS), {
        "FunctionName": FN, "EventSourceArn": CLUSTER, "Topics": ["t1.telemetry"], "StartingPosition": "LATEST",
        "BatchSize": 100, "MaximumBatchingWindowInSeconds": 1, "Enabled": True,
        "AmazonManagedKafkaEventSourceConfig": {"ConsumerGroupId": "t1.alert-processor"},
        "DestinationConfig": {"OnFailure": {"Destination": DLQ}}, **CONTROLS})
    stub.add_response("get_event_source_mapping", mapping(**CONTROLS), {"UUID": UUID})
    result = run(controlled(), capsys)
    assert result["_rc"] == 0 and result["changed"] and result["actions"] == ["create_event_source_mapping"]
    assert result["mapping"]["MaximumRetryAttempts"] == 3


def test_emulator_gap_msk_event_source_with_controls_converged_is_unchanged(stub, capsys):
    """Lambda reports the controls back as set (an unset FunctionResponseTypes is absent): nothing to do."""
    have = dict(CONTROLS)
    del have["FunctionResponseTypes"]
    stub.add_response("list_event_source_mappings", {"EventSourceMappings": [mapping(**have)]}, LIST)
    result = run(controlled(), capsys, diff=True)
    assert result["_rc"] == 0 and not result["changed"] and result["actions"] == []


def test_emulator_gap_msk_event_source_unbounded_retries_are_bounded_in_place(stub, capsys):
    """An existing mapping with Lambda's defaults (infinite retries and record age, no bisect, on-demand mode) is
    updated in place with every control that differs."""
    stub.add_response("list_event_source_mappings", {"EventSourceMappings": [mapping(
        MaximumRetryAttempts=-1, MaximumRecordAgeInSeconds=-1, BisectBatchOnFunctionError=False)]}, LIST)
    stub.add_response("update_event_source_mapping", mapping(state="Updating", **CONTROLS), {
        "UUID": UUID, "MaximumRetryAttempts": 3, "MaximumRecordAgeInSeconds": 86400,
        "BisectBatchOnFunctionError": True, "ProvisionedPollerConfig": POLLERS})
    stub.add_response("get_event_source_mapping", mapping(**CONTROLS), {"UUID": UUID})
    result = run(controlled(), capsys, diff=True)
    assert result["_rc"] == 0 and result["changed"]
    assert result["actions"] == ["update_event_source_mapping(BisectBatchOnFunctionError,MaximumRecordAgeInSeconds,"
                                 "MaximumRetryAttempts,ProvisionedPollerConfig)"]
    diff = result["diff"]
    assert (diff["before"]["MaximumRetryAttempts"], diff["after"]["MaximumRetryAttempts"]) == (-1, 3)


def test_emulator_gap_msk_event_source_controls_check_mode_makes_no_write(stub, capsys):
    stub.add_response("list_event_source_mappings", {"EventSourceMappings": [mapping()]}, LIST)
    result = run(controlled(), capsys, check_mode=True, diff=True)
    assert result["changed"] and result["actions"][0].startswith("update_event_source_mapping(")
    assert result["diff"]["after"]["ProvisionedPollerConfig"] == POLLERS  # and no update call (Stubber)


def test_emulator_gap_msk_event_source_partial_batch_response_follows_the_option(stub, capsys):
    stub.add_response("list_event_source_mappings", {"EventSourceMappings": [mapping(
        **{**CONTROLS, "FunctionResponseTypes": ["ReportBatchItemFailures"]})]}, LIST)
    stub.add_response("update_event_source_mapping", mapping(state="Updating", **CONTROLS),
                      {"UUID": UUID, "FunctionResponseTypes": []})
    stub.add_response("get_event_source_mapping", mapping(**CONTROLS), {"UUID": UUID})
    result = run(controlled(), capsys)
    assert result["actions"] == ["update_event_source_mapping(FunctionResponseTypes)"]


@pytest.mark.parametrize(("over", "message"), [
    ({"provisioned_pollers": None}, "maximum_retry_attempts, maximum_record_age, bisect_batch_on_function_error "
                                    "need(s) provisioned_pollers"),
    ({"maximum_retry_attempts": 10001}, "maximum_retry_attempts must be -1 (infinite) or 0-10000, got 10001"),
    ({"maximum_record_age": 59}, "maximum_record_age must be -1 (infinite) or 60-604800 s, got 59"),
    ({"provisioned_pollers": {"minimum_pollers": 3, "maximum_pollers": 2}}, "minimum_pollers (3) is above"),
    ({"provisioned_pollers": {"minimum_pollers": 0, "maximum_pollers": 2}}, "minimum_pollers must be 1-200"),
])
def test_invalid_error_handling_controls_fail_before_any_call(stub, capsys, over, message):
    result = run(controlled(**over), capsys)
    assert result["_rc"] == 1 and message in result["msg"] and "t1.telemetry" in result["msg"]


def test_emulator_gap_msk_event_source_unmanaged_controls_are_left_alone(stub, capsys):
    """Without the options (their default), whatever the mapping has is not compared: no change."""
    stub.add_response("list_event_source_mappings", {"EventSourceMappings": [mapping(**CONTROLS)]}, LIST)
    result = run(args(), capsys)
    assert not result["changed"]
