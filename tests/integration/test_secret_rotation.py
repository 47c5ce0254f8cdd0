"""The secret rotation Lambda (lambdas/secret_rotation, alternating users) against the local cloud's real
PostgreSQL and TimescaleDB, with the secrets on the emulator.

The local cloud runs no Lambda code (docs/emulator-gaps.md): ``RotateSecret`` there starts the rotation as AWS does
(the new version with only ``AWSPENDING``) and the test plays the Lambda service, calling the function's handler
in-process with the four events Secrets Manager sends. Everything the function touches is real: the secrets'
versions and stages, the database users, their passwords, TLS with server verification.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
import uuid
from pathlib import Path

import boto3
import psycopg
import pytest
from support.alert_processor_tenant import Tenant
from support.playbook import run_playbook

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "lambdas" / "secret_rotation"))
rotation = importlib.import_module("secret_rotation.handler")
processor = importlib.import_module("alert_processor.handler")

STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")
RULES = [{"name": "press overheating", "metric": "temperature", "comparator": ">", "threshold": 80.0,
          "clear_threshold": 70.0, "severity": "critical"}]


class Rotation:
    """One tenant of the alert processor with rotation enabled on its PostgreSQL secret (and TimescaleDB, on demand)."""

    def __init__(self, endpoints, monkeypatch):
        self.endpoints = endpoints
        self.tenant = Tenant(endpoints).create(machines=["press-01"], rules=RULES)
        self.sm = self.tenant.client("secretsmanager")
        aws = endpoints["aws"]
        for key, value in {"SECRETS_MANAGER_ENDPOINT": aws["endpoint_url"], "AWS_ACCESS_KEY_ID": aws["access_key"],
                           "AWS_SECRET_ACCESS_KEY": aws["secret_key"], "AWS_DEFAULT_REGION": aws["region"]}.items():
            monkeypatch.setenv(key, value)
        rotation.reset()
        self.cleanup = []
        pg = endpoints["postgres"]
        self.pg_admin_arn = self.secret("%s/pg-admin" % self.tenant.tenant_id, {
            "engine": "postgres", "host": pg["host"], "port": pg["port"], "username": pg["user"],
            "password": pg["password"], "dbname": "postgres", "sslmode": pg["sslmode"],
            "sslrootcert": pg["sslrootcert"]})
        self.function_arn = self.function()
        self.add_master(self.tenant.db_secret_arn, self.pg_admin_arn)
        self.enable(self.tenant.db_secret_arn)

    def secret(self, name, value):
        arn = self.sm.create_secret(Name=name, SecretString=json.dumps(value))["ARN"]
        self.cleanup.append(lambda: self.sm.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True))
        return arn

    def function(self):
        """The rotation function as Secrets Manager sees it (its code runs here, in-process)."""
        iam, functions = self.tenant.client("iam"), self.tenant.client("lambda")
        name = "%s-secret-rotation" % self.tenant.tenant_id
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                         "Principal": {"Service": "lambda.amazonaws.com"}}]}
        role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        self.cleanup.append(lambda: iam.delete_role(RoleName=name))
        arn = functions.create_function(FunctionName=name, Runtime="python3.12", Role=role,
                                        Handler="secret_rotation.handler.handler",
                                        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18})["FunctionArn"]
        self.cleanup.append(lambda: functions.delete_function(FunctionName=name))
        return arn

    def add_master(self, arn, master_arn):
        value = self.value(arn)
        value["masterarn"] = master_arn
        self.sm.put_secret_value(SecretId=arn, SecretString=json.dumps(value))

    def enable(self, arn):
        self.sm.rotate_secret(SecretId=arn, RotationLambdaARN=self.function_arn,
                              RotationRules={"AutomaticallyAfterDays": 30}, RotateImmediately=False)

    def value(self, arn, stage="AWSCURRENT", version=None):
        kwargs = {"VersionId": version} if version else {}
        return json.loads(self.sm.get_secret_value(SecretId=arn, VersionStage=stage, **kwargs)["SecretString"])

    def start(self, arn):
        token = str(uuid.uuid4())
        answer = self.sm.rotate_secret(SecretId=arn, ClientRequestToken=token)
        assert answer["VersionId"] == token
        return token

    def step(self, arn, token, step):
        return rotation.handler({"SecretId": arn, "ClientRequestToken": token, "Step": step}, None)

    def rotate(self, arn, between=None):
        token = self.start(arn)
        for step in STEPS:
            self.step(arn, token, step)
            if between:
                between(step)
        self.done(arn, token)
        return token

    def done(self, arn, token):
        """What Secrets Manager does after a successful finishSecret: the new version loses AWSPENDING."""
        self.sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSPENDING", RemoveFromVersionId=token)

    def close(self):
        with self.tenant.admin() as conn:
            for user in (self.tenant.role + "_clone",):
                if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchone():
                    conn.execute('DROP ROLE "%s"' % user)
        for action in reversed(self.cleanup):
            action()
        self.tenant.destroy()


def login(value, dbname=None):
    """A session with the credentials of a secret version (what a client holding that version gets)."""
    return psycopg.connect(host=value["host"], port=value["port"], user=value["username"], password=value["password"],
                           dbname=dbname or value["dbname"], sslmode=value["sslmode"],
                           sslrootcert=value["sslrootcert"], autocommit=True, connect_timeout=120)


def can_login(value):
    try:
        login(value).close()
    except psycopg.OperationalError:
        return False
    return True


@pytest.fixture
def rotated(endpoints, monkeypatch):
    state = Rotation(endpoints, monkeypatch)
    try:
        yield state
    finally:
        processor.reset()
        rotation.reset()
        state.close()


def stages(rotated, arn):
    return {v: sorted(s) for v, s in rotated.sm.describe_secret(SecretId=arn)["VersionIdsToStages"].items()}


def test_rotation_alternates_users_and_the_old_password_stops_with_the_next_one(rotated):
    arn = rotated.tenant.db_secret_arn
    first = rotated.value(arn)
    assert first["username"] == rotated.tenant.role

    def current_works(step):  # no client ever holds a half-rotated password: AWSCURRENT logs in after every step
        assert can_login(rotated.value(arn)), step

    token = rotated.rotate(arn, between=current_works)
    second = rotated.value(arn)
    assert second["username"] == rotated.tenant.role + "_clone"
    assert second["password"] != first["password"] and len(second["password"]) == 32
    assert {k: v for k, v in second.items() if k not in ("username", "password")} == \
        {k: v for k, v in first.items() if k not in ("username", "password")}
    assert stages(rotated, arn)[token] == ["AWSCURRENT"]
    assert rotated.value(arn, "AWSPREVIOUS") == first
    # The previous user keeps its password until the next rotation (sessions and cached clients keep working).
    assert can_login(first)
    # The other user of the pair has exactly the base user's rights in the tenant's database.
    with login(second) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (second["username"],)
        assert conn.execute("SELECT count(*) FROM alert_rules").fetchone() == (1,)
        conn.execute("INSERT INTO machines (machine_id) VALUES ('press-02')")

    rotated.rotate(arn)
    third = rotated.value(arn)
    assert third["username"] == rotated.tenant.role and third["password"] not in (first["password"],
                                                                                   second["password"])
    assert can_login(third) and can_login(second)
    assert not can_login(first), "the password from before the previous rotation must be refused"
    with rotated.tenant.admin() as conn:
        row = conn.execute("SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolconnlimit FROM pg_roles "
                           "WHERE rolname = %s", (second["username"],)).fetchone()
        base = conn.execute("SELECT rolconnlimit FROM pg_roles WHERE rolname = %s", (first["username"],)).fetchone()
    assert row[:4] == (True, False, False, False) and row[4] == base[0]


def test_every_step_is_idempotent_and_a_repeat_changes_nothing(rotated):
    arn = rotated.tenant.db_secret_arn
    token = rotated.start(arn)
    rotated.step(arn, token, "createSecret")
    pending = rotated.value(arn, "AWSPENDING", token)
    for step in STEPS:
        rotated.step(arn, token, step)
        rotated.step(arn, token, step)  # Secrets Manager retries a step whose outcome it did not see
        if step != "finishSecret":
            assert rotated.value(arn, "AWSPENDING", token) == pending
    assert rotated.value(arn) == pending
    rotated.done(arn, token)
    assert rotated.step(arn, token, "finishSecret") == {"step": "finishSecret", "done": False}
    previous = next(v for v, s in stages(rotated, arn).items() if "AWSPREVIOUS" in s)
    with pytest.raises(rotation.RotationError, match="not AWSPENDING"):
        rotated.step(arn, previous, "setSecret")


def test_a_failed_rotation_leaves_the_current_version_working(rotated):
    arn = rotated.tenant.db_secret_arn
    before = rotated.value(arn)
    broken = dict(before, masterarn="")
    rotated.sm.put_secret_value(SecretId=arn, SecretString=json.dumps(broken))
    token = rotated.start(arn)
    rotated.step(arn, token, "createSecret")
    with pytest.raises(rotation.RotationError, match="no masterarn"):
        rotated.step(arn, token, "setSecret")
    with pytest.raises(psycopg.OperationalError):
        rotated.step(arn, token, "testSecret")
    assert rotated.value(arn)["username"] == before["username"] and can_login(rotated.value(arn))
    with pytest.raises(rotation.RotationError, match="no stage for rotation"):
        rotated.step(arn, str(uuid.uuid4()), "createSecret")


def test_a_secret_without_rotation_enabled_is_refused(rotated):
    arn = rotated.tenant.tsdb_secret_arn  # rotation never enabled on it
    with pytest.raises(rotation.RotationError, match="not enabled for rotation"):
        rotated.step(arn, str(uuid.uuid4()), "createSecret")


def test_the_alert_processor_reconnects_after_rotations_without_losing_a_batch(rotated, monkeypatch):
    tenant = rotated.tenant
    for key, value in tenant.env().items():
        monkeypatch.setenv(key, value)
    processor.reset()
    sent = []

    def batch(value):
        ts = int(time.time() * 1000) - 60_000 + len(sent)
        record = {"machine_id": "press-01", "metric": "temperature", "value": value, "ts": ts,
                  "tenant_id": tenant.tenant_id}
        sent.append(ts)
        event = {"eventSource": "aws:kafka", "records": {"%s.telemetry-0" % tenant.tenant_id: [{
            "topic": "%s.telemetry" % tenant.tenant_id, "partition": 0, "offset": len(sent), "timestamp": ts,
            "timestampType": "CREATE_TIME", "value": _b64(record), "headers": []}]}}
        return processor.handler(event, None)

    assert batch(50.0)["processed"] == 1
    # A batch while a rotation is between setSecret and finishSecret: the processor holds the current version.
    arn = tenant.db_secret_arn
    token = rotated.start(arn)
    for step in STEPS[:3]:
        rotated.step(arn, token, step)
    assert batch(51.0)["processed"] == 1
    rotated.step(arn, token, "finishSecret")
    rotated.done(arn, token)
    rotated.rotate(arn)  # now the password the processor read at its start is refused
    with tenant.admin() as admin:  # the database drops the Lambda's session (failover, idle timeout, ...)
        killed = admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                               "AND application_name = 'alert-processor'", (tenant.db_name,)).fetchall()
    assert killed == [(True,)]
    summary = batch(95.0)
    assert summary["processed"] == 1 and summary["alerts"] == 1
    proc = processor.get_processor()
    assert proc.pg.secret()["username"] == rotated.value(arn)["username"]
    processor.close_connections()
    with login(rotated.value(arn)) as conn:  # the tenant's original password is refused by now
        assert conn.execute("SELECT count(*) FROM alerts").fetchone() == (1,)
    count = 'SELECT count(*) FROM "%s".machine_metrics' % tenant.tsdb_schema  # noqa: S608 - the test's own schema
    assert tenant.tsdb_sql(count) == [(3,)]


def test_timescaledb_login_rotates_the_same_way(rotated):
    """The tenant's TimescaleDB login role (schema per tenant) alternates with its _clone on the local TimescaleDB."""
    tenant, ts = rotated.tenant, rotated.endpoints["timescaledb"]
    role, password = tenant.role + "_ts", uuid.uuid4().hex
    with tenant.tsdb() as conn:
        conn.execute("CREATE ROLE %s LOGIN PASSWORD '%s'" % (role, password))
        conn.execute('GRANT USAGE ON SCHEMA "%s" TO %s' % (tenant.tsdb_schema, role))
        conn.execute('GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA "%s" TO %s' % (tenant.tsdb_schema, role))
    rotated.cleanup.insert(0, lambda: _drop_tsdb_roles(tenant, role))
    admin_arn = rotated.secret("%s/tsdb-admin" % tenant.tenant_id, {
        "engine": "timescaledb", "host": ts["host"], "port": ts["port"], "username": ts["user"],
        "password": ts["password"], "dbname": ts["dbname"], "sslmode": ts["sslmode"], "sslrootcert": ts["sslrootcert"]})
    arn = rotated.secret("%s/tsdb-tenant" % tenant.tenant_id, {
        "engine": "timescaledb", "host": ts["host"], "port": ts["port"], "username": role, "password": password,
        "dbname": ts["dbname"], "sslmode": ts["sslmode"], "sslrootcert": ts["sslrootcert"],
        "schema": tenant.tsdb_schema, "masterarn": admin_arn})
    rotated.enable(arn)
    first = rotated.value(arn)
    rotated.rotate(arn)
    second = rotated.value(arn)
    assert second["username"] == role + "_clone"
    with login(second) as conn:
        conn.execute('INSERT INTO "%s".machine_metrics (time, machine_id, metric, value) '  # noqa: S608 - own schema
                     "VALUES (now(), 'press-01', 'temperature', 1.5)" % tenant.tsdb_schema)
    assert can_login(first)
    rotated.rotate(arn)
    assert not can_login(first) and can_login(rotated.value(arn)) and can_login(second)


def _drop_tsdb_roles(tenant, role):
    with tenant.tsdb() as conn:
        for user in (role + "_clone", role):
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchone():
                conn.execute('DROP OWNED BY "%s"' % user)
                conn.execute('DROP ROLE "%s"' % user)


def _b64(doc):
    import base64

    return base64.b64encode(json.dumps(doc).encode()).decode()


DATABASES_PLAYBOOK = ROOT / "roles" / "databases" / "molecule" / "default" / "converge.yml"


@pytest.mark.runs_last
@pytest.mark.slow
def test_a_converge_after_rotating_a_converged_tenants_secrets_changes_nothing(converged, endpoints, monkeypatch):
    """Both secrets of a converged shared-tier tenant rotate with the real function; the databases role then keeps
    the rotated users and passwords (no ALTER ROLE, no new password) and both generations still log in.

    Emulator gap (docs/emulator-gaps.md): the PostgreSQL secret's host is the emulator's RDS endpoint, which is not a
    database; for the rotation the secret points at the local PostgreSQL (where env=local puts the tenant's role and
    database), and afterwards back at the RDS endpoint, as the function's steps never change the host.
    """

    aws = endpoints["aws"]
    for key, value in {"SECRETS_MANAGER_ENDPOINT": aws["endpoint_url"], "AWS_ACCESS_KEY_ID": aws["access_key"],
                       "AWS_SECRET_ACCESS_KEY": aws["secret_key"], "AWS_DEFAULT_REGION": aws["region"]}.items():
        monkeypatch.setenv(key, value)
    rotation.reset()


    sm = boto3.client("secretsmanager", endpoint_url=aws["endpoint_url"], region_name=aws["region"],
                      aws_access_key_id=aws["access_key"], aws_secret_access_key=aws["secret_key"])
    pg = endpoints["postgres"]
    pg_arn, ts_arn = "mfg-local/customer-456/postgres", "mfg-local/customer-456/timescaledb"

    def value(arn, stage="AWSCURRENT"):
        return json.loads(sm.get_secret_value(SecretId=arn, VersionStage=stage)["SecretString"])

    def rotate(arn):
        token = str(uuid.uuid4())
        sm.rotate_secret(SecretId=arn, ClientRequestToken=token)
        for step in STEPS:
            rotation.handler({"SecretId": arn, "ClientRequestToken": token, "Step": step}, None)
        sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSPENDING", RemoveFromVersionId=token)

    rds = value(pg_arn)
    local = dict(rds, host=pg["host"], port=pg["port"], sslrootcert=pg["sslrootcert"])
    sm.put_secret_value(SecretId=pg_arn, SecretString=json.dumps(local))
    rotate(pg_arn)
    rotated_pg = value(pg_arn)
    sm.put_secret_value(SecretId=pg_arn, SecretString=json.dumps(
        {k: v for k, v in dict(rotated_pg, host=rds["host"], port=rds["port"]).items() if k != "sslrootcert"}))
    ts_before = value(ts_arn)
    rotate(ts_arn)
    rotated_ts = value(ts_arn)
    assert rotated_pg["username"] == rotation.other_user(rds["username"])
    assert rotated_ts["username"] == rotation.other_user(ts_before["username"])

    run = run_playbook(str(DATABASES_PLAYBOOK), "-e", "env=local", "--limit", "customer-456")
    assert run.rc == 0, run.explain()
    assert run.changed_tasks() == []
    after = value(pg_arn)
    assert (after["username"], after["password"]) == (rotated_pg["username"], rotated_pg["password"])
    assert value(ts_arn) == rotated_ts
    assert can_login(dict(local, username=rotated_pg["username"], password=rotated_pg["password"]))
    assert can_login(local), "the previous generation stays valid until the next rotation"
    assert can_login(rotated_ts) and can_login(ts_before)
