"""Unit tests of the msk_cluster / msk_cluster_info module entry points with botocore's Stubber.

The emulator (moto) keeps clusters CREATING forever and answers 500 to every MSK update operation and to
GetBootstrapBrokers, and 404 to the configuration API; these paths of the module (updates of an ACTIVE cluster,
waiting, bootstrap brokers, configuration) are therefore tested here on a real ``boto3.client("kafka")`` whose
requests the Stubber validates against the installed service model (``test_emulator_gap_*``). Create, re-apply
and check mode run against the emulator in tests/integration/test_streaming.py.
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

from ansible_collections.manufacturing.platform.plugins.module_utils import msk_cluster as mc  # noqa: E402
from ansible_collections.manufacturing.platform.plugins.modules import msk_cluster, msk_cluster_info  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "module_utils"))
from test_msk_cluster import ARN, CONF_ARN, KEY, PROPS, PROPS_TEXT, info  # noqa: E402

AWS = {"region": "us-east-1", "access_key": "testing", "secret_key": "testing"}
LIST = {"ClusterNameFilter": "mfg-prod-shared", "ClusterTypeFilter": "PROVISIONED"}


def args(**over):
    base = dict(
        AWS,
        name="mfg-prod-shared",
        kafka_version="3.6.0",
        instance_type="kafka.m7g.large",
        number_of_broker_nodes=3,
        subnets=["subnet-1", "subnet-2", "subnet-3"],
        security_groups=["sg-1"],
        ebs_volume_size=1000,
        encryption={"kms_key_arn": KEY, "client_broker": "TLS", "in_cluster": True},
        authentication={
            "sasl_iam": True,
            "sasl_scram": False,
            "tls_certificate_authority_arns": [],
            "unauthenticated": False,
        },
        enhanced_monitoring="PER_TOPIC_PER_BROKER",
        broker_logs={"enabled": True, "log_group": "/mfg-prod/shared/msk/broker-logs"},
        tags={"Environment": "prod"},
        wait_delay=1,
    )
    base.update(over)
    return base


def run(module, params, capsys, check_mode=False, diff=False):
    params = dict(params, _ansible_check_mode=check_mode, _ansible_diff=diff)
    with patch_module_args(params), pytest.raises(SystemExit) as exit_info:
        module.main()
    out = capsys.readouterr().out
    result = json.loads(out[out.index("{") :])
    result["_rc"] = exit_info.value.code
    return result


@pytest.fixture
def stub(monkeypatch):
    client = boto3.client(
        "kafka", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )

    def fake_client(self, service, retry_decorator=None, **kwargs):
        assert service == "kafka" and retry_decorator is not None
        return RetryingBotoClientWrapper(client, retry_decorator)

    monkeypatch.setattr(msk_cluster.AnsibleAWSModule, "client", fake_client)
    monkeypatch.setattr(mc.time, "sleep", lambda s: None)
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def test_create_without_waiting_returns_the_state_at_once(stub, capsys):
    """What env=local does: the emulator keeps the cluster CREATING, the module does not wait."""
    stub.add_response("list_clusters_v2", {"ClusterInfoList": []}, LIST)
    stub.add_response("create_cluster", {"ClusterArn": ARN, "State": "CREATING"}, None)
    stub.add_response("describe_cluster_v2", {"ClusterInfo": info(state="CREATING")}, {"ClusterArn": ARN})
    result = run(msk_cluster, args(wait=False), capsys)
    assert result["changed"] and result["state"] == "CREATING" and result["cluster_arn"] == ARN
    assert result["bootstrap_brokers"]["sasl_iam"] == ""


def test_emulator_gap_msk_cluster_create_waits_then_reads_bootstrap_brokers(stub, capsys):
    stub.add_response("list_clusters_v2", {"ClusterInfoList": []}, LIST)
    stub.add_response("create_cluster", {"ClusterArn": ARN, "State": "CREATING"}, None)
    stub.add_response("describe_cluster_v2", {"ClusterInfo": info(state="CREATING")}, {"ClusterArn": ARN})
    stub.add_response("describe_cluster_v2", {"ClusterInfo": info(state="CREATING")}, {"ClusterArn": ARN})
    stub.add_response("describe_cluster_v2", {"ClusterInfo": info(state="ACTIVE")}, {"ClusterArn": ARN})
    stub.add_response("get_bootstrap_brokers", {"BootstrapBrokerStringSaslIam": "b-1:9098"}, {"ClusterArn": ARN})
    result = run(msk_cluster, args(wait=True, wait_timeout=600), capsys)
    assert result["state"] == "ACTIVE" and result["bootstrap_brokers"]["sasl_iam"] == "b-1:9098"


def test_emulator_gap_msk_cluster_converged_makes_no_write(stub, capsys):
    stub.add_response("list_clusters_v2", {"ClusterInfoList": [info()]}, LIST)
    stub.add_response("get_bootstrap_brokers", {"BootstrapBrokerStringSaslIam": "b-1:9098"}, {"ClusterArn": ARN})
    result = run(msk_cluster, args(), capsys)
    assert not result["changed"] and result["actions"] == []
    assert result["iam_resources"]["topic"].endswith(":topic/mfg-prod-shared/" + mc.cluster_uuid(ARN))


def test_emulator_gap_msk_cluster_update_with_configuration_one_operation_at_a_time(stub, capsys):
    stub.add_response("list_clusters_v2", {"ClusterInfoList": [info()]}, LIST)
    stub.add_response(
        "list_configurations",
        {
            "Configurations": [
                {
                    "Arn": CONF_ARN,
                    "Name": "mfg-prod-shared",
                    "State": "ACTIVE",
                    "KafkaVersions": [],
                    "Description": "",
                    "CreationTime": "2026-01-01T00:00:00Z",
                    "LatestRevision": {"Revision": 1, "CreationTime": "2026-01-01T00:00:00Z"},
                }
            ]
        },
        {},
    )
    stub.add_response(
        "describe_configuration_revision",
        {"Arn": CONF_ARN, "Revision": 1, "ServerProperties": b"auto.create.topics.enable=true\n"},
        {"Arn": CONF_ARN, "Revision": 1},
    )
    stub.add_response(
        "update_configuration",
        {"Arn": CONF_ARN, "LatestRevision": {"Revision": 2, "CreationTime": "2026-01-02T00:00:00Z"}},
        {"Arn": CONF_ARN, "ServerProperties": PROPS_TEXT},
    )
    stub.add_response(
        "update_monitoring",
        {"ClusterArn": ARN, "ClusterOperationArn": "op1"},
        {
            "ClusterArn": ARN,
            "CurrentVersion": "K3AEGXETSR30VB",
            "EnhancedMonitoring": "PER_BROKER",
            "LoggingInfo": {
                "BrokerLogs": {"CloudWatchLogs": {"Enabled": True, "LogGroup": "/mfg-prod/shared/msk/broker-logs"}}
            },
        },
    )
    after_monitoring = info(state="ACTIVE", EnhancedMonitoring="PER_BROKER")
    after_monitoring["CurrentVersion"] = "V2"
    stub.add_response("describe_cluster_v2", {"ClusterInfo": after_monitoring}, {"ClusterArn": ARN})
    stub.add_response(
        "update_cluster_configuration",
        {"ClusterArn": ARN, "ClusterOperationArn": "op2"},
        {"ClusterArn": ARN, "CurrentVersion": "V2", "ConfigurationInfo": {"Arn": CONF_ARN, "Revision": 2}},
    )
    stub.add_response("describe_cluster_v2", {"ClusterInfo": after_monitoring}, {"ClusterArn": ARN})
    stub.add_response("get_bootstrap_brokers", {"BootstrapBrokerStringSaslIam": "b-1:9098"}, {"ClusterArn": ARN})
    result = run(
        msk_cluster,
        args(enhanced_monitoring="PER_BROKER", configuration={"name": "mfg-prod-shared", "server_properties": PROPS}),
        capsys,
        diff=True,
    )
    assert result["changed"] and result["pending_updates"] == []
    assert result["actions"][0] == "update configuration mfg-prod-shared"
    assert result["actions"][1].startswith("update monitoring")
    assert result["configuration"]["revision"] == 2
    assert result["diff"]["before"]["configuration"] == {"auto.create.topics.enable": "true"}


def test_emulator_gap_msk_cluster_without_wait_starts_one_update_and_reports_the_rest(stub, capsys):
    stub.add_response("list_clusters_v2", {"ClusterInfoList": [info()]}, LIST)
    stub.add_response("update_monitoring", {"ClusterArn": ARN, "ClusterOperationArn": "op1"}, None)
    stub.add_response("describe_cluster_v2", {"ClusterInfo": info(state="UPDATING")}, {"ClusterArn": ARN})
    result = run(msk_cluster, args(wait=False, enhanced_monitoring="DEFAULT", ebs_volume_size=2000), capsys)
    assert result["changed"] and result["state"] == "UPDATING"
    assert len(result["pending_updates"]) == 1 and "broker storage" in result["pending_updates"][0]
    assert "re-run" in json.dumps(result.get("warnings", [])), result.keys()


def test_cluster_not_active_without_wait_fails_clearly(stub, capsys):
    stub.add_response("list_clusters_v2", {"ClusterInfoList": [info(state="CREATING")]}, LIST)
    result = run(msk_cluster, args(wait=False, instance_type="kafka.m7g.xlarge"), capsys)
    assert result["failed"] and "is CREATING" in result["msg"] and "change broker type" in result["msg"]


def test_check_mode_reports_updates_and_writes_nothing(stub, capsys):
    stub.add_response("list_clusters_v2", {"ClusterInfoList": [info()]}, LIST)
    stub.add_response("get_bootstrap_brokers", {}, {"ClusterArn": ARN})
    result = run(
        msk_cluster,
        args(instance_type="kafka.m7g.xlarge", tags={"Environment": "prod", "X": "1"}),
        capsys,
        check_mode=True,
        diff=True,
    )
    assert result["changed"]
    assert result["actions"] == [
        "tag cluster mfg-prod-shared: set ['X'], remove []",
        "change broker type kafka.m7g.large -> kafka.m7g.xlarge",
    ]
    assert result["diff"]["after"]["cluster"]["instance_type"] == "kafka.m7g.xlarge"


def test_immutable_change_fails_without_writing(stub, capsys):
    stub.add_response("list_clusters_v2", {"ClusterInfoList": [info()]}, LIST)
    result = run(msk_cluster, args(security_groups=["sg-9"]), capsys)
    assert result["failed"] and "security groups cannot change" in result["msg"]


def test_invalid_parameters(capsys):
    result = run(msk_cluster, args(name="bad_name!", subnets=["subnet-1"]), capsys)
    assert result["failed"] and "name" in result["msg"] and "2 or 3 client subnets" in result["msg"]


def test_emulator_gap_msk_cluster_absent_waits_and_deletes_configuration(stub, capsys):
    stub.add_response("list_clusters_v2", {"ClusterInfoList": [info()]}, LIST)
    stub.add_response(
        "delete_cluster",
        {"ClusterArn": ARN, "State": "DELETING"},
        {"ClusterArn": ARN, "CurrentVersion": "K3AEGXETSR30VB"},
    )
    stub.add_client_error("describe_cluster_v2", "NotFoundException", http_status_code=404)
    stub.add_response(
        "list_configurations",
        {
            "Configurations": [
                {
                    "Arn": CONF_ARN,
                    "Name": "mfg-prod-shared",
                    "State": "ACTIVE",
                    "KafkaVersions": [],
                    "Description": "",
                    "CreationTime": "2026-01-01T00:00:00Z",
                    "LatestRevision": {"Revision": 1, "CreationTime": "2026-01-01T00:00:00Z"},
                }
            ]
        },
        {},
    )
    stub.add_response("delete_configuration", {"Arn": CONF_ARN, "State": "DELETING"}, {"Arn": CONF_ARN})
    result = run(
        msk_cluster,
        dict(
            AWS,
            name="mfg-prod-shared",
            state="absent",
            configuration={"name": "mfg-prod-shared", "server_properties": {}},
        ),
        capsys,
    )
    assert result["changed"] and result["actions"] == [
        "delete cluster mfg-prod-shared",
        "delete configuration mfg-prod-shared",
    ]


def test_info_module_reports_settings(stub, capsys):
    stub.add_response("list_clusters_v2", {"ClusterInfoList": [info(state="CREATING")]}, LIST)
    result = run(msk_cluster_info, dict(AWS, name="mfg-prod-shared"), capsys)
    cluster = result["clusters"][0]
    assert not result["changed"] and cluster["state"] == "CREATING"
    assert cluster["settings"]["sasl_iam"] and cluster["bootstrap_brokers"]["sasl_iam"] == ""
