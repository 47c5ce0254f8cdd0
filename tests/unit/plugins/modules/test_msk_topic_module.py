"""Unit tests of the msk_topic module entry point (argument handling, check mode, diff, result shape).

The MSK topic API tests (``test_emulator_gap_msk_topic_api_*``) use botocore's Stubber on a real
``boto3.client("kafka", region_name="us-east-1")`` because the local emulator (moto) does not implement the MSK
topic API; the Stubber validates each request against the installed botocore service model.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

_COLLECTIONS = Path(__file__).resolve().parents[4] / "collections"
if str(_COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(_COLLECTIONS))

import boto3  # noqa: E402
from ansible.module_utils.testing import patch_module_args  # noqa: E402
from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper  # noqa: E402
from botocore.stub import Stubber  # noqa: E402

from ansible_collections.manufacturing.platform.plugins.doc_fragments import kafka_connection  # noqa: E402
from ansible_collections.manufacturing.platform.plugins.module_utils import kafka_topics as kt  # noqa: E402
from ansible_collections.manufacturing.platform.plugins.modules import msk_topic  # noqa: E402

ARN = "arn:aws:kafka:us-east-1:123456789012:cluster/platform/11111111-2222-3333-4444-555555555555-1"
AWS = {"region": "us-east-1", "access_key": "testing", "secret_key": "testing"}


def run_main(args, capsys, check_mode=False, diff=False):
    args = dict(args)
    args["_ansible_check_mode"] = check_mode
    args["_ansible_diff"] = diff
    with patch_module_args(args), pytest.raises(SystemExit) as exit_info:
        msk_topic.main()
    out = capsys.readouterr().out
    result = json.loads(out[out.index("{") :])
    result["_rc"] = exit_info.value.code
    return result


@pytest.fixture
def kafka(monkeypatch):
    client = boto3.client(
        "kafka", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    made = []

    def fake_client(self, service, retry_decorator=None, **kwargs):
        assert service == "kafka"
        made.append(retry_decorator)
        return RetryingBotoClientWrapper(client, retry_decorator)

    monkeypatch.setattr(msk_topic.AnsibleAWSModule, "client", fake_client)
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()
    assert all(decorator is not None for decorator in made), "calls must go through AWSRetry"


def cluster(brokers=3):
    return {
        "ClusterInfo": {
            "ClusterArn": ARN,
            "ClusterType": "PROVISIONED",
            "State": "ACTIVE",
            "Provisioned": {
                "BrokerNodeGroupInfo": {"ClientSubnets": ["subnet-1"], "InstanceType": "kafka.m7g.large"},
                "NumberOfBrokerNodes": brokers,
                "CurrentBrokerSoftwareInfo": {"KafkaVersion": "3.8.x"},
            },
        }
    }


def described(name, partitions, configs):
    return {
        "TopicName": name,
        "PartitionCount": partitions,
        "ReplicationFactor": 3,
        "Configs": base64.b64encode(json.dumps(configs).encode()).decode(),
        "Status": "ACTIVE",
    }


def test_emulator_gap_msk_topic_api_module_apply_with_diff(kafka, capsys):
    kafka.add_response("describe_cluster_v2", cluster(), {"ClusterArn": ARN})
    kafka.add_response("list_topics", {"Topics": [{"TopicName": "orders"}]}, {"ClusterArn": ARN})
    kafka.add_response(
        "describe_topic",
        described("orders", 3, {"retention.ms": "604800000"}),
        {"ClusterArn": ARN, "TopicName": "orders"},
    )
    kafka.add_response(
        "create_topic",
        {"TopicName": "events", "Status": "CREATING"},
        {"ClusterArn": ARN, "TopicName": "events", "PartitionCount": 2, "ReplicationFactor": 3},
    )
    kafka.add_response(
        "update_topic",
        {"TopicName": "orders", "Status": "UPDATING"},
        {
            "ClusterArn": ARN,
            "TopicName": "orders",
            "Configs": kt.encode_msk_configs({"retention.ms": "86400000"}),
        },
    )
    args = dict(
        AWS,
        transport="msk_api",
        cluster_arn=ARN,
        topics=[
            {"name": "events", "partitions": 2},
            {"name": "orders", "partitions": 3, "configs": {"retention.ms": 86400000}},
        ],
    )
    result = run_main(args, capsys, diff=True)
    assert result["_rc"] == 0, result
    assert result["changed"] is True
    assert result["transport"] == "msk_api" and result["broker_count"] == 3
    assert result["actions"] == [
        "create topic events (partitions=2, replication_factor=3)",
        "set configs of topic orders: retention.ms=86400000",
    ]
    assert [t["action"] for t in result["topics"]] == ["created", "updated"]
    assert result["diff"][1]["before"]["configs"] == {"retention.ms": "604800000"}
    assert result["diff"][1]["after"]["configs"] == {"retention.ms": "86400000"}


def test_emulator_gap_msk_topic_api_module_check_mode_makes_no_write_call(kafka, capsys):
    kafka.add_response("describe_cluster_v2", cluster(), {"ClusterArn": ARN})
    kafka.add_response("list_topics", {"Topics": []}, {"ClusterArn": ARN})
    args = dict(AWS, transport="msk_api", cluster_arn=ARN, topics=[{"name": "events", "partitions": 2}])
    result = run_main(args, capsys, check_mode=True)
    assert result["_rc"] == 0 and result["changed"] is True
    assert result["actions"] == ["create topic events (partitions=2, replication_factor=3)"]
    assert "diff" not in result


def test_emulator_gap_msk_topic_api_module_unknown_cluster(kafka, capsys):
    kafka.add_client_error("describe_cluster_v2", "NotFoundException", "Cluster not found", 404)
    args = dict(AWS, transport="msk_api", cluster_arn=ARN, topics=[{"name": "events", "partitions": 2}])
    result = run_main(args, capsys)
    assert result["failed"] is True and result["changed"] is False
    assert f"MSK cluster {ARN} not found" in result["msg"]


def test_module_rejects_bad_topics_before_connecting(capsys, monkeypatch):
    def no_transport(module):
        raise AssertionError("must not connect")

    monkeypatch.setattr(msk_topic, "transport_from_module", no_transport)
    args = {
        "bootstrap_servers": ["127.0.0.1:1"],
        "topics": [{"name": "bad name", "partitions": 1}, {"name": "ok", "partitions": 0}],
    }
    result = run_main(args, capsys)
    assert result["failed"] is True
    assert result["msg"].startswith("invalid topics: topics[0]: topic name 'bad name' is illegal")
    assert "topic 'ok': partitions must be >= 1, got 0" in result["errors"]


def test_module_purge_configs_needs_kafka_transport(capsys):
    args = dict(AWS, transport="msk_api", cluster_arn=ARN, purge_configs=True, topics=[{"name": "a"}])
    result = run_main(args, capsys)
    assert "purge_configs=true is only supported with transport=kafka" in result["msg"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ({"topics": [{"name": "a"}]}, "bootstrap_servers"),
        ({"transport": "msk_api", "topics": [{"name": "a"}]}, "cluster_arn"),
    ],
)
def test_module_required_connection_options(capsys, args, fragment):
    result = run_main(args, capsys)
    assert result["failed"] is True and fragment in result["msg"]


def test_module_wires_msk_iam_oauthbearer(capsys, monkeypatch):
    """transport=kafka + SASL_SSL/OAUTHBEARER: the AdminClient config carries an oauth_cb that signs MSK IAM tokens
    for the module's region with the module's credentials."""
    seen = {}

    class FakeTransport:
        notes = []

        def __init__(self, conf, **kwargs):
            seen["conf"] = conf
            seen["kwargs"] = kwargs

        def broker_count(self):
            return 3

        def fetch(self, names):
            return {}

        def validate(self, plan):
            pass

    monkeypatch.setattr(kt, "KafkaAdminTransport", FakeTransport)
    args = {
        "bootstrap_servers": ["b-1.platform.kafka.eu-west-1.amazonaws.com:9098"],
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "OAUTHBEARER",
        "region": "eu-west-1",
        "access_key": "AKIDMODULE",
        "secret_key": "modulesecret",
        "connect_timeout": 5,
        "request_timeout": 20,
        "max_retries": 2,
        "topics": [{"name": "t", "partitions": 1}],
    }
    result = run_main(args, capsys, check_mode=True)
    assert result["_rc"] == 0, result
    conf = seen["conf"]
    assert conf["security.protocol"] == "SASL_SSL" and conf["sasl.mechanisms"] == "OAUTHBEARER"
    assert seen["kwargs"] == {"connect_timeout": 5, "request_timeout": 20, "max_retries": 2}
    token, _expiry = conf["oauth_cb"]("")
    url = urlparse(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode())
    assert url.netloc == "kafka.eu-west-1.amazonaws.com"
    assert parse_qs(url.query)["X-Amz-Credential"][0].startswith("AKIDMODULE/")


def test_documentation_matches_argument_spec():
    """The module's options plus those of its doc fragment kafka_connection are its argument spec."""
    doc = yaml.safe_load(msk_topic.DOCUMENTATION)
    doc["options"].update(yaml.safe_load(kafka_connection.ModuleDocFragment.DOCUMENTATION)["options"])
    spec = msk_topic.argument_spec()
    assert set(doc["options"]) == set(spec)
    for name, option in spec.items():
        documented = doc["options"][name]
        assert documented["type"] == option["type"], name
        assert documented.get("default") == option.get("default"), name
        assert documented.get("choices") == option.get("choices"), name
    suboptions = doc["options"]["topics"]["suboptions"]
    assert set(suboptions) == set(spec["topics"]["options"])
    assert doc["version_added"] == "1.0.0"
    assert doc["extends_documentation_fragment"] == [
        "manufacturing.platform.kafka_connection",
        "amazon.aws.common.modules",
        "amazon.aws.region.modules",
        "amazon.aws.boto3",
    ]
    yaml.safe_load(msk_topic.EXAMPLES)
    returned = yaml.safe_load(msk_topic.RETURN)
    assert {"topics", "actions"} <= set(returned)
