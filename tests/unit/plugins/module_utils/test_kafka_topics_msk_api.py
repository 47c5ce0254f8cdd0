"""MSK topic API transport of msk_topic, tested with botocore's Stubber.

Emulator gap: the local AWS emulator (moto) does not implement the MSK topic API (ListTopics, DescribeTopic,
CreateTopic, UpdateTopic, DeleteTopic answer 404), so these tests run against a real
``boto3.client("kafka", region_name="us-east-1")`` with ``botocore.stub.Stubber``, which validates every request
(and every canned response) against the real service model shipped with the installed botocore.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import pytest

_COLLECTIONS = Path(__file__).resolve().parents[4] / "collections"
if str(_COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(_COLLECTIONS))

boto3 = pytest.importorskip("boto3")
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry, RetryingBotoClientWrapper  # noqa: E402
from botocore.stub import Stubber  # noqa: E402

from ansible_collections.manufacturing.platform.plugins.module_utils import kafka_topics as kt  # noqa: E402

ARN = "arn:aws:kafka:us-east-1:123456789012:cluster/platform/11111111-2222-3333-4444-555555555555-1"
TOPIC_ARN = "arn:aws:kafka:us-east-1:123456789012:topic/platform/11111111-2222-3333-4444-555555555555-1/{}"


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def kafka():
    client = boto3.client(
        "kafka", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def make_transport(client, clock=None, **kw):
    clock = clock or FakeClock()
    retry = AWSRetry.jittered_backoff(retries=3, delay=0, max_delay=0, catch_extra_error_codes=kt.MSK_RETRY_ERROR_CODES)
    wrapped = RetryingBotoClientWrapper(client, retry)
    return kt.MskApiTransport(wrapped, ARN, sleep=clock.sleep, clock=clock, rand=lambda: 0.5, **kw), clock


def cluster_response(brokers=3, state="ACTIVE", cluster_type="PROVISIONED", version="3.6.0"):
    info = {"ClusterArn": ARN, "ClusterName": "platform", "ClusterType": cluster_type, "State": state}
    if cluster_type == "PROVISIONED":
        info["Provisioned"] = {
            "BrokerNodeGroupInfo": {"ClientSubnets": ["subnet-1", "subnet-2"], "InstanceType": "kafka.m7g.large"},
            "NumberOfBrokerNodes": brokers,
            "CurrentBrokerSoftwareInfo": {"KafkaVersion": version},
        }
    else:
        info["Serverless"] = {"VpcConfigs": [{"SubnetIds": ["subnet-1"]}]}
    return {"ClusterInfo": info}


def b64(configs):
    return base64.b64encode(json.dumps(configs).encode()).decode()


def describe_topic(name, partitions=3, rf=3, configs=None, status="ACTIVE"):
    return {
        "TopicArn": TOPIC_ARN.format(name),
        "TopicName": name,
        "PartitionCount": partitions,
        "ReplicationFactor": rf,
        "Configs": b64(configs or {"retention.ms": "604800000", "cleanup.policy": "delete"}),
        "Status": status,
    }


def topic_info(name, partitions=3, rf=3):
    return {
        "TopicArn": TOPIC_ARN.format(name),
        "TopicName": name,
        "PartitionCount": partitions,
        "ReplicationFactor": rf,
    }


def spec(name, **kw):
    base = {"name": name, "state": "present", "partitions": None, "replication_factor": None, "configs": None}
    base.update(kw)
    return base


def plan_and_apply(transport, specs, check_mode=False):
    current = transport.fetch([s["name"] for s in specs])
    plan = kt.compute_plan(specs, current, broker_count=transport.broker_count())
    transport.validate(plan)
    done = []
    if not check_mode:
        transport.apply(plan, done)
    return plan, done


def test_emulator_gap_msk_topic_api_create_update_delete(kafka):
    """Full reconcile through the MSK topic API (not in moto): create, grow + reconfigure, delete, unchanged."""
    client, stubber = kafka
    stubber.add_response("describe_cluster_v2", cluster_response(brokers=3), {"ClusterArn": ARN})
    stubber.add_response(
        "list_topics",
        {"Topics": [topic_info("grow"), topic_info("old"), topic_info("same")]},
        {"ClusterArn": ARN},
    )
    stubber.add_response("describe_topic", describe_topic("grow"), {"ClusterArn": ARN, "TopicName": "grow"})
    stubber.add_response("describe_topic", describe_topic("same"), {"ClusterArn": ARN, "TopicName": "same"})
    stubber.add_response("describe_topic", describe_topic("old"), {"ClusterArn": ARN, "TopicName": "old"})
    stubber.add_response(
        "create_topic",
        {"TopicArn": TOPIC_ARN.format("new"), "TopicName": "new", "Status": "CREATING"},
        {
            "ClusterArn": ARN,
            "TopicName": "new",
            "PartitionCount": 6,
            "ReplicationFactor": 3,
            "Configs": kt.encode_msk_configs({"retention.ms": "3600000", "cleanup.policy": "compact"}),
        },
    )
    stubber.add_response(
        "update_topic",
        {"TopicArn": TOPIC_ARN.format("grow"), "TopicName": "grow", "Status": "UPDATING"},
        {
            "ClusterArn": ARN,
            "TopicName": "grow",
            "PartitionCount": 12,
            "Configs": kt.encode_msk_configs({"retention.ms": "86400000"}),
        },
    )
    stubber.add_response(
        "delete_topic",
        {"TopicArn": TOPIC_ARN.format("old"), "TopicName": "old", "Status": "DELETING"},
        {"ClusterArn": ARN, "TopicName": "old"},
    )
    transport, _unused = make_transport(client)
    plan, done = plan_and_apply(
        transport,
        [
            spec("new", partitions=6, configs={"retention.ms": "3600000", "cleanup.policy": "compact"}),
            spec("grow", partitions=12, configs={"retention.ms": "86400000"}),
            spec("same", partitions=3, replication_factor=3, configs={"cleanup.policy": "delete"}),
            spec("old", state="absent"),
        ],
    )
    assert [e["action"] for e in plan] == ["create", "update", "none", "delete"]
    assert done == [
        "create topic new (partitions=6, replication_factor=3, configs: cleanup.policy=compact, retention.ms=3600000)",
        "increase partitions of topic grow from 3 to 12",
        "set configs of topic grow: retention.ms=86400000",
        "delete topic old",
    ]


def test_emulator_gap_msk_topic_api_configs_are_base64_json(kafka):
    """CreateTopic's ``Configs`` is a Base64 string (service model: "Topic configurations encoded as a Base64
    string"); the Stubber checks the exact request."""
    client, stubber = kafka
    configs = {"retention.ms": "1000"}
    stubber.add_response("describe_cluster_v2", cluster_response(brokers=2), {"ClusterArn": ARN})
    stubber.add_response("list_topics", {"Topics": []}, {"ClusterArn": ARN})
    stubber.add_response(
        "create_topic",
        {"TopicName": "t", "Status": "CREATING"},
        {
            "ClusterArn": ARN,
            "TopicName": "t",
            "PartitionCount": 1,
            "ReplicationFactor": 2,
            "Configs": "eyJyZXRlbnRpb24ubXMiOiIxMDAwIn0=",
        },
    )
    transport, _unused = make_transport(client)
    plan, _unused = plan_and_apply(transport, [spec("t", partitions=1, configs=configs)])
    assert plan[0]["create"]["replication_factor"] == 2  # min(3, brokers)
    assert json.loads(base64.b64decode("eyJyZXRlbnRpb24ubXMiOiIxMDAwIn0=")) == configs


def test_emulator_gap_msk_topic_api_list_topics_pagination(kafka):
    client, stubber = kafka
    stubber.add_response("describe_cluster_v2", cluster_response(), {"ClusterArn": ARN})
    stubber.add_response("list_topics", {"Topics": [topic_info("a")], "NextToken": "n1"}, {"ClusterArn": ARN})
    stubber.add_response("list_topics", {"Topics": [topic_info("b")]}, {"ClusterArn": ARN, "NextToken": "n1"})
    transport, _unused = make_transport(client)
    assert transport.list_topic_names() == {"a", "b"}


def test_emulator_gap_msk_topic_api_check_mode_reads_only(kafka):
    """Check mode: only read calls are stubbed - any write call would fail the Stubber."""
    client, stubber = kafka
    stubber.add_response("describe_cluster_v2", cluster_response(), {"ClusterArn": ARN})
    stubber.add_response("list_topics", {"Topics": [topic_info("a")]}, {"ClusterArn": ARN})
    stubber.add_response("describe_topic", describe_topic("a"), {"ClusterArn": ARN, "TopicName": "a"})
    transport, _unused = make_transport(client)
    plan, done = plan_and_apply(
        transport, [spec("a", partitions=4), spec("b", partitions=1), spec("a2", state="absent")], check_mode=True
    )
    assert [e["action"] for e in plan] == ["update", "create", "none"]
    assert done == []


def test_emulator_gap_msk_topic_api_throttling_is_retried(kafka):
    client, stubber = kafka
    stubber.add_client_error("describe_cluster_v2", "TooManyRequestsException", "Rate exceeded", 429)
    stubber.add_client_error("describe_cluster_v2", "ServiceUnavailableException", "try again", 503)
    stubber.add_response("describe_cluster_v2", cluster_response(brokers=5), {"ClusterArn": ARN})
    transport, _unused = make_transport(client)
    assert transport.broker_count() == 5


def test_emulator_gap_msk_topic_api_unknown_cluster(kafka):
    client, stubber = kafka
    stubber.add_client_error("describe_cluster_v2", "NotFoundException", "Cluster not found", 404)
    transport, _unused = make_transport(client)
    with pytest.raises(kt.KafkaTopicError) as info:
        transport.broker_count()
    assert info.value.msg.startswith(f"DescribeClusterV2 failed: MSK cluster {ARN} not found (NotFoundException)")


def test_emulator_gap_msk_topic_api_auth_failure(kafka):
    client, stubber = kafka
    stubber.add_response("describe_cluster_v2", cluster_response(), {"ClusterArn": ARN})
    stubber.add_client_error("list_topics", "ForbiddenException", "not authorized to perform kafka:ListTopics", 403)
    transport, _unused = make_transport(client)
    with pytest.raises(kt.KafkaTopicError, match=r"ListTopics failed: authentication/authorization failure"):
        transport.fetch(["a"])


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"cluster_type": "SERVERLESS"}, "supports MSK Provisioned clusters only"),
        ({"state": "UPDATING"}, "is UPDATING, the MSK topic API needs it ACTIVE"),
        ({"version": "3.5.1"}, "runs Kafka 3.5.1: the MSK topic API needs Kafka 3.6 or later"),
    ],
)
def test_emulator_gap_msk_topic_api_cluster_preconditions(kafka, kwargs, fragment):
    client, stubber = kafka
    stubber.add_response("describe_cluster_v2", cluster_response(**kwargs), {"ClusterArn": ARN})
    transport, _unused = make_transport(client)
    with pytest.raises(kt.KafkaTopicError, match=fragment):
        transport.broker_count()


def test_emulator_gap_msk_topic_api_replication_factor_above_brokers(kafka):
    client, stubber = kafka
    stubber.add_response("describe_cluster_v2", cluster_response(brokers=2), {"ClusterArn": ARN})
    stubber.add_response("list_topics", {"Topics": []}, {"ClusterArn": ARN})
    transport, _unused = make_transport(client)
    with pytest.raises(kt.KafkaTopicError, match=r"replication_factor 3 is larger than the number of brokers .*\(2\)"):
        plan_and_apply(transport, [spec("t", partitions=1, replication_factor=3)])


def test_emulator_gap_msk_topic_api_create_of_lagging_topic_is_reconciled(kafka):
    """ListTopics lags writes: CreateTopic answers TopicExistsException for a topic created moments ago. The
    transport polls DescribeTopic (jittered backoff, no fixed sleep) until it is visible, then reconciles it."""
    client, stubber = kafka
    stubber.add_response("describe_cluster_v2", cluster_response(), {"ClusterArn": ARN})
    stubber.add_response("list_topics", {"Topics": []}, {"ClusterArn": ARN})
    stubber.add_client_error("create_topic", "TopicExistsException", "Topic 'lag' already exists", 409)
    stubber.add_client_error("describe_topic", "NotFoundException", "not found", 404)
    stubber.add_client_error("describe_topic", "NotFoundException", "not found", 404)
    stubber.add_response("describe_topic", describe_topic("lag", partitions=2), {"ClusterArn": ARN, "TopicName": "lag"})
    stubber.add_response(
        "update_topic",
        {"TopicName": "lag", "Status": "UPDATING"},
        {"ClusterArn": ARN, "TopicName": "lag", "PartitionCount": 4},
    )
    transport, clock = make_transport(client)
    plan, done = plan_and_apply(transport, [spec("lag", partitions=4)])
    assert plan[0]["action"] == "update"
    assert done == ["increase partitions of topic lag from 2 to 4"]
    assert len(clock.sleeps) == 2 and clock.sleeps[0] < clock.sleeps[1]
    assert "created moments ago" in transport.notes[0]


def test_emulator_gap_msk_topic_api_wait_polls_until_active(kafka):
    client, stubber = kafka
    stubber.add_response("describe_cluster_v2", cluster_response(), {"ClusterArn": ARN})
    stubber.add_response("list_topics", {"Topics": []}, {"ClusterArn": ARN})
    stubber.add_response(
        "create_topic",
        {"TopicName": "w", "Status": "CREATING"},
        {"ClusterArn": ARN, "TopicName": "w", "PartitionCount": 1, "ReplicationFactor": 3},
    )
    stubber.add_client_error("describe_topic", "NotFoundException", "not yet", 404)
    stubber.add_response(
        "describe_topic", describe_topic("w", status="CREATING"), {"ClusterArn": ARN, "TopicName": "w"}
    )
    stubber.add_response("describe_topic", describe_topic("w"), {"ClusterArn": ARN, "TopicName": "w"})
    transport, clock = make_transport(client, wait=True)
    plan_and_apply(transport, [spec("w", partitions=1)])
    assert len(clock.sleeps) == 2


def test_emulator_gap_msk_topic_api_wait_timeout(kafka):
    client, stubber = kafka
    stubber.add_response("describe_cluster_v2", cluster_response(), {"ClusterArn": ARN})
    stubber.add_response("list_topics", {"Topics": [topic_info("gone")]}, {"ClusterArn": ARN})
    stubber.add_response("describe_topic", describe_topic("gone"), {"ClusterArn": ARN, "TopicName": "gone"})
    stubber.add_response(
        "delete_topic", {"TopicName": "gone", "Status": "DELETING"}, {"ClusterArn": ARN, "TopicName": "gone"}
    )
    for _unused in range(4):
        stubber.add_response(
            "describe_topic", describe_topic("gone", status="DELETING"), {"ClusterArn": ARN, "TopicName": "gone"}
        )
    transport, clock = make_transport(client, wait=True, wait_timeout=3)
    with pytest.raises(kt.KafkaTopicError, match=r"topic 'gone' did not become deleted within wait_timeout=3s"):
        plan_and_apply(transport, [spec("gone", state="absent")])
    assert clock.now == pytest.approx(3)


def test_emulator_gap_msk_topic_api_delete_of_already_deleted_topic(kafka):
    client, stubber = kafka
    stubber.add_response("describe_cluster_v2", cluster_response(), {"ClusterArn": ARN})
    stubber.add_response("list_topics", {"Topics": [topic_info("x")]}, {"ClusterArn": ARN})
    stubber.add_response("describe_topic", describe_topic("x"), {"ClusterArn": ARN, "TopicName": "x"})
    stubber.add_client_error("delete_topic", "NotFoundException", "no such topic", 404)
    transport, _unused = make_transport(client)
    _unused, done = plan_and_apply(transport, [spec("x", state="absent")])
    assert done == ["delete topic x"]
    assert transport.notes == ["topic x was already deleted"]


def test_emulator_gap_msk_topic_api_listed_but_deleting_topic(kafka):
    """A topic still listed but DELETING counts as absent; re-creating it now is refused with a clear error."""
    client, stubber = kafka
    stubber.add_response("describe_cluster_v2", cluster_response(), {"ClusterArn": ARN})
    stubber.add_response("list_topics", {"Topics": [topic_info("d")]}, {"ClusterArn": ARN})
    stubber.add_response(
        "describe_topic", describe_topic("d", status="DELETING"), {"ClusterArn": ARN, "TopicName": "d"}
    )
    transport, _unused = make_transport(client)
    with pytest.raises(kt.KafkaTopicError, match="topics d are being deleted"):
        plan_and_apply(transport, [spec("d", partitions=1)])


def test_emulator_gap_msk_topic_api_write_error_names_topic(kafka):
    client, stubber = kafka
    stubber.add_response("describe_cluster_v2", cluster_response(), {"ClusterArn": ARN})
    stubber.add_response("list_topics", {"Topics": []}, {"ClusterArn": ARN})
    stubber.add_client_error("create_topic", "BadRequestException", "Invalid config retention.ms", 400)
    transport, _unused = make_transport(client)
    with pytest.raises(kt.KafkaTopicError) as info:
        plan_and_apply(transport, [spec("bad", partitions=1, configs={"retention.ms": "soon"})])
    assert info.value.msg == "CreateTopic for topic 'bad' failed (BadRequestException): Invalid config retention.ms"
