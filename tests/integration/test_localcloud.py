"""The local cloud itself (localcloud/ctl.py): every service answers real requests, and up/run/down behave.

Needs the local cloud to be up (`make local-up`, or `python localcloud/ctl.py up`); the run/down tests start
their own moto + Kafka in a separate state dir on free ports and leave the main instance alone.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import boto3
import psycopg
import pytest
from botocore.exceptions import ClientError
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from localcloud.requestlog import RequestLog

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CTL = ROOT / "localcloud" / "ctl.py"
SERVICES = ("moto", "postgres", "timescaledb", "kafka")


def state_dir() -> Path:
    return Path(os.environ.get("LOCALCLOUD_DIR") or ROOT / ".localcloud")


def ctl(*args: str, env: dict[str, str] | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CTL), *args], capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT
    )


def read_pids(state: Path) -> dict[str, int]:
    pids = {}
    for name in SERVICES:
        pid_file = state / name / "pid"
        if pid_file.exists():
            pids[name] = int(pid_file.read_text().split()[0])
    return pids


def pid_running(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return fields[0] not in ("Z", "X")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def lc_endpoints() -> dict:
    path = state_dir() / "endpoints.json"
    if not path.exists():
        pytest.fail(f"the local cloud is not up ({path} is missing): run `python localcloud/ctl.py up` first")
    return json.loads(path.read_text())


@pytest.fixture(scope="session")
def aws_client(lc_endpoints):
    cfg = lc_endpoints["aws"]

    def make(service: str):
        return boto3.client(
            service,
            endpoint_url=cfg["endpoint_url"],
            region_name=cfg["region"],
            aws_access_key_id=cfg["access_key"],
            aws_secret_access_key=cfg["secret_key"],
        )

    return make


# ------------------------------------------------------------------------------------------------------------ AWS


def test_endpoints_file_is_private(lc_endpoints):
    assert (state_dir() / "endpoints.json").stat().st_mode & 0o077 == 0
    assert set(lc_endpoints) == {"aws", "postgres", "timescaledb", "kafka", "faults"}  # faults: the optional proxy


def test_aws_calls_and_request_log(lc_endpoints, aws_client):
    log = RequestLog(lc_endpoints["aws"]["request_log"])
    offset = log.mark()

    ident = aws_client("sts").get_caller_identity()
    assert ident["Account"].isdigit()
    vpcs = aws_client("ec2").describe_vpcs()["Vpcs"]
    assert isinstance(vpcs, list)
    s3 = aws_client("s3")
    bucket = f"lc-test-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    try:
        assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    finally:
        s3.delete_bucket(Bucket=bucket)
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]

    entries = log.since(offset)

    def find(**match):
        return [e for e in entries if all(e.get(k) == v for k, v in match.items())]

    sts = find(service="sts", action="GetCallerIdentity")
    assert sts and not sts[0]["mutating"] and sts[0]["status"] == 200
    ec2 = find(service="ec2", action="DescribeVpcs")
    assert ec2 and not ec2[0]["mutating"] and ec2[0]["status"] == 200
    created = find(service="s3", method="PUT", path=f"/{bucket}")
    deleted = find(service="s3", method="DELETE", path=f"/{bucket}")
    assert created and created[0]["mutating"] and created[0]["action"] is None
    assert deleted and deleted[0]["mutating"] and deleted[0]["status"] == 204
    listed = find(service="s3", method="GET", path="/")
    assert listed and not any(e["mutating"] for e in listed)
    for entry in entries:
        assert {"ts", "method", "path", "service", "action", "status", "mutating"} <= set(entry)

    mutating = log.mutating_since(offset)
    assert any(e["path"] == f"/{bucket}" and e["method"] == "PUT" for e in mutating)
    assert not any(e.get("action") in ("GetCallerIdentity", "DescribeVpcs") for e in mutating)

    cli = subprocess.run(
        [sys.executable, "-m", "localcloud.requestlog", log.path, "--since", str(offset)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    assert "sts GetCallerIdentity" in cli.stdout and "ec2 DescribeVpcs" in cli.stdout


def test_mutating_classification_of_actions(lc_endpoints, aws_client):
    log = RequestLog(lc_endpoints["aws"]["request_log"])
    offset = log.mark()
    ec2 = aws_client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.213.0.0/16")["Vpc"]["VpcId"]
    ec2.create_tags(Resources=[vpc], Tags=[{"Key": "Name", "Value": "lc-test"}])
    ec2.delete_vpc(VpcId=vpc)
    aws_client("secretsmanager").list_secrets()  # JSON protocol: action from X-Amz-Target
    flags = {e["action"]: e["mutating"] for e in log.since(offset) if e.get("action")}
    assert flags["CreateVpc"] is True and flags["CreateTags"] is True and flags["DeleteVpc"] is True
    assert flags["ListSecrets"] is False


def test_second_moto_instance_enforcing_iam(tmp_path):
    """moto_server.py can run a second, IAM-enforcing emulator with its own request log."""
    port = free_port()
    req_log = tmp_path / "requests.jsonl"
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="0")
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "localcloud" / "moto_server.py"), "--host", "127.0.0.1", "--port", str(port)]
        + ["--request-log", str(req_log)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, "moto_server.py exited"
            assert time.monotonic() < deadline, "moto_server.py did not listen within 60s"
            time.sleep(0.2)
        sts = boto3.client(
            "sts",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id="AKIANOTAREALKEY00000",
            aws_secret_access_key="x",
        )
        with pytest.raises(ClientError) as err:
            sts.get_caller_identity()
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        entries = RequestLog(req_log).since(0)
        assert [(e["service"], e["action"], e["status"]) for e in entries] == [("sts", "GetCallerIdentity", 403)]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# ------------------------------------------------------------------------------------------------------ PostgreSQL


def test_postgres_tls_verify_full(lc_endpoints):
    cfg = lc_endpoints["postgres"]
    assert cfg["sslmode"] == "verify-full" and Path(cfg["sslrootcert"]).is_file()
    with psycopg.connect(**cfg, connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        ssl, version = conn.execute("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
        assert ssl is True and version in ("TLSv1.2", "TLSv1.3")
        assert conn.execute("SHOW password_encryption").fetchone() == ("scram-sha-256",)


def test_postgres_refuses_plaintext(lc_endpoints):
    cfg = dict(lc_endpoints["postgres"], sslmode="disable")
    cfg.pop("sslrootcert")
    with pytest.raises(psycopg.OperationalError) as err:
        psycopg.connect(**cfg, connect_timeout=5)
    assert "no encryption" in str(err.value) or "pg_hba.conf" in str(err.value)


# ----------------------------------------------------------------------------------------------------- TimescaleDB


def test_timescaledb_tls_verify_full_only(lc_endpoints):
    """The local TimescaleDB serves TLS only, with its own CA: verify-full works, a session without TLS and a client
    that trusts another CA (the PostgreSQL one) are refused."""
    cfg = lc_endpoints["timescaledb"]
    assert cfg["sslmode"] == "verify-full" and Path(cfg["sslrootcert"]).is_file()
    with psycopg.connect(**cfg, connect_timeout=30) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,) and conn.pgconn.ssl_in_use
    plain = dict(cfg, sslmode="disable")
    plain.pop("sslrootcert")
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        psycopg.connect(**plain, connect_timeout=30)
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        psycopg.connect(**dict(cfg, sslrootcert=lc_endpoints["postgres"]["sslrootcert"]), connect_timeout=30)


def test_timescaledb_hypertable_and_retention(lc_endpoints):
    schema = f"lc_test_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(**lc_endpoints["timescaledb"], connect_timeout=10, autocommit=True) as conn:
        ext = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
        assert ext and ext[0]
        conn.execute(f"CREATE SCHEMA {schema}")
        try:
            conn.execute(f"CREATE TABLE {schema}.readings (ts timestamptz NOT NULL, machine text, value float8)")
            conn.execute(f"SELECT create_hypertable('{schema}.readings', 'ts')")
            conn.execute(f"SELECT add_retention_policy('{schema}.readings', INTERVAL '30 days')")
            jobs = conn.execute(
                "SELECT proc_name, hypertable_name, config FROM timescaledb_information.jobs "
                "WHERE hypertable_schema = %s",
                (schema,),
            ).fetchall()
            assert len(jobs) == 1
            proc_name, table, config = jobs[0]
            assert proc_name == "policy_retention" and table == "readings"
            assert config["drop_after"] in ("30 days", "1 mon")
            conn.execute(f"SELECT remove_retention_policy('{schema}.readings')")
        finally:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
        left = conn.execute("SELECT count(*) FROM timescaledb_information.jobs WHERE hypertable_schema = %s", (schema,))
        assert left.fetchone() == (0,)


# ------------------------------------------------------------------------------------------------------------ Kafka


def test_kafka_topic_lifecycle(lc_endpoints):
    admin = AdminClient({"bootstrap.servers": lc_endpoints["kafka"]["bootstrap_servers"]})
    topic = f"lc-test-{uuid.uuid4().hex[:10]}"
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=3, replication_factor=1, config={"retention.ms": "3600000"})]
    )
    futures[topic].result(timeout=30)
    try:
        md = admin.list_topics(topic=topic, timeout=10)
        assert topic in md.topics and len(md.topics[topic].partitions) == 3
        configs = admin.describe_configs([ConfigResource("topic", topic)])
        (result,) = configs.values()
        assert result.result(timeout=30)["retention.ms"].value == "3600000"
    finally:
        admin.delete_topics([topic])[topic].result(timeout=30)
    deadline = time.monotonic() + 30
    while topic in admin.list_topics(timeout=10).topics:
        assert time.monotonic() < deadline, f"topic {topic} still listed after delete"
        time.sleep(0.2)


# -------------------------------------------------------------------------------------------------------- ctl.py


def test_status_all_up():
    res = ctl("status")
    assert res.returncode == 0, res.stdout + res.stderr
    for name in SERVICES:
        assert f"{name} " in res.stdout


def test_second_up_reuses_everything():
    before = read_pids(state_dir())
    assert set(before) == set(SERVICES)
    res = ctl("up")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "started" not in res.stdout
    for name in SERVICES:
        assert any(line.startswith(name) and "reused" in line for line in res.stdout.splitlines()), res.stdout
    assert read_pids(state_dir()) == before


def test_env_exports():
    res = ctl("env")
    assert res.returncode == 0
    exports = dict(line.removeprefix("export ").split("=", 1) for line in res.stdout.splitlines())
    assert exports["AWS_ACCESS_KEY_ID"] == "testing" and exports["AWS_SECRET_ACCESS_KEY"] == "testing"
    assert exports["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    assert {"AWS_DEFAULT_REGION", "LOCALCLOUD_MOTO_PORT", "LOCALCLOUD_PG_PORT", "LOCALCLOUD_KAFKA_PORT"} <= set(exports)
    assert "password" not in res.stdout.lower()


@pytest.fixture
def separate_env(tmp_path):
    """Env for a second local cloud (own state dir, own ports) so the main instance is not disturbed."""
    env = dict(os.environ)
    env.update(
        LOCALCLOUD_DIR=str(tmp_path / "state"),
        LOCALCLOUD_MOTO_PORT=str(free_port()),
        LOCALCLOUD_PG_PORT=str(free_port()),
        LOCALCLOUD_TSDB_PORT=str(free_port()),
        LOCALCLOUD_KAFKA_PORT=str(free_port()),
    )
    for var in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.pop(var, None)
    yield env
    ctl("down", "--purge", env=env)


def test_run_starts_and_stops_only_its_services(separate_env):
    state = Path(separate_env["LOCALCLOUD_DIR"])
    probe = (
        "import os, pathlib, sys; s = pathlib.Path(os.environ['LOCALCLOUD_DIR']);"
        "print('ENDPOINT=' + os.environ['AWS_ENDPOINT_URL']);"
        "print('PIDS=' + ','.join((s / n / 'pid').read_text().strip() for n in ('moto', 'kafka')));"
        "sys.exit(5)"
    )
    res = ctl("run", "--services", "moto,kafka", "--", sys.executable, "-c", probe, env=separate_env)
    assert res.returncode == 5, res.stdout + res.stderr  # CMD's exit code
    assert f"ENDPOINT=http://127.0.0.1:{separate_env['LOCALCLOUD_MOTO_PORT']}" in res.stdout
    pids = [int(p) for p in res.stdout.split("PIDS=", 1)[1].split()[0].split(",")]
    assert len(pids) == 2
    for pid in pids:
        assert not pid_running(pid), f"pid {pid} still running after `run`"
    assert read_pids(state) == {}
    assert not (state / "postgres" / "pg").exists()  # not started: not asked for


def test_run_keeps_services_it_did_not_start(separate_env):
    res = ctl("up", "--services", "moto", env=separate_env)
    assert res.returncode == 0, res.stdout + res.stderr
    state = Path(separate_env["LOCALCLOUD_DIR"])
    moto_pid = read_pids(state)["moto"]
    res = ctl("run", "--services", "moto,kafka", "--", sys.executable, "-c", "pass", env=separate_env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "moto" in res.stdout and "reused" in res.stdout
    pids = read_pids(state)
    assert pids == {"moto": moto_pid} and pid_running(moto_pid)  # kafka was started and stopped by `run`
    assert ctl("status", "--services", "moto", env=separate_env).returncode == 0
    assert ctl("status", "--services", "moto,kafka", env=separate_env).returncode == 3

    res = ctl("down", env=separate_env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert not pid_running(moto_pid)
    assert read_pids(state) == {}
    assert (state / "moto" / "requests.jsonl").exists()  # data kept without --purge
