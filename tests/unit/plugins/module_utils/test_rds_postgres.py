"""Unit tests of the databases role's pure helpers (plugins/module_utils/rds_postgres.py, rds_sql.py)."""

import base64
import hashlib
import hmac

import pytest

from ansible_collections.manufacturing.platform.plugins.module_utils import rds_postgres as rp
from ansible_collections.manufacturing.platform.plugins.module_utils import rds_sql as rs

PARAMS = {
    "identifier": "mfg-prod-shared-postgres", "engine_version": "15.8", "instance_class": "db.r6g.large",
    "allocated_storage": 20, "max_allocated_storage": 200, "storage_type": "gp3", "port": 5432,
    "kms_key_id": "arn:aws:kms:us-east-1:1:key/k", "master_username": "platform_admin",
    "master_user_secret_kms_key_id": "arn:aws:kms:us-east-1:1:key/k", "multi_az": True, "deletion_protection": True,
    "backup_retention_period": 30, "iam_database_authentication": True,
    "performance_insights": {"enabled": True, "kms_key_id": "arn:aws:kms:us-east-1:1:key/k", "retention_period": 731},
    "cloudwatch_logs_exports": ["postgresql", "upgrade"], "vpc_security_group_ids": ["sg-1"],
    "subnet_group": {"name": "sn", "subnet_ids": ["a", "b"]}, "parameter_group": {"name": "pg", "family": "postgres15"},
    "tags": {"Environment": "prod"},
}


def described(**overrides):
    instance = {
        "DBInstanceClass": "db.r6g.large", "AllocatedStorage": 20, "MaxAllocatedStorage": 200, "MultiAZ": True,
        "DeletionProtection": True, "BackupRetentionPeriod": 30, "IAMDatabaseAuthenticationEnabled": True,
        "DBParameterGroups": [{"DBParameterGroupName": "pg"}], "VpcSecurityGroups": [{"VpcSecurityGroupId": "sg-1"}],
        "EnabledCloudwatchLogsExports": ["upgrade", "postgresql"], "MasterUserSecret": {"SecretArn": "arn"},
        "CopyTagsToSnapshot": True, "AutoMinorVersionUpgrade": True,
        "PerformanceInsightsEnabled": True, "PerformanceInsightsRetentionPeriod": 731,
        "PerformanceInsightsKMSKeyId": "arn:aws:kms:us-east-1:1:key/k",
    }
    instance.update(overrides)
    return instance


def diff(instance, params=None):
    params = params or PARAMS
    return rp.instance_differences(rp.current_settings(instance), rp.desired_settings(params))


def test_prod_create_parameters():
    kwargs = rp.create_kwargs(PARAMS)
    assert kwargs["MultiAZ"] is True and kwargs["DeletionProtection"] is True
    assert kwargs["StorageEncrypted"] is True and kwargs["KmsKeyId"] == PARAMS["kms_key_id"]
    assert kwargs["ManageMasterUserPassword"] is True and "MasterUserPassword" not in kwargs
    assert kwargs["MasterUserSecretKmsKeyId"] == PARAMS["kms_key_id"]
    assert kwargs["EnablePerformanceInsights"] is True and kwargs["PerformanceInsightsRetentionPeriod"] == 731
    assert kwargs["PerformanceInsightsKMSKeyId"] == PARAMS["kms_key_id"]
    assert kwargs["EnableIAMDatabaseAuthentication"] is True and kwargs["PubliclyAccessible"] is False
    assert kwargs["BackupRetentionPeriod"] == 30 and kwargs["DBSubnetGroupName"] == "sn"
    assert kwargs["Tags"] == [{"Key": "Environment", "Value": "prod"}]


def test_converged_instance_has_no_difference():
    assert diff(described()) == []


def test_performance_insights_not_reported_is_not_a_difference():
    instance = described()
    for key in ("PerformanceInsightsEnabled", "PerformanceInsightsRetentionPeriod", "PerformanceInsightsKMSKeyId"):
        instance.pop(key)
    assert diff(instance) == []


def test_pi_key_sent_only_when_switching_pi_on():
    changes = diff(described(PerformanceInsightsRetentionPeriod=7))
    assert changes == ["performance_insights_retention"]
    kwargs = rp.modify_kwargs(changes, rp.desired_settings(PARAMS), PARAMS)
    assert kwargs == {"EnablePerformanceInsights": True, "PerformanceInsightsRetentionPeriod": 731}
    changes = diff(described(PerformanceInsightsEnabled=False))
    kwargs = rp.modify_kwargs(changes, rp.desired_settings(PARAMS), PARAMS)
    assert kwargs["PerformanceInsightsKMSKeyId"] == PARAMS["kms_key_id"]


def test_pending_modifications_count_as_done_and_storage_only_grows():
    pending = {"DBInstanceClass": "db.r6g.large"}
    assert diff(described(DBInstanceClass="db.t4g.medium", PendingModifiedValues=pending)) == []
    assert diff(described(AllocatedStorage=100)) == []
    assert diff(described(MultiAZ=False)) == ["multi_az"]


def test_missing_managed_master_password_is_enabled_with_the_key():
    instance = described()
    instance.pop("MasterUserSecret")
    changes = diff(instance)
    assert changes == ["manage_master_user_password"]
    assert rp.modify_kwargs(changes, rp.desired_settings(PARAMS), PARAMS) == {
        "ManageMasterUserPassword": True, "MasterUserSecretKmsKeyId": PARAMS["kms_key_id"]}


def test_log_exports():
    current = rp.current_settings(described(EnabledCloudwatchLogsExports=["postgresql", "audit"]))
    desired = rp.desired_settings(PARAMS)
    assert rp.logs_exports_to_disable(current, desired) == ["audit"]


@pytest.mark.parametrize("value, ok", [
    ("db.t4g.micro", True), ("db.r6g.2xlarge", True), ("db.m6i.32xlarge", True), ("db.t4g.8xlarge", False),
    ("db.x9.large", False), ("t4g.micro", False), ("", False), (None, False),
])
def test_instance_classes(value, ok):
    assert (rp.instance_class_problem(value) is None) is ok


def test_sizing():
    ladder = [{"max_machines": 50, "instance_class": "db.t4g.medium"},
              {"max_machines": 500, "instance_class": "db.r6g.large"}]
    assert rp.resolve_instance_class("", 15, ladder) == "db.t4g.medium"
    assert rp.resolve_instance_class("", 50, ladder) == "db.t4g.medium"
    assert rp.resolve_instance_class("", 51, ladder) == "db.r6g.large"
    assert rp.resolve_instance_class("", 501, ladder) is None
    assert rp.resolve_instance_class("db.r6g.xlarge", 501, ladder) == "db.r6g.xlarge"


def test_parameters_compare_user_values_only():
    wanted = rp.normalize_parameters({"rds.force_ssl": 1, "log_connections": True,
                                      "shared_preload_libraries": {"value": "pg_stat_statements",
                                                                   "apply_method": "pending-reboot"}})
    assert rp.parameter_changes({"rds.force_ssl": "1", "log_connections": "1",
                                 "shared_preload_libraries": "pg_stat_statements"}, wanted) == []
    changes = rp.parameter_changes({"rds.force_ssl": "0"}, wanted)
    assert [c["ParameterName"] for c in changes] == ["log_connections", "rds.force_ssl", "shared_preload_libraries"]
    assert changes[2]["ApplyMethod"] == "pending-reboot"


def test_tags_ignore_aws_reserved():
    add, remove = rp.tag_changes([{"Key": "aws:x", "Value": "1"}, {"Key": "Old", "Value": "1"}], {"New": "2"})
    assert add == [{"Key": "New", "Value": "2"}] and remove == ["Old"]


def test_scram_verifier_is_what_postgres_computes():
    salt = b"0123456789abcdef"
    verifier = rp.scram_sha256_verifier("s3cret", salt)
    iterations, rest = verifier.split("$", 1)[1].split(":", 1)
    assert iterations == "4096" and base64.b64decode(rest.split("$")[0]) == salt
    salted = hashlib.pbkdf2_hmac("sha256", b"s3cret", salt, 4096)
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    assert verifier.endswith(":" + base64.b64encode(server_key).decode())
    assert rp.scram_matches(verifier, "s3cret") and not rp.scram_matches(verifier, "other")
    assert "s3cret" not in rp.scram_sha256_verifier("s3cret")


def test_identifier_for():
    assert rp.identifier_for("customer-456") == "t_customer_456"


def test_split_statements_respects_quotes_comments_and_dollars():
    script = ("-- a; comment\nCREATE TABLE a (x text CHECK (x ~ '^a;b$'));\n/* b; */ SELECT 1;\n"
              "DO $$ BEGIN PERFORM 1; END $$;\nSELECT \"we;ird\" FROM t")
    assert rs.split_statements(script) == ["CREATE TABLE a (x text CHECK (x ~ '^a;b$'))", "SELECT 1",
                                           "DO $$ BEGIN PERFORM 1; END $$", 'SELECT "we;ird" FROM t']


def test_snapshot_difference():
    before = {"relations": frozenset({("public.a", "r", "o")})}
    after = {"relations": frozenset({("public.a", "r", "o"), ("public.b", "r", "o")})}
    assert rs.snapshot_difference(before, after) == ["relations: public.b"]
    assert rs.snapshot_difference(after, after) == []


def test_check_ident():
    assert rs.check_ident("t_customer_456") == "t_customer_456"
    with pytest.raises(ValueError):
        rs.check_ident('t"; DROP')


# ------------------------------------------------------------------------------------------------ Enhanced Monitoring

MONITORING_ROLE = "arn:aws:iam::1:role/mfg-prod-rds-monitoring"
MONITORED = dict(PARAMS, monitoring_interval=60, monitoring_role_arn=MONITORING_ROLE)


def test_enhanced_monitoring_on_create_sends_interval_and_role():
    kwargs = rp.create_kwargs(MONITORED)
    assert (kwargs["MonitoringInterval"], kwargs["MonitoringRoleArn"]) == (60, MONITORING_ROLE)
    assert "MonitoringInterval" not in rp.create_kwargs(dict(PARAMS, monitoring_interval=0))


def test_enhanced_monitoring_switched_on_in_place_sends_both_fields():
    instance = described(MonitoringInterval=0)
    changes = diff(instance, MONITORED)
    assert sorted(changes) == ["monitoring_interval", "monitoring_role_arn"]
    assert rp.modify_kwargs(changes, rp.desired_settings(MONITORED), MONITORED) == {
        "MonitoringInterval": 60, "MonitoringRoleArn": MONITORING_ROLE}


def test_enhanced_monitoring_converged_and_pending_are_no_difference():
    assert diff(described(MonitoringInterval=60, MonitoringRoleArn=MONITORING_ROLE), MONITORED) == []
    pending = described(MonitoringInterval=0, MonitoringRoleArn=MONITORING_ROLE,
                        PendingModifiedValues={"MonitoringInterval": 60})
    assert diff(pending, MONITORED) == []


def test_enhanced_monitoring_off_sends_the_interval_only_and_leaves_the_role():
    off = dict(PARAMS, monitoring_interval=0)
    changes = diff(described(MonitoringInterval=60, MonitoringRoleArn=MONITORING_ROLE), off)
    assert changes == ["monitoring_interval"]
    assert rp.modify_kwargs(changes, rp.desired_settings(off), off) == {"MonitoringInterval": 0}
