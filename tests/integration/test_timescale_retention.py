"""Integration tests of the manufacturing.platform.timescale_retention module against a real TimescaleDB.

The module-scoped fixture starts its own TimescaleDB server (localcloud/timescaledb/server.mjs, PGlite's
TimescaleDB build) on a free port and stops it by PID, so these tests run standalone and never touch the shared
local cloud. The module runs the way Ansible runs it: a generated playbook through ansible-playbook with the
repository's ansible.cfg and the venv's interpreter; results come from the ansible.posix.json callback.

The server has one session at a time: every psycopg connection here is closed before the module runs.
Each test works in its own schema (one database only; the extension is never dropped). The missing-extension
case needs a database without TimescaleDB: a throw-away PostgreSQL cluster (skipped without initdb).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import uuid
from pathlib import Path

import psycopg
import pytest
import yaml
from support.playbook import ROOT, run_playbook

pytestmark = pytest.mark.integration

SERVER_DIR = ROOT / "localcloud" / "timescaledb"
READY_RE = re.compile(r"^READY ([0-9.]+):(\d+)$")
MODULE = "manufacturing.platform.timescale_retention"
AGES_DAYS = (5, 20, 40, 100)


# ------------------------------------------------------------------------------------------------ servers


class Tsdb:
    def __init__(self, proc, host, port, workdir):
        self.proc = proc
        self.host = host
        self.port = port
        self.workdir = workdir

    def connect(self):
        return psycopg.connect(host=self.host, port=self.port, user="postgres", dbname="postgres",
                               autocommit=True, connect_timeout=30)

    def sql(self, query, params=None):
        """Run one statement on a short-lived connection (the server has one session at a time)."""
        with self.connect() as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else None

    def login(self):
        return {"login_host": self.host, "login_port": self.port, "login_user": "postgres", "login_db": "postgres"}


@pytest.fixture(scope="module")
def tsdb(tmp_path_factory):
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: the TimescaleDB server needs Node.js 20+")
    if not (SERVER_DIR / "node_modules").is_dir():
        pytest.fail("run `npm ci --prefix localcloud/timescaledb` (or `make npm`) first")
    workdir = tmp_path_factory.mktemp("timescale_retention")
    log = open(workdir / "server.log", "ab")  # noqa: SIM115 - closed in the finally below
    proc = subprocess.Popen([node, str(SERVER_DIR / "server.mjs"), "--host", "127.0.0.1", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        lines = []
        reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(120)
        match = READY_RE.match(lines[0].strip()) if lines else None
        if match is None:
            pytest.fail("TimescaleDB server did not get ready: %r\n%s" % (lines, (workdir / "server.log").read_text()))
        yield Tsdb(proc, match.group(1), int(match.group(2)), workdir)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        proc.stdout.close()
        log.close()


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def plain_postgres():
    """A throw-away PostgreSQL cluster without TimescaleDB (for the missing-extension case)."""
    bin_dir = None
    for candidate in [os.environ.get("LOCALCLOUD_PG_BIN"), *sorted(Path("/usr/lib/postgresql").glob("*/bin"))]:
        if candidate and (Path(candidate) / "pg_ctl").exists():
            bin_dir = Path(candidate)
    if bin_dir is None and shutil.which("pg_ctl"):
        bin_dir = Path(shutil.which("pg_ctl")).parent
    if bin_dir is None:
        pytest.skip("no PostgreSQL binaries (initdb/pg_ctl) for a database without TimescaleDB")
    run_as = []
    root = Path(tempfile.mkdtemp(prefix="tsr-pg-"))
    if os.geteuid() == 0:  # initdb refuses to run as root
        import pwd

        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root without a postgres OS user")
        os.chown(root, pw.pw_uid, pw.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    os.chmod(root, 0o700)
    data = root / "data"
    port = _free_port()
    try:
        subprocess.run([*run_as, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"],
                       check=True, capture_output=True, cwd="/")
        opts = "-c listen_addresses=127.0.0.1 -c port=%d -c unix_socket_directories=%s" % (port, root)
        subprocess.run([*run_as, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-o", opts,
                        "-w", "start"], check=True, capture_output=True, cwd="/")
        yield {"login_host": "127.0.0.1", "login_port": port, "login_user": "postgres", "login_db": "postgres"}
    finally:
        subprocess.run([*run_as, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, cwd="/", check=False)
        shutil.rmtree(root, ignore_errors=True)


# ------------------------------------------------------------------------------------------------ helpers


def run_module(tmp_path, args, check=False, diff=True):
    """Run the module once through ansible-playbook; return the task result (dict)."""
    play = [{
        "name": "timescale_retention",
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
        "tasks": [{"name": "retention", MODULE: args, "check_mode": check, "diff": diff}],
    }]
    path = tmp_path / ("play-%s.yml" % uuid.uuid4().hex[:8])
    path.write_text(yaml.safe_dump(play, sort_keys=False))
    inventory = tmp_path / "inventory.yml"  # ansible.cfg enables only the yaml/constructed inventory plugins
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {"localhost": {"ansible_connection": "local"}}}}))
    run = run_playbook(path, "-i", str(inventory), timeout=600)
    results = [r for _t, _h, r in run.task_results("retention")]
    assert results, run.explain()
    return results[0]


def make_schema(tsdb, hypertables=(), plain=(), ints=()):
    """A fresh schema with hypertables (7-day chunks, rows 5/20/40/100 days old), plain and integer tables."""
    schema = "tsr_%s" % uuid.uuid4().hex[:10]
    with tsdb.connect() as conn:
        conn.execute("CREATE SCHEMA %s" % schema)
        for table in hypertables:
            conn.execute("CREATE TABLE %s.%s (time timestamptz NOT NULL, machine text, value double precision)"
                         % (schema, table))
            conn.execute("SELECT create_hypertable('%s.%s', by_range('time', interval '7 days'))" % (schema, table))
            for age in AGES_DAYS:
                conn.execute("INSERT INTO %s.%s VALUES (now() - %%s * interval '1 day', 'm1', %%s)"  # noqa: S608
                             % (schema, table), (age, age))
        for table in plain:
            conn.execute("CREATE TABLE %s.%s (time timestamptz NOT NULL, value double precision)" % (schema, table))
        for table in ints:
            conn.execute("CREATE TABLE %s.%s (time bigint NOT NULL, value double precision)" % (schema, table))
            conn.execute("SELECT create_hypertable('%s.%s', by_range('time', 1000))" % (schema, table))
    return schema


def jobs(tsdb, schema):
    """{table: (job_id, drop_after, schedule_interval)} of the retention policies in a schema."""
    rows = tsdb.sql(
        "SELECT hypertable_name, job_id, config->>'drop_after', schedule_interval::text "
        "FROM timescaledb_information.jobs WHERE proc_name = 'policy_retention' AND hypertable_schema = %s",
        (schema,))
    return {name: (job_id, drop_after, schedule) for name, job_id, drop_after, schedule in rows}


def chunks(tsdb, schema, table, older_than=None):
    if older_than is None:
        rows = tsdb.sql("SELECT c::text FROM show_chunks(%s::regclass) c ORDER BY 1", ("%s.%s" % (schema, table),))
    else:
        rows = tsdb.sql("SELECT c::text FROM show_chunks(%s::regclass, older_than => %s::interval) c ORDER BY 1",
                        ("%s.%s" % (schema, table), older_than))
    return [r[0] for r in rows]


def ages(tsdb, schema, table):
    rows = tsdb.sql("SELECT value FROM %s.%s ORDER BY value" % (schema, table))  # noqa: S608 - test-made names
    return [int(r[0]) for r in rows]


# ------------------------------------------------------------------------------------------------ tests


def test_apply_run_now_drops_exactly_the_old_chunks_then_idempotent(tsdb, tmp_path):
    schema = make_schema(tsdb, hypertables=("metrics", "events"))
    before = {t: chunks(tsdb, schema, t) for t in ("metrics", "events")}
    expected = {t: chunks(tsdb, schema, t, older_than="30 days") for t in ("metrics", "events")}
    assert all(len(before[t]) == 4 and len(expected[t]) == 2 for t in before)

    args = dict(tsdb.login(), hypertables=["%s.metrics" % schema, "%s.events" % schema], drop_after="30 days",
                run_now=True)
    result = run_module(tmp_path, args)
    assert result["changed"] is True, result
    assert [p["action"] for p in result["policies"]] == ["added", "added"]
    for policy, table in zip(result["policies"], ("metrics", "events"), strict=True):
        assert policy["hypertable"] == "%s.%s" % (schema, table)
        assert policy["chunks_dropped"] == expected[table]
        assert policy["after"]["drop_after"] == "30 days"
        assert policy["after"]["schedule_interval"] == "1 day"  # TimescaleDB's default, read back
        assert chunks(tsdb, schema, table) == sorted(set(before[table]) - set(expected[table]))
        assert ages(tsdb, schema, table) == [5, 20]
    current = jobs(tsdb, schema)
    assert {t: v[1] for t, v in current.items()} == {"metrics": "30 days", "events": "30 days"}
    assert {p["job_id"] for p in result["policies"]} == {v[0] for v in current.values()}
    assert any("add_retention_policy" in q for q in result["executed_queries"])
    assert sum("CALL run_job(" in q for q in result["executed_queries"]) == 2
    assert result["diff"]["before"] == {}
    assert set(result["diff"]["after"]) == {"%s.metrics" % schema, "%s.events" % schema}

    again = run_module(tmp_path, args)
    assert again["changed"] is False, again
    assert [p["action"] for p in again["policies"]] == ["unchanged", "unchanged"]
    assert [p["chunks_dropped"] for p in again["policies"]] == [[], []]
    assert jobs(tsdb, schema) == current

    # the same interval spelled differently is no change either
    same = run_module(tmp_path, dict(args, drop_after="P30D", run_now=False))
    assert same["changed"] is False and same["executed_queries"] == []


def test_change_drop_after_updates_in_place_keeping_job_id(tsdb, tmp_path):
    schema = make_schema(tsdb, hypertables=("metrics", "other"))
    base = dict(tsdb.login(), hypertables=["%s.metrics" % schema, "%s.other" % schema], drop_after="30 days")
    run_module(tmp_path, base)
    first = jobs(tsdb, schema)

    result = run_module(tmp_path, dict(base, hypertables=[
        {"name": "%s.metrics" % schema, "drop_after": "90 days", "schedule_interval": "2 hours"},
        "%s.other" % schema]))
    assert result["changed"] is True
    metrics, other = result["policies"]
    assert metrics["action"] == "updated" and sorted(metrics["changes"]) == ["drop_after", "schedule_interval"]
    assert metrics["before"] == {"drop_after": "30 days", "schedule_interval": "1 day", "job_id": first["metrics"][0]}
    assert metrics["after"] == {"drop_after": "90 days", "schedule_interval": "02:00:00", "job_id": first["metrics"][0]}
    assert other["action"] == "unchanged"
    (query,) = result["executed_queries"]
    assert "alter_job(%d," % first["metrics"][0] in query
    after = jobs(tsdb, schema)
    assert after["metrics"] == (first["metrics"][0], "90 days", "02:00:00")  # same job id, new settings
    assert after["other"] == first["other"]

    # a month is not 30 days for the retention boundary: a change, not "equal" as PostgreSQL's = would say
    month = run_module(tmp_path, dict(base, drop_after="1 month", hypertables=["%s.other" % schema]))
    assert month["changed"] is True and month["policies"][0]["after"]["drop_after"] == "1 mon"
    assert jobs(tsdb, schema)["other"][:2] == (first["other"][0], "1 mon")

    # the updated policy works: running it drops by the new interval
    run = run_module(tmp_path, dict(base, drop_after="10 days", hypertables=["%s.metrics" % schema], run_now=True))
    assert ages(tsdb, schema, "metrics") == [5]
    assert len(run["policies"][0]["chunks_dropped"]) == 3


def test_check_mode_changes_nothing(tsdb, tmp_path):
    schema = make_schema(tsdb, hypertables=("keep", "new", "gone"))
    run_module(tmp_path, dict(tsdb.login(), hypertables=["%s.keep" % schema, "%s.gone" % schema]))
    jobs_before = jobs(tsdb, schema)
    chunks_before = {t: chunks(tsdb, schema, t) for t in ("keep", "new", "gone")}

    result = run_module(tmp_path, dict(tsdb.login(), run_now=True, hypertables=[
        {"name": "%s.keep" % schema, "drop_after": "7 days"},
        {"name": "%s.new" % schema, "drop_after": "30 days", "schedule_interval": "1 hour"},
        {"name": "%s.gone" % schema, "state": "absent"},
    ]), check=True)
    assert result["changed"] is True
    assert [p["action"] for p in result["policies"]] == ["updated", "added", "removed"]
    queries = result["executed_queries"]
    assert any("alter_job(%d" % jobs_before["keep"][0] in q and "7 days" in q for q in queries)
    assert any("add_retention_policy('\"%s\".\"new\"'::regclass" % schema in q for q in queries)
    assert any("remove_retention_policy('\"%s\".\"gone\"'::regclass" % schema in q for q in queries)
    assert any(q.startswith("CALL run_job(NULL)") for q in queries)  # the new policy's id is not known yet
    assert len(result["policies"][0]["chunks_dropped"]) == 3  # what a 7-day policy would drop
    assert result["diff"]["after"]["%s.keep" % schema]["drop_after"] == "7 days"

    assert jobs(tsdb, schema) == jobs_before
    assert {t: chunks(tsdb, schema, t) for t in ("keep", "new", "gone")} == chunks_before


def test_remove(tsdb, tmp_path):
    schema = make_schema(tsdb, hypertables=("a", "b"))
    login = tsdb.login()
    run_module(tmp_path, dict(login, hypertables=["%s.a" % schema, "%s.b" % schema]))
    job_b = jobs(tsdb, schema)["b"]
    result = run_module(tmp_path, dict(login, hypertables=["%s.a" % schema], state="absent"))
    assert result["changed"] is True and result["policies"][0]["action"] == "removed"
    assert result["policies"][0]["after"] is None
    assert "remove_retention_policy" in result["executed_queries"][0]
    assert jobs(tsdb, schema) == {"b": job_b}
    again = run_module(tmp_path, dict(login, hypertables=["%s.a" % schema], state="absent"))
    assert again["changed"] is False and again["policies"][0]["action"] == "unchanged"


def _assert_failed_and_untouched(tsdb, result, schema, jobs_before, *fragments):
    assert result.get("failed") is True, result
    for fragment in fragments:
        assert fragment in result["msg"], result["msg"]
    assert "nothing was changed" in result["msg"]
    assert jobs(tsdb, schema) == jobs_before


def test_not_a_hypertable_or_missing_table_changes_nothing(tsdb, tmp_path):
    schema = make_schema(tsdb, hypertables=("good", "existing"), plain=("plain",))
    login = tsdb.login()
    run_module(tmp_path, dict(login, hypertables=["%s.existing" % schema]))
    jobs_before = jobs(tsdb, schema)
    result = run_module(tmp_path, dict(login, drop_after="60 days", hypertables=[
        "%s.good" % schema, "%s.existing" % schema, "%s.plain" % schema, "%s.missing" % schema]))
    _assert_failed_and_untouched(tsdb, result, schema, jobs_before,
                                 "%s.plain is not a hypertable" % schema, "%s.missing: table does not exist" % schema)
    assert "good" not in jobs(tsdb, schema)


def test_invalid_or_too_short_interval_changes_nothing(tsdb, tmp_path):
    schema = make_schema(tsdb, hypertables=("a", "b"), ints=("counters",))
    login = tsdb.login()
    run_module(tmp_path, dict(login, hypertables=["%s.b" % schema]))
    jobs_before = jobs(tsdb, schema)

    bad = run_module(tmp_path, dict(login, hypertables=[
        "%s.a" % schema, {"name": "%s.b" % schema, "drop_after": "thirty days"}]))
    _assert_failed_and_untouched(tsdb, bad, schema, jobs_before,
                                 "%s.b: drop_after 'thirty days' is not a valid interval" % schema)

    short = run_module(tmp_path, dict(login, drop_after="12 hours", hypertables=["%s.a" % schema, "%s.b" % schema]))
    _assert_failed_and_untouched(tsdb, short, schema, jobs_before, "is shorter than min_drop_after '1 day'")
    assert short["errors"] == [
        "%s.a: drop_after '12 hours' (12:00:00) is shorter than min_drop_after '1 day'" % schema,
        "%s.b: drop_after '12 hours' (12:00:00) is shorter than min_drop_after '1 day'" % schema,
    ]

    ints = run_module(tmp_path, dict(login, hypertables=["%s.a" % schema, "%s.counters" % schema]))
    _assert_failed_and_untouched(tsdb, ints, schema, jobs_before, "time column of %s.counters is bigint" % schema)

    # a lower configurable minimum lets a shorter policy through
    ok = run_module(tmp_path, dict(login, drop_after="12 hours", min_drop_after="1 hour",
                                   hypertables=["%s.a" % schema]))
    assert ok["changed"] is True and jobs(tsdb, schema)["a"][1] == "12:00:00"


def test_failure_during_apply_rolls_back_everything(tsdb, tmp_path):
    """TimescaleDB rejects a statement after earlier ones succeeded: the whole transaction is rolled back."""
    schema = make_schema(tsdb, hypertables=("a", "c"))
    login = tsdb.login()
    run_module(tmp_path, dict(login, hypertables=["%s.c" % schema]))
    jobs_before = jobs(tsdb, schema)
    # valid and long enough for the module; alter_job's check (now() - drop_after) overflows the timestamp range
    result = run_module(tmp_path, dict(login, hypertables=[
        {"name": "%s.a" % schema, "drop_after": "45 days"},
        {"name": "%s.c" % schema, "drop_after": "300000 years"},
    ]))
    _assert_failed_and_untouched(tsdb, result, schema, jobs_before, "rolled back",
                                 "updating of the policy on %s.c failed" % schema)
    assert "timestamp out of range" in result["msg"]
    assert [q.split("(")[0] for q in result["executed_queries"]] == ["SELECT add_retention_policy"]  # then rolled back
    assert "alter_job" in result["failed_query"]
    assert "a" not in jobs(tsdb, schema)


def test_missing_extension_is_a_clear_error(plain_postgres, tmp_path):
    with psycopg.connect(host=plain_postgres["login_host"], port=plain_postgres["login_port"], user="postgres",
                         dbname="postgres", autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS public.metrics (time timestamptz NOT NULL)")
    result = run_module(tmp_path, dict(plain_postgres, hypertables=["public.metrics"]))
    assert result.get("failed") is True
    assert "the timescaledb extension is not installed in database 'postgres'" in result["msg"]


def test_unreachable_server_fails_cleanly(tmp_path):
    result = run_module(tmp_path, {"login_host": "127.0.0.1", "login_port": _free_port(), "login_db": "postgres",
                                   "hypertables": ["s.t"], "connect_params": {"connect_timeout": 5}})
    assert result.get("failed") is True and "unable to connect to database" in result["msg"]

