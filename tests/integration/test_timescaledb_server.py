"""Integration tests for localcloud/timescaledb/server.mjs (TimescaleDB on PGlite over TCP).

The module starts its own server on a free port (port 0, read back from the READY line) and stops it by PID.
Needs Node 20+ and `npm ci --prefix localcloud/timescaledb`.
"""

from __future__ import annotations

import datetime as dt
import glob
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVER_DIR = REPO_ROOT / "localcloud" / "timescaledb"
SERVER_JS = SERVER_DIR / "server.mjs"
PGLITE_PACKAGE = SERVER_DIR / "node_modules" / "@unni-craftsman" / "pglite" / "package.json"
PASSWORD = "local-test-password"
QUEUE_TIMEOUT = 4
READY_RE = re.compile(r"^READY (127\.0\.0\.1):(\d+)$")


@dataclass
class Server:
    proc: subprocess.Popen
    host: str
    port: int
    password: str | None
    log_path: Path

    def dsn(self, **extra: str | int) -> str:
        parts = {"host": self.host, "port": self.port, "user": "postgres", "dbname": "postgres", "connect_timeout": 30}
        if self.password is not None:
            parts["password"] = self.password
        parts.update(extra)
        return " ".join(f"{k}={v}" for k, v in parts.items())

    def connect(self, **kwargs) -> psycopg.Connection:
        return psycopg.connect(self.dsn(), autocommit=kwargs.pop("autocommit", True), **kwargs)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: the TimescaleDB server needs Node.js 20+")
    if not PGLITE_PACKAGE.exists():
        pytest.fail(
            "localcloud/timescaledb/node_modules is missing: run `npm ci --prefix localcloud/timescaledb` "
            "from the repository root first"
        )
    return node


def start_server(
    log_path: Path,
    *,
    data_dir: Path | None = None,
    password_file: Path | None = None,
    password: str | None = None,
    timeout: float = 60,
) -> Server:
    cmd = [_node(), str(SERVER_JS), "--host", "127.0.0.1", "--port", "0", "--queue-timeout", str(QUEUE_TIMEOUT)]
    if data_dir is not None:
        cmd += ["--data-dir", str(data_dir)]
    if password_file is not None:
        cmd += ["--password-file", str(password_file)]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    line = lines[0].strip() if lines else ""
    match = READY_RE.match(line)
    if match is None:
        stop_server(proc)
        pytest.fail(f"server did not print READY within {timeout}s (got {line!r}); log:\n{log_path.read_text()}")
    return Server(proc, match.group(1), int(match.group(2)), password, log_path)


def stop_server(proc: subprocess.Popen) -> int:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    if proc.stdout is not None:
        proc.stdout.close()
    return proc.returncode


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("tsdb")
    password_file = tmp / "password"
    password_file.write_text(PASSWORD + "\n")
    srv = start_server(tmp / "server.log", password_file=password_file, password=PASSWORD)
    try:
        yield srv
    finally:
        rc = stop_server(srv.proc)
        assert rc == 0, f"server exited with {rc}; log:\n{srv.log()}"


@pytest.fixture
def schema(server: Server) -> Iterator[str]:
    name = f"tsdb_test_{uuid.uuid4().hex[:10]}"
    with server.connect() as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with server.connect() as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


def _pg_binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    if not candidates:
        pytest.fail(f"{name} not found on PATH or in /usr/lib/postgresql/*/bin (install postgresql-client)")
    return candidates[0]


def _client_env(server: Server) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    if server.password is not None:
        env["PGPASSWORD"] = server.password
    return env


# ----------------------------------------------------------------------------------------------------- basics


def test_extension_version(server: Server) -> None:
    with server.connect() as conn:
        (version,) = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
        (server_version,) = conn.execute("SHOW server_version").fetchone()
        assert conn.info.parameter_status("server_version") == server_version
    assert re.match(r"^2\.\d+\.\d+", version), version
    assert server_version.startswith("17."), server_version


def test_parameters_and_types(server: Server) -> None:
    now = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)
    with server.connect() as conn:
        row = conn.execute(
            "SELECT %s::int, %s::text, %s::timestamptz, %s::numeric, %s::jsonb, %s::int[]",
            (42, "héllo 'quoted'", now, 1.5, psycopg.types.json.Jsonb({"a": 1}), [1, 2]),
        ).fetchone()
        assert row == (42, "héllo 'quoted'", now, 1.5, {"a": 1}, [1, 2])
        assert conn.info.parameter_status("client_encoding") == "UTF8"
        assert conn.info.parameter_status("standard_conforming_strings") == "on"
        assert conn.info.parameter_status("integer_datetimes") == "on"
        # GUC_REPORT changes are reported back to the client.
        conn.execute("SET TimeZone TO 'Europe/Berlin'")
        assert conn.info.parameter_status("TimeZone") == "Europe/Berlin"
        (stamp,) = conn.execute("SELECT '2024-01-01 00:00+00'::timestamptz").fetchone()
        assert stamp.utcoffset() == dt.timedelta(hours=1)
        conn.execute("SELECT set_config('DateStyle', 'SQL, DMY', false)")
        assert conn.info.parameter_status("DateStyle") == "SQL, DMY"
        conn.execute("SET search_path TO pg_catalog, public")
        conn.execute("RESET ALL")
        assert conn.info.parameter_status("TimeZone") == "GMT"
        assert conn.execute("SHOW search_path").fetchone() == ("public",)
        # Server-side prepared statements (psycopg prepares after repeated use).
        for i in range(8):
            assert conn.execute("SELECT %s::int + 1", (i,), prepare=True).fetchone() == (i + 1,)
        # No DEBUG noise from PGlite's debug3 default.
        (level,) = conn.execute("SHOW client_min_messages").fetchone()
        assert level == "notice"


def test_wrong_password_is_rejected(server: Server) -> None:
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(server.dsn(password="wrong"))


def test_startup_options_are_applied(server: Server) -> None:
    with psycopg.connect(server.dsn(options="'-c work_mem=5MB'", application_name="tsdb-test")) as conn:
        assert conn.execute("SHOW work_mem").fetchone() == ("5MB",)
        assert conn.execute("SHOW application_name").fetchone() == ("tsdb-test",)


# ----------------------------------------------------------------------------------------------- timescaledb


def test_hypertable_executemany_copy_and_retention(server: Server, schema: str) -> None:
    table = sql.Identifier(schema, "metrics")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with server.connect() as conn:
        conn.execute(
            sql.SQL("CREATE TABLE {} (time timestamptz NOT NULL, device text NOT NULL, value double precision)").format(
                table
            )
        )
        conn.execute(
            "SELECT create_hypertable(%s, by_range('time', INTERVAL '7 days'))",
            (f"{schema}.metrics",),
        )
        # executemany (pipelined extended protocol): one row per day for 100 days.
        with conn.cursor() as cur:
            cur.executemany(
                sql.SQL("INSERT INTO {} (time, device, value) VALUES (%s, %s, %s)").format(table),
                [(now - dt.timedelta(days=d), "press-1", float(d)) for d in range(100)],
            )
        # COPY FROM STDIN, inside an explicit transaction.
        with conn.transaction(), conn.cursor() as cur:
            with cur.copy(sql.SQL("COPY {} (time, device, value) FROM STDIN").format(table)) as copy:
                for d in range(100):
                    copy.write_row((now - dt.timedelta(days=d, hours=1), "press-2", float(d)))
            assert cur.rowcount == 100
        (count,) = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()
        assert count == 200

        (hypertables,) = conn.execute(
            "SELECT count(*) FROM timescaledb_information.hypertables "
            "WHERE hypertable_schema = %s AND hypertable_name = 'metrics'",
            (schema,),
        ).fetchone()
        assert hypertables == 1
        (chunks_before,) = conn.execute(
            "SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_schema = %s", (schema,)
        ).fetchone()
        assert chunks_before >= 14

        (job_id,) = conn.execute(
            "SELECT add_retention_policy(%s, drop_after => INTERVAL '30 days')", (f"{schema}.metrics",)
        ).fetchone()
        # Job views may hold -infinity timestamps, which psycopg cannot load as datetime: read them as text.
        job = conn.execute(
            "SELECT proc_name, schedule_interval::text, config::text, next_start::text, scheduled "
            "FROM timescaledb_information.jobs WHERE job_id = %s",
            (job_id,),
        ).fetchone()
        assert job is not None
        assert job[0] == "policy_retention"
        assert "30 days" in job[2]
        assert job[4] is True

        conn.execute("SELECT alter_job(%s, schedule_interval => INTERVAL '1 hour')", (job_id,))
        (interval,) = conn.execute(
            "SELECT schedule_interval::text FROM timescaledb_information.jobs WHERE job_id = %s", (job_id,)
        ).fetchone()
        assert interval == "01:00:00"

        conn.execute("CALL run_job(%s)", (job_id,))
        (oldest,) = conn.execute(sql.SQL("SELECT min(time) FROM {}").format(table)).fetchone()
        assert oldest >= now - dt.timedelta(days=38)  # whole chunks older than 30 days are gone
        (stats,) = conn.execute(
            "SELECT count(*) FROM timescaledb_information.job_stats WHERE job_id = %s", (job_id,)
        ).fetchone()
        assert stats == 1

        conn.execute("SELECT remove_retention_policy(%s)", (f"{schema}.metrics",))
        (left,) = conn.execute(
            "SELECT count(*) FROM timescaledb_information.jobs WHERE job_id = %s", (job_id,)
        ).fetchone()
        assert left == 0


def test_show_chunks_and_drop_chunks(server: Server, schema: str) -> None:
    table = sql.Identifier(schema, "readings")
    qualified = f"{schema}.readings"
    with server.connect() as conn:
        conn.execute(sql.SQL("CREATE TABLE {} (time timestamptz NOT NULL, value int)").format(table))
        conn.execute("SELECT create_hypertable(%s, 'time', chunk_time_interval => INTERVAL '1 day')", (qualified,))
        conn.execute(
            sql.SQL(
                "INSERT INTO {} SELECT t, 1 FROM generate_series(now() - INTERVAL '9 days', now(), INTERVAL '1 hour') t"
            ).format(table)
        )
        chunks = [r[0] for r in conn.execute("SELECT show_chunks(%s)", (qualified,)).fetchall()]
        assert len(chunks) >= 10
        old = conn.execute("SELECT show_chunks(%s, older_than => INTERVAL '5 days')", (qualified,)).fetchall()
        assert 0 < len(old) < len(chunks)
        dropped = conn.execute("SELECT drop_chunks(%s, older_than => INTERVAL '5 days')", (qualified,)).fetchall()
        assert len(dropped) == len(old)
        remaining = conn.execute("SELECT show_chunks(%s)", (qualified,)).fetchall()
        assert len(remaining) == len(chunks) - len(old)
        (oldest,) = conn.execute(
            sql.SQL("SELECT min(time) > now() - INTERVAL '6 days' FROM {}").format(table)
        ).fetchone()
        assert oldest is True


# ----------------------------------------------------------------------------------------------- protocol


def test_pipeline_mode(server: Server, schema: str) -> None:
    table = sql.Identifier(schema, "pipe")
    with server.connect() as conn:
        conn.execute(sql.SQL("CREATE TABLE {} (id int PRIMARY KEY, name text)").format(table))
        with conn.pipeline():
            cursors = [
                conn.execute(sql.SQL("INSERT INTO {} VALUES (%s, %s) RETURNING id").format(table), (i, f"n{i}"))
                for i in range(20)
            ]
            total = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table))
        assert [c.fetchone()[0] for c in cursors] == list(range(20))
        assert total.fetchone() == (20,)
        # An error inside a pipeline aborts the rest of that pipeline only.
        with pytest.raises(psycopg.errors.UniqueViolation), conn.pipeline():
            conn.execute(sql.SQL("INSERT INTO {} VALUES (1, 'dup')").format(table))
            conn.execute("SELECT 1")
        assert conn.execute("SELECT 2").fetchone() == (2,)


def test_copy_out_and_failed_copy(server: Server, schema: str) -> None:
    table = sql.Identifier(schema, "copytest")
    with server.connect() as conn:
        conn.execute(sql.SQL("CREATE TABLE {} (id int, label text)").format(table))
        # Bad data fails the COPY and only that transaction.
        with (
            pytest.raises(psycopg.errors.InvalidTextRepresentation),
            conn.transaction(),
            conn.cursor() as cur,
            cur.copy(sql.SQL("COPY {} FROM STDIN").format(table)) as copy,
        ):
            copy.write(b"1\tok\nnot-a-number\tbad\n")
        # A COPY in a transaction that is rolled back leaves nothing behind.
        with conn.transaction() as tx, conn.cursor() as cur:
            with cur.copy(sql.SQL("COPY {} FROM STDIN").format(table)) as copy:
                copy.write_row((1, "rolled back"))
            tx_rows = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()
            assert tx_rows == (1,)
            raise psycopg.Rollback(tx)
        # A COPY after an earlier statement in the same transaction keeps that statement's effect.
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(sql.SQL("INSERT INTO {} VALUES (0, 'before copy')").format(table))
            with cur.copy(sql.SQL("COPY {} (id, label) FROM STDIN").format(table)) as copy:
                for i in range(1, 1001):
                    copy.write_row((i, f"row {i}"))
        assert conn.execute(sql.SQL("SELECT count(*), sum(id) FROM {}").format(table)).fetchone() == (1001, 500500)
        # COPY TO STDOUT.
        query = sql.SQL("COPY (SELECT id, label FROM {} WHERE id <= 2 ORDER BY id) TO STDOUT").format(table)
        with conn.cursor() as cur, cur.copy(query) as copy:
            out = b"".join(bytes(chunk) for chunk in copy)
        assert out == b"0\tbefore copy\n1\trow 1\n2\trow 2\n"


def test_error_mid_transaction_does_not_poison_next_statement(server: Server) -> None:
    with server.connect(autocommit=False) as conn:
        conn.execute("SELECT 1")
        with pytest.raises(psycopg.errors.DivisionByZero):
            conn.execute("SELECT 1 / 0")
        with pytest.raises(psycopg.errors.InFailedSqlTransaction):
            conn.execute("SELECT 1")
        conn.rollback()
        assert conn.execute("SELECT 2").fetchone() == (2,)
        conn.commit()
    with server.connect() as conn:
        with pytest.raises(psycopg.errors.UndefinedTable):
            conn.execute("SELECT * FROM no_such_table WHERE id = %s", (1,))
        with pytest.raises(psycopg.errors.SyntaxError):
            conn.execute("SELEC 1")
        assert conn.execute("SELECT %s::int", (3,)).fetchone() == (3,)
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_session_is_reset_between_connections(server: Server) -> None:
    conn = server.connect(autocommit=False)
    conn.execute("SET work_mem TO '7MB'")
    conn.execute("SET search_path TO pg_catalog")
    conn.execute("PREPARE leftover AS SELECT 1")
    conn.execute("CREATE TEMP TABLE leftover_temp (id int)")
    for _ in range(6):  # psycopg's own prepared statements (_pg3_N)
        conn.execute("SELECT %s::int", (1,), prepare=True)
    conn.commit()
    conn.execute("CREATE TABLE public.leftover_uncommitted (id int)")
    conn.close()  # with the transaction still open (close() does not commit)
    with server.connect() as conn:
        assert conn.execute("SHOW work_mem").fetchone() != ("7MB",)
        assert conn.execute("SHOW search_path").fetchone() == ("public",)
        assert conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone() == (0,)
        assert conn.execute("SELECT to_regclass('leftover_uncommitted')").fetchone() == (None,)
        temp = conn.execute("SELECT count(*) FROM pg_class WHERE relname = 'leftover_temp'").fetchone()
        assert temp == (0,)
        for _ in range(6):  # would fail with "prepared statement _pg3_0 already exists" without the reset
            conn.execute("SELECT %s::int", (1,), prepare=True)
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def _scram(password: str) -> str:
    import sys

    sys.path.insert(0, str(REPO_ROOT))
    from plugins.module_utils.rds_postgres import scram_sha256_verifier

    return scram_sha256_verifier(password)


def test_login_role_gets_its_own_privileges_and_cannot_escalate(server: Server, schema: str) -> None:
    """A non-admin user must be a LOGIN role with a matching SCRAM verifier; its session runs as that role."""
    role = "tsdb_role_" + uuid.uuid4().hex[:8]
    other = schema + "_other"
    with server.connect() as conn:
        conn.execute(sql.SQL("CREATE TABLE {}.mine (x int)").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(other)))
        conn.execute(sql.SQL("CREATE TABLE {}.theirs (x int)").format(sql.Identifier(other)))
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(_scram("pw-1")))
        )
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(schema), sql.Identifier(role)))
        conn.execute(
            sql.SQL("GRANT SELECT, INSERT ON {}.mine TO {}").format(sql.Identifier(schema), sql.Identifier(role))
        )
    try:
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(server.dsn(user=role, password="wrong"))
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(server.dsn(user="no_such_role_" + uuid.uuid4().hex[:6], password="pw-1"))
        with psycopg.connect(server.dsn(user=role, password="pw-1"), autocommit=True) as conn:
            assert conn.execute("SELECT current_user, session_user").fetchone() == (role, role)
            assert conn.info.parameter_status("is_superuser") == "off"
            conn.execute(sql.SQL("INSERT INTO {}.mine VALUES (1)").format(sql.Identifier(schema)))
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql.SQL("SELECT * FROM {}.theirs").format(sql.Identifier(other)))
            for escape in (
                "SET SESSION AUTHORIZATION postgres",
                "RESET SESSION AUTHORIZATION",
                "DISCARD ALL",
                "SELECT set_config('session_authorization', 'postgres', false)",
                "SET ROLE postgres",
                # security review: comments, dynamic SQL, functions and escapes must not get around the refusal
                "SET SESSION/**/AUTHORIZATION postgres",
                "SET/* a /* nested */ comment */SESSION\tAUTHORIZATION postgres",
                "SET SESSION--\nAUTHORIZATION postgres",
                "SELECT pg_catalog.set_config('session_' || 'authorization', 'postgres', false)",
                "SELECT set_config('ro' || 'le', 'postgres', false)",
                "DO $$ BEGIN EXECUTE 'SET SESSION ' || 'AUTHORIZATION postgres'; END $$",
                "/* c */ do $x$ BEGIN NULL; END $x$",
                "CREATE FUNCTION pg_temp.f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'RESET ALL'; END $$",
                "CREATE OR REPLACE PROCEDURE pg_temp.p() LANGUAGE sql AS 'SELECT 1'",
                'SET U&"session\\005fauthorization" TO postgres',
                "SELECT '/*'; SET SESSION AUTHORIZATION postgres; SELECT '*/'",
            ):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(escape)
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(escape + " -- %s", (1,))  # extended protocol
            assert conn.execute("SELECT current_user, session_user").fetchone() == (role, role)
            # what a tenant does is not caught by the refusal: comment markers in strings, ON CONFLICT DO NOTHING
            row = conn.execute("SELECT '-- not a comment /*', $q$ */ $q$").fetchone()
            assert row == ("-- not a comment /*", " */ ")
            conn.execute(sql.SQL("INSERT INTO {}.mine VALUES (2) ON CONFLICT DO NOTHING").format(
                sql.Identifier(schema)))
        for options in ("-c session_authorization=postgres", "-c SESSION_AUTHORIZATION=postgres", "-c role=postgres",
                        "--session-authorization=postgres"):
            with pytest.raises(psycopg.OperationalError, match="may not set"):
                psycopg.connect(server.dsn(user=role, password="pw-1", options="'%s'" % options))
        with server.connect() as conn:  # the next client gets the admin session back
            assert conn.execute("SELECT current_user, current_setting('is_superuser')").fetchone() == ("postgres", "on")
    finally:
        with server.connect() as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(other)))
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_role_without_login_is_refused(server: Server) -> None:
    role = "tsdb_nologin_" + uuid.uuid4().hex[:8]
    with server.connect() as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} NOLOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(_scram("pw")))
        )
    try:
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(server.dsn(user=role, password="pw"))
    finally:
        with server.connect() as conn:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_sequential_connections(server: Server) -> None:
    for i in range(15):
        with server.connect() as conn:
            assert conn.execute("SELECT %s::int", (i,)).fetchone() == (i,)


def test_second_connection_waits_for_the_first(server: Server) -> None:
    events: list[tuple[str, float]] = []
    errors: list[BaseException] = []
    first = server.connect(autocommit=False)
    first.execute("SET work_mem TO '9MB'")
    first.execute("SELECT 1")  # leave a transaction open

    def second() -> None:
        try:
            with server.connect() as conn:
                events.append(("second connected", time.monotonic()))
                events.append(("second work_mem", conn.execute("SHOW work_mem").fetchone()[0]))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    thread = threading.Thread(target=second)
    thread.start()
    time.sleep(1.5)
    assert thread.is_alive(), "second connection did not wait for the first to close"
    assert first.execute("SELECT 5").fetchone() == (5,)  # the first connection keeps working meanwhile
    closed_at = time.monotonic()
    first.close()
    thread.join(30)
    assert not errors, errors
    assert not thread.is_alive()
    assert events[0][0] == "second connected" and events[0][1] >= closed_at
    assert events[1][1] != "9MB"


def test_queue_timeout_errors_cleanly(server: Server) -> None:
    with server.connect():
        started = time.monotonic()
        with pytest.raises(psycopg.OperationalError, match="one connection at a time"):
            psycopg.connect(server.dsn())
        waited = time.monotonic() - started
    assert QUEUE_TIMEOUT - 1 <= waited < QUEUE_TIMEOUT + 10
    with server.connect() as conn:  # the server is still fine afterwards
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_psql(server: Server) -> None:
    psql = _pg_binary("psql")
    result = subprocess.run(
        [psql, "-h", server.host, "-p", str(server.port), "-U", "postgres", "-d", "postgres", "-Atc", "select 1"],
        env=_client_env(server),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"

    script = "CREATE TEMP TABLE t (a int);\n\\copy t from stdin\n1\n2\n\\.\nSELECT sum(a) FROM t;\n"
    result = subprocess.run(
        [psql, "-h", server.host, "-p", str(server.port), "-U", "postgres", "-At", "-v", "ON_ERROR_STOP=1"],
        input=script,
        env=_client_env(server),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "3"


def test_pg_isready(server: Server) -> None:
    result = subprocess.run(
        [_pg_binary("pg_isready"), "-h", server.host, "-p", str(server.port)],
        env=_client_env(server),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "accepting connections" in result.stdout


def test_extended_protocol_copy_from_stdin_is_refused_cleanly(server: Server, schema: str) -> None:
    table = sql.Identifier(schema, "extcopy")
    with server.connect() as conn:
        conn.execute(sql.SQL("CREATE TABLE {} (id int)").format(table))
        with pytest.raises(psycopg.errors.FeatureNotSupported):
            conn.execute(sql.SQL("COPY {} FROM STDIN").format(table), prepare=True)
        assert conn.execute("SELECT 1").fetchone() == (1,)


# ----------------------------------------------------------------------------------------------- persistence


def test_trust_mode_persistence_and_clean_shutdown(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    srv = start_server(tmp_path / "server.log", data_dir=data_dir)
    try:
        with psycopg.connect(srv.dsn(), autocommit=True) as conn:  # trust: no password
            conn.execute("CREATE TABLE persisted (id int)")
            conn.execute("INSERT INTO persisted VALUES (1), (2), (3)")
    finally:
        rc = stop_server(srv.proc)
    assert rc == 0, srv.log()

    srv = start_server(tmp_path / "server.log", data_dir=data_dir)
    try:
        with psycopg.connect(srv.dsn(), autocommit=True) as conn:
            assert conn.execute("SELECT sum(id) FROM persisted").fetchone() == (6,)
            (version,) = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
            assert version
    finally:
        rc = stop_server(srv.proc)
    assert rc == 0, srv.log()
