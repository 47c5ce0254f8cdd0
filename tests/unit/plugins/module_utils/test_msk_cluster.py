"""Unit tests of plugins/module_utils/msk_cluster.py.

Pure functions (normalised state, update plan, server.properties, IAM resource ARNs) are tested on plain data.
The MSK calls the local emulator (moto) does not implement - configurations (``ListConfigurations``,
``CreateConfiguration``, ``DescribeConfigurationRevision``, ``UpdateConfiguration``, ``DeleteConfiguration``) and
``GetBootstrapBrokers`` - are tested with botocore's Stubber on a real ``boto3.client("kafka")``, which validates
every request against the installed service model (``test_emulator_gap_*``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_COLLECTIONS = Path(__file__).resolve().parents[4] / "collections"
if str(_COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(_COLLECTIONS))

import boto3  # noqa: E402
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry, RetryingBotoClientWrapper  # noqa: E402
from botocore.stub import Stubber  # noqa: E402

from ansible_collections.manufacturing.platform.plugins.module_utils import msk_cluster as mc  # noqa: E402

ARN = "arn:aws:kafka:us-east-1:123456789012:cluster/mfg-prod-shared/0a1b2c3d-1111-2222-3333-444455556666-2"
CONF_ARN = "arn:aws:kafka:us-east-1:123456789012:configuration/mfg-prod-shared/9f8e7d6c-1111-2222-3333-444455556666-2"
KEY = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
PROPS = {"auto.create.topics.enable": False, "default.replication.factor": 3, "min.insync.replicas": 2}
PROPS_TEXT = b"auto.create.topics.enable=false\ndefault.replication.factor=3\nmin.insync.replicas=2\n"


def params(**over):
    base = {
        "kafka_version": "3.6.0",
        "instance_type": "kafka.m7g.large",
        "number_of_broker_nodes": 3,
        "subnets": ["subnet-3", "subnet-1", "subnet-2"],
        "security_groups": ["sg-1"],
        "ebs_volume_size": 1000,
        "encryption": {"kms_key_arn": KEY, "client_broker": "TLS", "in_cluster": True},
        "authentication": {
            "sasl_iam": True,
            "sasl_scram": False,
            "tls_certificate_authority_arns": [],
            "unauthenticated": False,
        },
        "enhanced_monitoring": "PER_TOPIC_PER_BROKER",
        "broker_logs": {"enabled": True, "log_group": "/mfg-prod/shared/msk/broker-logs"},
    }
    base.update(over)
    return base


def info(state="ACTIVE", **over):
    prov = {
        "BrokerNodeGroupInfo": {
            "InstanceType": "kafka.m7g.large",
            "ClientSubnets": ["subnet-1", "subnet-2", "subnet-3"],
            "SecurityGroups": ["sg-1"],
            "StorageInfo": {"EbsStorageInfo": {"VolumeSize": 1000}},
        },
        "CurrentBrokerSoftwareInfo": {
            "KafkaVersion": "3.6.0",
            "ConfigurationArn": CONF_ARN,
            "ConfigurationRevision": 1,
        },
        "ClientAuthentication": {
            "Sasl": {"Iam": {"Enabled": True}, "Scram": {"Enabled": False}},
            "Tls": {"Enabled": False},
            "Unauthenticated": {"Enabled": False},
        },
        "EncryptionInfo": {
            "EncryptionAtRest": {"DataVolumeKMSKeyId": KEY},
            "EncryptionInTransit": {"ClientBroker": "TLS", "InCluster": True},
        },
        "EnhancedMonitoring": "PER_TOPIC_PER_BROKER",
        "LoggingInfo": {
            "BrokerLogs": {"CloudWatchLogs": {"Enabled": True, "LogGroup": "/mfg-prod/shared/msk/broker-logs"}}
        },
        "NumberOfBrokerNodes": 3,
    }
    prov.update(over)
    return {
        "ClusterArn": ARN,
        "ClusterName": "mfg-prod-shared",
        "ClusterType": "PROVISIONED",
        "State": state,
        "CurrentVersion": "K3AEGXETSR30VB",
        "Tags": {"Environment": "prod"},
        "Provisioned": prov,
    }


# ---------------------------------------------------------------------------------------------------- pure


def test_cluster_uuid_and_iam_resources_from_name_and_uuid():
    assert mc.cluster_uuid(ARN) == "0a1b2c3d-1111-2222-3333-444455556666-2"
    res = mc.iam_resource_arns(ARN, "mfg-prod-shared")
    assert res["cluster"] == ARN
    assert (
        res["topic"]
        == "arn:aws:kafka:us-east-1:123456789012:topic/mfg-prod-shared/0a1b2c3d-1111-2222-3333-444455556666-2"
    )
    assert res["group"].endswith(":group/mfg-prod-shared/0a1b2c3d-1111-2222-3333-444455556666-2")
    # the emulator's ARNs lack the name: the IAM ARNs still carry it
    moto = "arn:aws:kafka:us-east-1:123456789012:cluster/0edbf860-ad0d-44fb-9c3d-71d228691fa9"
    assert mc.iam_resource_arns(moto, "mfg-local-shared")["topic"] == (
        "arn:aws:kafka:us-east-1:123456789012:topic/mfg-local-shared/0edbf860-ad0d-44fb-9c3d-71d228691fa9"
    )
    assert mc.cluster_uuid("") == ""


def test_server_properties_render_and_parse_round_trip():
    assert mc.render_server_properties(PROPS).encode() == PROPS_TEXT
    assert mc.parse_server_properties(b"# comment\n\nmin.insync.replicas = 2\nauto.create.topics.enable=false\n") == {
        "min.insync.replicas": "2",
        "auto.create.topics.enable": "false",
    }
    assert mc.parse_server_properties(PROPS_TEXT) == mc.normalize_properties(PROPS)


def test_converged_cluster_plans_nothing():
    desired = mc.desired_from_params(params())
    assert mc.plan_updates("c", desired, mc.current_from_info(info())) == []


def test_unmanaged_options_are_not_compared():
    desired = mc.desired_from_params(
        {"subnets": None, "security_groups": None, "encryption": None, "authentication": None, "broker_logs": None}
    )
    assert mc.plan_updates("c", desired, mc.current_from_info(info())) == []


def test_updates_are_planned_one_operation_each_in_msk_order():
    desired = mc.desired_from_params(
        params(
            instance_type="kafka.m7g.xlarge",
            number_of_broker_nodes=6,
            ebs_volume_size=2000,
            enhanced_monitoring="DEFAULT",
            authentication={
                "sasl_iam": True,
                "sasl_scram": True,
                "tls_certificate_authority_arns": [],
                "unauthenticated": False,
            },
            kafka_version="3.7.x",
        )
    )
    ops = mc.plan_updates(
        "c", desired, mc.current_from_info(info()), {"arn": CONF_ARN, "revision": 2, "name": "c", "pending": False}
    )
    assert [op for op, _kw, _d in ops] == list(mc.UPDATE_ORDER)
    kw = dict((op, kwargs) for op, kwargs, _d in ops)
    assert kw["update_security"] == {
        "ClientAuthentication": {
            "Sasl": {"Iam": {"Enabled": True}, "Scram": {"Enabled": True}},
            "Unauthenticated": {"Enabled": False},
            "Tls": {"Enabled": False},
        }
    }
    assert kw["update_monitoring"]["EnhancedMonitoring"] == "DEFAULT"
    assert kw["update_broker_storage"] == {
        "TargetBrokerEBSVolumeInfo": [{"KafkaBrokerNodeId": "All", "VolumeSizeGB": 2000}]
    }
    assert kw["update_broker_count"] == {"TargetNumberOfBrokerNodes": 6}
    assert kw["update_cluster_configuration"] == {"ConfigurationInfo": {"Arn": CONF_ARN, "Revision": 2}}


@pytest.mark.parametrize(
    "over, words",
    [
        ({"subnets": ["subnet-1", "subnet-2", "subnet-9"]}, "client subnets"),
        ({"security_groups": ["sg-2"]}, "security groups"),
        (
            {"encryption": {"kms_key_arn": KEY.replace("1111", "9999"), "client_broker": "TLS", "in_cluster": True}},
            "encryption-at-rest KMS key",
        ),
        ({"number_of_broker_nodes": 2}, "broker count cannot decrease"),
        ({"ebs_volume_size": 10}, "cannot shrink"),
    ],
)
def test_changes_msk_cannot_make_are_refused(over, words):
    with pytest.raises(mc.MskClusterError, match=words):
        mc.plan_updates("c", mc.desired_from_params(params(**over)), mc.current_from_info(info()))


def test_create_request_has_provisioned_settings_and_checks_broker_multiple():
    desired = mc.desired_from_params(params())
    req = mc.create_request("c", desired, {"A": "b"}, {"arn": CONF_ARN, "revision": 1})
    assert req["EncryptionInfo"] == {
        "EncryptionAtRest": {"DataVolumeKMSKeyId": KEY},
        "EncryptionInTransit": {"ClientBroker": "TLS", "InCluster": True},
    }
    assert req["ClientAuthentication"]["Sasl"]["Iam"] == {"Enabled": True}
    assert req["ClientAuthentication"]["Unauthenticated"] == {"Enabled": False}
    assert req["ConfigurationInfo"] == {"Arn": CONF_ARN, "Revision": 1}
    assert req["BrokerNodeGroupInfo"]["StorageInfo"] == {"EbsStorageInfo": {"VolumeSize": 1000}}
    # validated against the real service model
    client = boto3.client("kafka", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_response("create_cluster", {"ClusterArn": ARN, "State": "CREATING"}, req)
        client.create_cluster(**req)
    with pytest.raises(mc.MskClusterError, match="multiple"):
        mc.create_request("c", mc.desired_from_params(params(number_of_broker_nodes=4)), {})
    with pytest.raises(mc.MskClusterError, match="required"):
        mc.create_request("c", mc.desired_from_params(params(subnets=[])), {})


def test_tag_changes():
    assert mc.tag_changes({"A": "1", "B": "2"}, {"A": "1", "C": 3}, purge=True) == ({"C": "3"}, ["B"])
    assert mc.tag_changes({"A": "1", "B": "2"}, {"A": "1"}, purge=False) == ({}, [])


# ---------------------------------------------------------------------------------------------------- Stubber


@pytest.fixture
def kafka():
    client = boto3.client(
        "kafka", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    wrapped = RetryingBotoClientWrapper(
        client, AWSRetry.jittered_backoff(retries=2, delay=0, catch_extra_error_codes=mc.MSK_CLUSTER_RETRY_CODES)
    )
    with Stubber(client) as stubber:
        yield stubber, mc.MskClusterManager(wrapped, sleep=lambda s: None)
        stubber.assert_no_pending_responses()


def _conf(revision=1, name="mfg-prod-shared"):
    return {
        "Arn": CONF_ARN,
        "Name": name,
        "State": "ACTIVE",
        "KafkaVersions": [],
        "Description": "d",
        "CreationTime": "2026-01-01T00:00:00Z",
        "LatestRevision": {"Revision": revision, "CreationTime": "2026-01-01T00:00:00Z"},
    }


def test_emulator_gap_msk_configuration_create(kafka):
    stub, manager = kafka
    stub.add_response("list_configurations", {"Configurations": [_conf(name="other")], "NextToken": "t"}, {})
    stub.add_response("list_configurations", {"Configurations": []}, {"NextToken": "t"})
    stub.add_response(
        "create_configuration",
        {
            "Arn": CONF_ARN,
            "Name": "mfg-prod-shared",
            "State": "ACTIVE",
            "LatestRevision": {"Revision": 1, "CreationTime": "2026-01-01T00:00:00Z"},
        },
        {"Name": "mfg-prod-shared", "ServerProperties": PROPS_TEXT, "Description": "d"},
    )
    result = manager.ensure_configuration("mfg-prod-shared", PROPS, "d", check_mode=False)
    assert (result["arn"], result["revision"], result["changed"], result["action"]) == (CONF_ARN, 1, True, "create")


def test_emulator_gap_msk_configuration_unchanged(kafka):
    stub, manager = kafka
    stub.add_response("list_configurations", {"Configurations": [_conf(revision=3)]}, {})
    stub.add_response(
        "describe_configuration_revision",
        {"Arn": CONF_ARN, "Revision": 3, "ServerProperties": PROPS_TEXT},
        {"Arn": CONF_ARN, "Revision": 3},
    )
    result = manager.ensure_configuration("mfg-prod-shared", PROPS, "d", check_mode=False)
    assert (result["changed"], result["revision"], result["action"]) == (False, 3, "unchanged")


def test_emulator_gap_msk_configuration_update_makes_a_new_revision(kafka):
    stub, manager = kafka
    stub.add_response("list_configurations", {"Configurations": [_conf(revision=3)]}, {})
    stub.add_response(
        "describe_configuration_revision",
        {"Arn": CONF_ARN, "Revision": 3, "ServerProperties": b"auto.create.topics.enable=true\n"},
        {"Arn": CONF_ARN, "Revision": 3},
    )
    stub.add_response(
        "update_configuration",
        {"Arn": CONF_ARN, "LatestRevision": {"Revision": 4, "CreationTime": "2026-01-02T00:00:00Z"}},
        {"Arn": CONF_ARN, "ServerProperties": PROPS_TEXT, "Description": "d"},
    )
    result = manager.ensure_configuration("mfg-prod-shared", PROPS, "d", check_mode=False)
    assert (result["changed"], result["revision"]) == (True, 4)
    assert result["before"] == {"auto.create.topics.enable": "true"}
    # the cluster then moves to the new revision
    ops = mc.plan_updates("c", mc.desired_from_params(params()), mc.current_from_info(info()), result)
    assert ops[0][1] == {"ConfigurationInfo": {"Arn": CONF_ARN, "Revision": 4}}


def test_emulator_gap_msk_configuration_check_mode_reads_only(kafka):
    stub, manager = kafka
    stub.add_response("list_configurations", {"Configurations": [_conf(revision=3)]}, {})
    stub.add_response(
        "describe_configuration_revision",
        {"Arn": CONF_ARN, "Revision": 3, "ServerProperties": b"min.insync.replicas=1\n"},
        {"Arn": CONF_ARN, "Revision": 3},
    )
    result = manager.ensure_configuration("mfg-prod-shared", PROPS, "d", check_mode=True)
    assert result["changed"] and result["pending"] and result["revision"] == 3
    ops = mc.plan_updates("c", mc.desired_from_params(params()), mc.current_from_info(info()), result)
    assert [op for op, _k, _d in ops] == ["update_cluster_configuration"]
    stub.add_response("list_configurations", {"Configurations": []}, {})
    created = manager.ensure_configuration("new", PROPS, None, check_mode=True)
    assert created["pending"] and created["arn"] is None


def test_emulator_gap_msk_configuration_retries_throttling(kafka):
    stub, manager = kafka
    stub.add_client_error("list_configurations", "TooManyRequestsException", http_status_code=429)
    stub.add_response("list_configurations", {"Configurations": []}, {})
    assert manager.find_configuration("x") is None


def test_emulator_gap_msk_configuration_delete(kafka):
    stub, manager = kafka
    stub.add_response("list_configurations", {"Configurations": [_conf()]}, {})
    stub.add_response("delete_configuration", {"Arn": CONF_ARN, "State": "DELETING"}, {"Arn": CONF_ARN})
    assert manager.delete_configuration("mfg-prod-shared", check_mode=False) is True
    stub.add_response("list_configurations", {"Configurations": []}, {})
    assert manager.delete_configuration("mfg-prod-shared", check_mode=False) is False


def test_emulator_gap_msk_bootstrap_brokers(kafka):
    stub, manager = kafka
    stub.add_response(
        "get_bootstrap_brokers", {"BootstrapBrokerStringSaslIam": "b-1.x:9098,b-2.x:9098"}, {"ClusterArn": ARN}
    )
    assert manager.bootstrap_brokers(ARN) == {
        "plaintext": "",
        "tls": "",
        "sasl_scram": "",
        "sasl_iam": "b-1.x:9098,b-2.x:9098",
    }


def test_emulator_gap_msk_cluster_update_operation_shapes(kafka):
    """Every update operation the plan can produce is a valid request of the real service model."""
    stub, manager = kafka
    desired = mc.desired_from_params(
        params(
            instance_type="kafka.m7g.xlarge",
            number_of_broker_nodes=6,
            ebs_volume_size=2000,
            enhanced_monitoring="DEFAULT",
            encryption={"kms_key_arn": KEY, "client_broker": "TLS_PLAINTEXT", "in_cluster": True},
            kafka_version="3.7.x",
        )
    )
    ops = mc.plan_updates(
        "c", desired, mc.current_from_info(info()), {"arn": CONF_ARN, "revision": 2, "name": "c", "pending": False}
    )
    for operation, kwargs, _desc in ops:
        expected = dict(kwargs, ClusterArn=ARN, CurrentVersion="v1")
        stub.add_response(operation, {"ClusterArn": ARN, "ClusterOperationArn": ARN + "/op"}, expected)
        assert manager.apply_update(ARN, "v1", operation, kwargs) == ARN + "/op"


def test_find_cluster_by_exact_name_over_pages(kafka):
    stub, manager = kafka
    other = dict(info(), ClusterName="mfg-prod-shared-old", ClusterArn=ARN + "x")
    stub.add_response(
        "list_clusters_v2",
        {"ClusterInfoList": [other], "NextToken": "t"},
        {"ClusterNameFilter": "mfg-prod-shared", "ClusterTypeFilter": "PROVISIONED"},
    )
    stub.add_response(
        "list_clusters_v2",
        {"ClusterInfoList": [info()]},
        {"ClusterNameFilter": "mfg-prod-shared", "ClusterTypeFilter": "PROVISIONED", "NextToken": "t"},
    )
    assert manager.find_cluster("mfg-prod-shared")["ClusterArn"] == ARN


def test_wait_is_bounded_and_reports_the_state(kafka):
    stub, _manager = kafka
    clock = iter([0, 0, 10, 20, 31])  # deadline, then one reading after each poll
    manager = mc.MskClusterManager(_manager.client, sleep=lambda s: None, clock=lambda: next(clock), delay=10)
    for _unused in range(4):
        stub.add_response("describe_cluster_v2", {"ClusterInfo": info(state="CREATING")}, {"ClusterArn": ARN})
    with pytest.raises(mc.MskClusterError, match="still CREATING after 30s"):
        manager.wait_for(ARN, 30)


def test_wait_stops_on_failed_and_on_deleted(kafka):
    stub, manager = kafka
    failed = info(state="FAILED")
    failed["StateInfo"] = {"Code": "InsufficientCapacity", "Message": "no capacity"}
    stub.add_response("describe_cluster_v2", {"ClusterInfo": failed}, {"ClusterArn": ARN})
    with pytest.raises(mc.MskClusterError, match="FAILED: no capacity"):
        manager.wait_for(ARN, 30)
    stub.add_client_error("describe_cluster_v2", "NotFoundException", http_status_code=404)
    assert manager.wait_for(ARN, 30, target="DELETED") is None
