"""Databases role (issue 5): RDS PostgreSQL per tier, per-tenant databases and roles, TimescaleDB retention.

State is read back after the session's converge of the reference fleet (`converged`): RDS and Secrets Manager
with boto3 from the emulator, tenant isolation on the local cloud's real PostgreSQL (TLS, verify-full), the
retention policies from TimescaleDB's timescaledb_information.jobs. Production sizing is read from the
inventory with env=prod (no AWS call), the RDS parameters it turns into are unit-tested
(tests/unit/plugins/module_utils/test_rds_postgres.py).
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import psycopg
import pytest
import yaml
from support.databases import pg_connect, tsdb_connect
from support.playbook import BIN, ROOT, ansible_env, load_fleet, run_playbook, write_inventory

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PREFIX = "mfg-local"
SHARED_ID = "%s-shared-postgres" % PREFIX
DEDICATED = "customer-123"
DEDICATED_ID = "%s-%s-postgres" % (PREFIX, DEDICATED)
TENANT_TABLES = {"machines", "alert_rules", "alerts", "alert_state"}


def tenants():
    return load_fleet()["all"]["children"]["tenants"]["hosts"]


def ident(tenant_id):
    return "t_" + tenant_id.replace("-", "_")


def role_task_names():
    names = set()
    for path in (ROOT / "roles" / "databases" / "tasks").glob("*.yml"):
        for task in yaml.safe_load(path.read_text()) or []:
            names.add(task.get("name"))
            names.update(t.get("name") for t in task.get("block", []))
    names.discard(None)
    return names


def secret_json(aws, name):
    return json.loads(aws("secretsmanager").get_secret_value(SecretId=name)["SecretString"])


def key_arn(aws, alias):
    return aws("kms").describe_key(KeyId="alias/" + alias)["KeyMetadata"]["Arn"]


def retention_jobs(endpoints):
    with tsdb_connect(endpoints) as conn:
        rows = conn.execute("SELECT hypertable_schema, hypertable_name, config->>'drop_after' "
                            "FROM timescaledb_information.jobs WHERE proc_name = 'policy_retention'").fetchall()
    return {(schema, table): drop_after for schema, table, drop_after in rows}


# ------------------------------------------------------------------------------------------------ RDS


def test_instances_encrypted_and_sized_per_env(converged, aws):
    rds = aws("rds")
    shared = rds.describe_db_instances(DBInstanceIdentifier=SHARED_ID)["DBInstances"][0]
    dedicated = rds.describe_db_instances(DBInstanceIdentifier=DEDICATED_ID)["DBInstances"][0]
    env_key, tenant_key = key_arn(aws, PREFIX), key_arn(aws, "%s-%s" % (PREFIX, DEDICATED))
    for instance, key in ((shared, env_key), (dedicated, tenant_key)):
        assert instance["Engine"] == "postgres"
        assert instance["DBInstanceClass"] == "db.t4g.micro"  # env=local sizing (group_vars/env_local.yml)
        assert instance["StorageEncrypted"] is True and instance["KmsKeyId"] == key
        assert instance["MultiAZ"] is False and instance["DeletionProtection"] is False
        assert instance["BackupRetentionPeriod"] == 1
        assert instance["IAMDatabaseAuthenticationEnabled"] is True
        assert instance["MasterUserSecret"]["KmsKeyId"] == key  # ManageMasterUserPassword with our key
        assert "postgresql" in instance["EnabledCloudwatchLogsExports"]
    # only the shared instance and the dedicated tenant's: shared-tier tenants have none of their own
    ids = {i["DBInstanceIdentifier"] for i in rds.describe_db_instances()["DBInstances"]}
    assert {"%s-customer-456-postgres" % PREFIX, "%s-customer-789-postgres" % PREFIX}.isdisjoint(ids)


def test_enhanced_monitoring_on_every_instance_through_the_environments_role(converged, aws):
    """Both instances sample OS metrics every 60 s with the environment's monitoring role, which only RDS Enhanced
    Monitoring acting for this account may assume and which carries AWS's managed policy for it, nothing else."""
    rds, iam = aws("rds"), aws("iam")
    role = iam.get_role(RoleName="%s-rds-monitoring" % PREFIX)["Role"]
    for identifier in (SHARED_ID, DEDICATED_ID):
        instance = rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
        assert (instance["MonitoringInterval"], instance["MonitoringRoleArn"]) == (60, role["Arn"]), identifier
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    assert trust["Statement"] == [{
        "Effect": "Allow", "Principal": {"Service": "monitoring.rds.amazonaws.com"}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}}}]
    attached = iam.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [
        "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"]
    assert iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"] == []


def test_subnet_group_on_isolated_subnets_and_tls_parameter_group(converged, aws):
    rds, ec2 = aws("rds"), aws("ec2")
    for identifier in (SHARED_ID, DEDICATED_ID):
        instance = rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
        subnet_ids = [s["SubnetIdentifier"] for s in instance["DBSubnetGroup"]["Subnets"]]
        assert len(subnet_ids) >= 2
        subnets = ec2.describe_subnets(SubnetIds=subnet_ids)["Subnets"]
        roles = {t["Value"] for s in subnets for t in s.get("Tags", []) if t["Key"] == "NetworkRole"}
        assert roles and all("isolated" in r for r in roles), roles
        group = instance["DBParameterGroups"][0]["DBParameterGroupName"]
        params = {p["ParameterName"]: p["ParameterValue"]
                  for p in rds.describe_db_parameters(DBParameterGroupName=group, Source="user")["Parameters"]}
        assert params["rds.force_ssl"] == "1" and params["ssl_min_protocol_version"] == "TLSv1.2"
        assert params["log_connections"] == "1" and params["log_min_duration_statement"] == "1000"


def test_rds_proxy_per_instance(converged, aws):
    rds = aws("rds")
    for identifier in (SHARED_ID, DEDICATED_ID):
        proxy = rds.describe_db_proxies(DBProxyName=identifier)["DBProxies"][0]
        assert proxy["EngineFamily"] == "POSTGRESQL" and proxy["RequireTLS"] is True
        assert proxy["Auth"][0]["IAMAuth"] == "REQUIRED"
        targets = rds.describe_db_proxy_targets(DBProxyName=identifier)["Targets"]
        assert [t["RdsResourceId"] for t in targets] == [identifier]



def test_proxy_role_reads_only_postgres_secrets_and_only_rds_assumes_it(converged, aws):
    """Security review finding: the RDS Proxy role could read every <prefix>/* secret, the TimescaleDB admin secret
    included. Read back from the emulator: its policy admits the RDS-managed master secrets and the PostgreSQL
    secrets of the environment, no TimescaleDB secret (judged with the project's IAM evaluator, since the emulator
    has no policy simulator); its trust policy admits RDS for this account only."""
    from ansible_collections.manufacturing.platform.plugins.module_utils import msk_iam_policy as iam

    role = "%s-rds-proxy" % PREFIX
    doc = aws("iam").get_role_policy(RoleName=role, PolicyName="database-secrets")["PolicyDocument"]
    doc = json.loads(doc) if isinstance(doc, str) else doc
    reads = {"Version": doc["Version"],
             "Statement": [s for s in doc["Statement"] if s["Sid"] == "ReadPostgresSecretsOnly"]}
    secrets = [s["ARN"] for page in aws("secretsmanager").get_paginator("list_secrets").paginate()
               for s in page["SecretList"] if s["Name"].startswith(PREFIX + "/")]
    postgres = [a for a in secrets if a.split(":secret:")[1].rsplit("-", 1)[0].endswith("/postgres")]
    others = [a for a in secrets if a not in postgres]
    assert len(postgres) >= len(tenants()) and any("timescaledb" in a for a in others), secrets
    for arn in postgres:
        assert iam.evaluate(reads, "secretsmanager:GetSecretValue", arn) == iam.ALLOW, arn
    for arn in others:
        assert iam.evaluate(reads, "secretsmanager:GetSecretValue", arn) == iam.IMPLICIT_DENY, arn
    master = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-0a1b2c3d-1111-2222-3333-444455556666-AbCdEf"
    assert iam.evaluate(reads, "secretsmanager:GetSecretValue", master) == iam.ALLOW
    trust = aws("iam").get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    [statement] = trust["Statement"]
    assert statement["Principal"] == {"Service": "rds.amazonaws.com"}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}

def test_rds_log_export_groups_created_first_with_kms_and_retention(converged, aws):
    """RDS would create /aws/rds/instance/<id>/<type> itself, unencrypted and kept forever: the role creates them."""
    logs = aws("logs")
    for identifier, alias in ((SHARED_ID, PREFIX), (DEDICATED_ID, "%s-%s" % (PREFIX, DEDICATED))):
        groups = logs.describe_log_groups(logGroupNamePrefix="/aws/rds/instance/%s/" % identifier)["logGroups"]
        assert sorted(g["logGroupName"].rsplit("/", 1)[1] for g in groups) == ["postgresql", "upgrade"]
        for group in groups:
            assert group["kmsKeyId"] == key_arn(aws, alias) and group["retentionInDays"] == 7, group


def test_prod_sizing_from_the_inventory():
    """env=prod: multi-AZ, deletion protection, 30 days of backups, the prod class; dedicated right-sized."""
    expr = ("{{ {'class': databases_instance_class, 'multi_az': databases_multi_az, 'protect': "
            "platform_deletion_protection, 'backups': databases_backup_retention_days, 'pi': "
            "databases_performance_insights_retention_days, 'dedicated': databases_dedicated_sizing "
            "| selectattr('max_machines', 'ge', tenant_machines | default(0) | int) | map(attribute="
            "'instance_class') | first} }}")
    cmd = [str(BIN / "ansible"), "platform-shared,customer-123", "-e", "env=prod", "-m", "ansible.builtin.debug",
           "-a", "msg=" + expr]
    env = ansible_env({"ANSIBLE_LOAD_CALLBACK_PLUGINS": "1"})
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    data = json.loads(proc.stdout[proc.stdout.find("{"):])
    values = {host: result["msg"] for play in data["plays"] for task in play["tasks"]
              for host, result in task["hosts"].items()}
    assert set(values) == {"platform-shared", "customer-123"}, proc.stdout[-2000:]
    for value in values.values():
        assert value["class"] == "db.r6g.large" and value["multi_az"] is True and value["protect"] is True
        assert value["backups"] == 30 and value["pi"] == 731
    assert values["customer-123"]["dedicated"] == "db.t4g.medium"  # 15 machines -> the first step


# ------------------------------------------------------------------------------------------------ secrets


def test_secrets_exist_and_are_kms_encrypted(converged, aws):
    sm = aws("secretsmanager")
    env_key = key_arn(aws, PREFIX)
    assert sm.describe_secret(SecretId="%s/timescaledb" % PREFIX)["KmsKeyId"] == env_key
    for host, tvars in tenants().items():
        key = key_arn(aws, "%s-%s" % (PREFIX, host)) if tvars["tenancy_tier"] == "dedicated" else env_key
        for kind in ("postgres", "timescaledb"):
            name = "%s/%s/%s" % (PREFIX, host, kind)
            assert sm.describe_secret(SecretId=name)["KmsKeyId"] == key, name
        pg = secret_json(aws, "%s/%s/postgres" % (PREFIX, host))
        assert pg["username"] == pg["dbname"] == ident(host) and len(pg["password"]) >= 32
        ts = secret_json(aws, "%s/%s/timescaledb" % (PREFIX, host))
        assert ts["schema"] == ts["username"] == ident(host) and len(ts["password"]) >= 32


def test_passwords_are_generated_once(converged, aws):
    """The second converge kept every tenant password (the secrets have one version each)."""
    sm = aws("secretsmanager")
    for host in tenants():
        versions = sm.list_secret_version_ids(SecretId="%s/%s/postgres" % (PREFIX, host))["Versions"]
        assert len(versions) == 1, versions


# ------------------------------------------------------------------------------------------------ PostgreSQL


def test_each_tenant_reaches_only_its_own_database(converged, aws, endpoints):
    hosts = sorted(tenants())
    passwords = {h: secret_json(aws, "%s/%s/postgres" % (PREFIX, h))["password"] for h in hosts}
    for host in hosts:
        with pg_connect(endpoints, ident(host), passwords[host], ident(host)) as conn:
            tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
            assert tables >= TENANT_TABLES
            owners = {r[0] for r in conn.execute("SELECT tableowner FROM pg_tables WHERE schemaname = 'public'")}
            assert owners == {ident(host)}
        for other in hosts:
            if other == host:
                continue
            with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
                pg_connect(endpoints, ident(host), passwords[host], ident(other)).close()


def test_tenant_databases_closed_to_public(converged, endpoints):
    pg = endpoints["postgres"]
    with pg_connect(endpoints, pg["user"], pg["password"], "postgres") as conn:
        for host in tenants():
            owner, acl = conn.execute("SELECT pg_get_userbyid(datdba), datacl::text FROM pg_database "
                                      "WHERE datname = %s", (ident(host),)).fetchone()
            assert owner == ident(host)
            assert "=c" not in acl.replace("%s=" % ident(host), "") and not acl.strip("{}").startswith("=")
            role = conn.execute("SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = %s",
                                (ident(host),)).fetchone()
            assert role == (False, False, False)


# ------------------------------------------------------------------------------------------------ TimescaleDB


def test_tenant_timescaledb_secret_holds_its_own_role_not_the_admin(converged, aws, endpoints):
    """The secret the tenant's Lambda reads never carries the TimescaleDB admin's user or password."""
    admin = endpoints["timescaledb"]
    for host in tenants():
        ts = secret_json(aws, "%s/%s/timescaledb" % (PREFIX, host))
        assert ts["username"] != admin["user"] and ts["password"] != admin["password"]


def test_each_tenant_reaches_only_its_own_timescaledb_schema(converged, aws, endpoints):
    hosts = sorted(tenants())
    creds = {h: secret_json(aws, "%s/%s/timescaledb" % (PREFIX, h)) for h in hosts}
    for host in hosts:
        schema = creds[host]["schema"]
        with tsdb_connect(endpoints, creds[host]["username"], creds[host]["password"]) as conn:
            assert conn.execute("SELECT current_user, current_setting('is_superuser')").fetchone() == (
                ident(host), "off")
            with conn.transaction(force_rollback=True):  # what the alert processor does, rolled back
                conn.execute(psycopg.sql.SQL("INSERT INTO {}.machine_metrics (time, machine_id, metric, value) "
                                             "VALUES (now(), 'm-1', 'temperature', 21.5) ON CONFLICT DO NOTHING")
                             .format(psycopg.sql.Identifier(schema)))
                conn.execute(psycopg.sql.SQL("SELECT count(*) FROM {}.machine_metrics")
                             .format(psycopg.sql.Identifier(schema))).fetchone()
            with pytest.raises(psycopg.errors.InsufficientPrivilege):  # SELECT, INSERT only (least privilege)
                conn.execute(psycopg.sql.SQL("DELETE FROM {}.machine_metrics").format(psycopg.sql.Identifier(schema)))
            conn.rollback()
            for other in hosts:
                if other == host:
                    continue
                with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied for schema"):
                    conn.execute(psycopg.sql.SQL("SELECT count(*) FROM {}.machine_metrics")
                                 .format(psycopg.sql.Identifier(creds[other]["schema"])))
                conn.rollback()
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("CREATE SCHEMA sneaky")
            conn.rollback()


def test_tenant_timescaledb_schemas_closed_to_public(converged, endpoints):
    with tsdb_connect(endpoints) as conn:
        for host in tenants():
            acl = conn.execute("SELECT coalesce(nspacl::text, '') FROM pg_namespace WHERE nspname = %s",
                               (ident(host),)).fetchone()[0]
            grantees = {entry.split("=")[0] for entry in acl.strip("{}").split(",") if entry}
            assert grantees <= {ident(host), endpoints["timescaledb"]["user"]}, acl
            assert ident(host) in grantees
            role = conn.execute("SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = %s",
                                (ident(host),)).fetchone()
            assert role == (False, False, False)


def test_retention_policies_per_tenant(converged, endpoints):
    jobs = retention_jobs(endpoints)
    for host in tenants():
        assert jobs.get((ident(host), "machine_metrics")) == "30 days", jobs


# ---------------------------------------------------------------------------------- idempotence, check mode, logs


def test_second_converge_changes_nothing_in_this_role(converged):
    _, second = converged
    ours = role_task_names()
    assert [(t, h) for t, h in second.changed_tasks() if t in ours] == []


def test_check_diff_makes_no_mutating_request_and_no_sql_write(site_check_diff):
    run = site_check_diff.run
    assert run.rc == 0, run.explain()
    assert site_check_diff.mutating == []
    assert [(t, h) for t, h in run.changed_tasks() if t in role_task_names()] == []
    assert site_check_diff.databases_after == site_check_diff.databases_before


def test_no_password_in_verbose_output(converged, aws, endpoints):
    """The session's second converge runs the whole site.yml with -vvv: no password in anything it printed."""
    _first, run = converged
    assert run.rc == 0 and "-vvv" in run.args
    assert "EXEC" in run.stdout + run.stderr  # it really was verbose
    output = run.stdout + run.stderr
    secrets = [endpoints["postgres"]["password"], endpoints["timescaledb"]["password"]]
    secrets += [secret_json(aws, "%s/%s/%s" % (PREFIX, h, kind))["password"] for h in tenants()
                for kind in ("postgres", "timescaledb")]
    for secret in secrets:
        assert secret and secret not in output


# ------------------------------------------------------------------------------------------------ TLS to TimescaleDB


def tsdb_connect_as(secret, **overrides):
    """Connect with a connection secret exactly as the alert processor does (its sslmode and sslrootcert)."""
    kwargs = dict(host=secret["host"], port=secret["port"], dbname=secret["dbname"], user=secret["username"],
                  password=secret["password"], sslmode=secret["sslmode"], sslrootcert=secret.get("sslrootcert"),
                  connect_timeout=90)
    kwargs.update(overrides)
    return psycopg.connect(**kwargs)


def test_timescaledb_secrets_verify_the_server_and_plaintext_is_refused(converged, aws, endpoints):
    """Every TimescaleDB secret says verify-full with the CA of the server's certificate; the tenant's own
    credentials connect over TLS; the server refuses a session without TLS and a client that trusts another CA."""
    ca = endpoints["timescaledb"]["sslrootcert"]
    names = ["%s/timescaledb" % PREFIX, "%s/%s/timescaledb-admin" % (PREFIX, DEDICATED)]
    names += ["%s/%s/timescaledb" % (PREFIX, host) for host in tenants()]
    for name in names:
        secret = secret_json(aws, name)
        assert (secret["sslmode"], secret["sslrootcert"]) == ("verify-full", ca), name
    for host in tenants():
        secret = secret_json(aws, "%s/%s/timescaledb" % (PREFIX, host))
        with tsdb_connect_as(secret) as conn:
            assert conn.pgconn.ssl_in_use and conn.execute("SELECT current_user").fetchone() == (ident(host),)
    secret = secret_json(aws, "%s/%s/timescaledb" % (PREFIX, DEDICATED))
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        tsdb_connect_as(secret, sslmode="disable", sslrootcert=None, connect_timeout=10)
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        tsdb_connect_as(secret, sslrootcert=endpoints["postgres"]["sslrootcert"], connect_timeout=10)


TSDB_ADMIN_PLAY = """
- name: The databases role reads a TimescaleDB admin connection (tasks/tsdb_admin.yml)
  hosts: platform_shared
  gather_facts: false
  tasks:
    - name: Read it as delete, shared_usage and the tenant converge do
      ansible.builtin.include_role:
        name: manufacturing.platform.databases
        tasks_from: tsdb_admin.yml

    - name: Show the TLS settings the modules get
      ansible.builtin.debug:
        msg: "tls={{ _databases_tsdb_sslmode }} {{ _databases_tsdb_ca_cert }}"
"""


@pytest.mark.parametrize("env, value, outcome", [
    ("dev", {"sslmode": "require"}, "refused"),
    ("prod", {"sslmode": "verify-ca", "sslrootcert": "/etc/ssl/tsdb-ca.pem"}, "refused"),
    ("dev", {}, "tls=verify-full system"),
    ("prod", {"sslmode": "verify-full", "sslrootcert": "/etc/ssl/tsdb-ca.pem"}, "tls=verify-full /etc/ssl/tsdb-ca.pem"),
    ("local", {"sslmode": "require"}, "tls=require "),
])
def test_weak_tls_in_a_timescaledb_secret_is_refused_outside_local(tmp_path, aws, endpoints, env, value, outcome):
    """A connection secret provisioned outside the platform (dev/prod) that does not verify the server stops the
    role before any connection; without sslmode it gets verify-full with the OS trust store."""
    name = "tls-probe/%s/%s" % (env, tmp_path.name)
    secret = dict(host="tsdb.example.internal", port=5432, username="admin", password="probe-only", dbname="tsdb",
                  **value)
    aws("secretsmanager").create_secret(Name=name, SecretString=json.dumps(secret))
    try:
        cloud = endpoints["aws"]
        extra = tmp_path / "vars.json"
        extra.write_text(json.dumps({
            "env": env, "_databases_tsdb_admin_secret": name,
            "_databases_aws_lookup": {key: cloud[key] for key in ("endpoint_url", "region", "access_key",
                                                                  "secret_key")}}))
        play = tmp_path / "tsdb_admin.yml"
        play.write_text(TSDB_ADMIN_PLAY)
        run = run_playbook(str(play), "-e", "@" + str(extra))
        if outcome == "refused":
            assert run.rc != 0
            assert any("platform-shared: the TimescaleDB connection secret %s has sslmode %s" % (
                name, value["sslmode"]) in m and "verify-full only" in m for m in run.failure_messages()), run.explain()
        else:
            assert run.rc == 0, run.explain()
            assert outcome in run.stdout, run.explain()
    finally:
        aws("secretsmanager").delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)


def test_preflight_refuses_timescaledb_tls_without_verification_outside_local(request_log):
    mark = request_log.mark()
    run = run_playbook("playbooks/preflight.yml", "-e", "env=prod", "-e", "databases_timescale_ssl_mode=require")
    assert run.rc != 0
    assert any("databases_timescale_ssl_mode: 'require' does not verify the TimescaleDB server" in m
               for m in run.failure_messages()), run.explain()
    assert request_log.mutating_since(mark) == []


# ------------------------------------------------------------------------------------------------ preflight


def test_preflight_rejects_bad_database_settings(tmp_path, request_log):
    fleet = copy.deepcopy(load_fleet())
    hosts = fleet["all"]["children"]["tenants"]["hosts"]
    hosts["customer-456"]["databases_timescale_retention"] = "12 hours"
    hosts["customer-789"]["databases_timescale_retention"] = "thirty days"
    hosts["customer-123"]["databases_dedicated_instance_class"] = "db.t4g.gigantic"
    hosts["customer-900"] = {"tenant_id": "customer-900", "tenancy_tier": "dedicated", "tenant_machines": 9000,
                             "network_vpc_cidr": "10.1.48.0/20",
                             "databases_dedicated_sizing": [{"max_machines": 100, "instance_class": "db.t4g.medium"}]}
    inventory = write_inventory(tmp_path / "inventory", fleet)
    mark = request_log.mark()
    run = run_playbook("site.yml", "-i", str(inventory), "-e", "env=local")
    assert run.rc != 0
    messages = "\n".join(run.failure_messages())
    assert "customer-456: databases_timescale_retention: '12 hours' is shorter than 1 day" in messages
    assert "customer-789: databases_timescale_retention: 'thirty days' is not a PostgreSQL interval" in messages
    assert "customer-123: databases_dedicated_instance_class: 'db.t4g.gigantic'" in messages
    assert "customer-900: databases_dedicated_instance_class: dedicated tenant without sizing" in messages
    assert request_log.mutating_since(mark) == []


def test_schema_comes_from_the_lambda():
    """One source of truth: the role applies the alert processor's files, it has no copy of its own."""
    tasks = "\n".join(p.read_text() for p in (ROOT / "roles" / "databases" / "tasks").glob("*.yml"))
    assert "databases_schema_dir ~ '/postgres.sql'" in tasks and "databases_schema_dir ~ '/timescaledb.sql'" in tasks
    assert not list(Path(ROOT / "roles" / "databases").rglob("*.sql"))
