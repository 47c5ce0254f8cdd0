"""Unit tests of the timescale_retention module entry point with a fake psycopg connection: the order of
reads and writes, one transaction (commit once / rollback), check mode executing no writes, failures rolling
back, the interval fallback path, and the documented options matching the argument spec."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import yaml

_COLLECTIONS = Path(__file__).resolve().parents[4] / "collections"
if str(_COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(_COLLECTIONS))

from ansible.module_utils.testing import patch_module_args  # noqa: E402

from ansible_collections.manufacturing.platform.plugins.module_utils import timescale as ts  # noqa: E402
from ansible_collections.manufacturing.platform.plugins.modules import timescale_retention as mod  # noqa: E402

CANON = {"30 days": "30 days", "90 days": "90 days", "1 day": "1 day", "1 hour": "01:00:00", "01:00:00": "01:00:00",
         "P30D": "30 days", "12 hours": "12:00:00", "12:00:00": "12:00:00"}
SECONDS = {"30 days": 2592000, "90 days": 7776000, "1 day": 86400, "01:00:00": 3600, "12:00:00": 43200}


def _literal(value):
    if isinstance(value, list):
        return "ARRAY[%s]" % ", ".join(_literal(v) for v in value)
    if isinstance(value, int):
        return str(value)
    return "'%s'" % str(value).replace("'", "''")


class FakeCursor:
    def __init__(self, db):
        self.db = db
        self.rows = []
        self.description = None

    def mogrify(self, sql, params=None):
        return re.sub(r"%\((\w+)\)s", lambda m: _literal(params[m.group(1)]), sql)

    def _result(self, rows):
        self.rows = rows
        self.description = [("col",)] if rows is not None else None

    def execute(self, sql, params=None):
        db = self.db
        db.log.append((sql, params))
        if sql == ts.EXTENSION_QUERY:
            return self._result([{"extversion": "2.23.0"}] if db.extension else [])
        if sql == ts.STATE_QUERY:
            rows = []
            for ord_, ref in enumerate(params["refs"], 1):
                rows.append(dict(db.tables.get(ref, {}), ord=ord_))
            return self._result(rows)
        if sql == ts.INTERVALS_QUERY:
            if any(v not in CANON for v in params["values"]):
                raise ValueError("invalid input syntax for type interval")
            return self._result([self._interval(v, params["min"]) for v in params["values"]])
        if sql == ts.INTERVAL_QUERY:
            if params["value"] not in CANON:
                raise ValueError('invalid input syntax for type interval: "%s"' % params["value"])
            return self._result([self._interval(params["value"], None)])
        if sql == ts.BELOW_MIN_QUERY:
            return self._result([self._interval(params["value"], params["min"])])
        if sql.startswith(("SAVEPOINT", "RELEASE", "ROLLBACK TO")):
            return self._result(None)
        if sql in (ts.CHUNKS_QUERY, ts.CHUNKS_OLDER_THAN_QUERY, ts.SCHEDULES_QUERY):
            if sql == ts.SCHEDULES_QUERY:
                return self._result([{"job_id": j, "schedule_interval": "1 day"} for j in params["job_ids"]])
            return self._result([{"ord": i + 1, "chunks": []} for i in range(len(params["refs"]))])
        # a write
        db.writes.append(self.mogrify(sql, params))
        if db.fail_on and db.fail_on in sql:
            raise RuntimeError("boom from the database")
        if sql in (ts.ADD_SQL, ts.ADD_WITH_SCHEDULE_SQL):
            db.next_job += 1
            return self._result([{"job_id": db.next_job}])
        if sql.startswith("SELECT job_id FROM alter_job"):
            return self._result([{"job_id": params["job_id"]}])
        if sql == ts.RUN_JOB_SQL:
            return self._result(None)
        return self._result([{"remove_retention_policy": ""}])

    @staticmethod
    def _interval(value, minimum):
        canon = CANON[value]
        below = SECONDS[canon] < SECONDS[CANON[minimum]] if minimum else None
        return {"value": value, "canonical": canon, "not_positive": False, "below_min": below}

    def fetchall(self):
        if self.description is None:
            raise RuntimeError("no result")
        return self.rows

    def fetchone(self):
        return self.fetchall()[0] if self.rows else None


class FakeDB:
    def __init__(self, tables, extension=True, fail_on=None):
        self.tables = tables
        self.extension = extension
        self.fail_on = fail_on
        self.log = []
        self.writes = []
        self.commits = 0
        self.rollbacks = 0
        self.closed = False
        self.next_job = 1000

    def cursor(self, **kwargs):
        return FakeCursor(self)

    def commit(self):
        self.commits += 1

    def rollback(self):
        self.rollbacks += 1

    def close(self):
        self.closed = True


def hypertable(schema, table, job_id=None, drop_after="30 days", schedule="1 day"):
    row = {"schema_name": schema, "table_name": table, "relkind": "r", "is_hypertable": True,
           "time_type": "timestamp with time zone", "job_id": job_id, "config": None, "schedule_interval": None}
    if job_id is not None:
        row.update(config=json.dumps({"drop_after": drop_after, "hypertable_id": 1}), schedule_interval=schedule)
    return row


@pytest.fixture
def db(monkeypatch):
    holder = {}

    def connect(module, params, autocommit=False, fail_on_conn=True):
        assert autocommit is False, "all changes must run in one transaction"
        return holder["db"], None

    monkeypatch.setattr(mod, "connect_to_db", connect)
    monkeypatch.setattr(mod, "ensure_required_libs", lambda module: None)

    def install(*args, **kwargs):
        holder["db"] = FakeDB(*args, **kwargs)
        return holder["db"]

    return install


def run_main(args, capsys, check_mode=False, diff=True):
    args = dict({"login_host": "127.0.0.1", "login_db": "metrics"}, **args)
    args["_ansible_check_mode"] = check_mode
    args["_ansible_diff"] = diff
    with patch_module_args(args), pytest.raises(SystemExit) as exit_info:
        mod.main()
    out = capsys.readouterr().out
    result = json.loads(out[out.index("{"):])
    result["_rc"] = exit_info.value.code
    return result


TABLES = {
    '"a"."m"': hypertable("a", "m"),
    '"b"."m"': hypertable("b", "m", job_id=1001),
    '"c"."m"': hypertable("c", "m", job_id=1002),
}


def test_apply_in_one_transaction(db, capsys):
    fake = db(TABLES)
    result = run_main({"hypertables": ["a.m", {"name": "b.m", "drop_after": "90 days"}, "c.m"]}, capsys)
    assert result["_rc"] == 0 and result["changed"] is True
    assert fake.writes == [
        "SELECT add_retention_policy('\"a\".\"m\"'::regclass, drop_after => '30 days'::interval) AS job_id",
        "SELECT job_id FROM alter_job(1001, config => '{\"drop_after\": \"90 days\", \"hypertable_id\": 1}'::jsonb)",
    ]
    assert result["executed_queries"] == fake.writes
    assert [p["action"] for p in result["policies"]] == ["added", "updated", "unchanged"]
    assert result["policies"][0]["job_id"] == 1001  # returned by add_retention_policy
    assert result["policies"][0]["after"]["schedule_interval"] == "1 day"
    assert (fake.commits, fake.rollbacks, fake.closed) == (1, 0, True)
    # reads: the extension, one state query, one interval query, one schedules read-back; no per-table reads
    reads = [sql for sql, _params in fake.log if not sql.startswith(("SELECT add_", "SELECT job_id FROM alter"))]
    assert reads == [ts.EXTENSION_QUERY, ts.STATE_QUERY, "SAVEPOINT timescale_retention_intervals",
                     ts.INTERVALS_QUERY, "RELEASE SAVEPOINT timescale_retention_intervals", ts.SCHEDULES_QUERY]
    assert result["diff"]["after"]["b.m"] == {"drop_after": "90 days", "schedule_interval": "1 day"}


def test_check_mode_runs_no_write(db, capsys):
    fake = db(TABLES)
    result = run_main({"hypertables": ["a.m", "b.m", {"name": "c.m", "state": "absent"}], "run_now": True},
                      capsys, check_mode=True)
    assert result["changed"] is True
    assert fake.writes == []
    assert (fake.commits, fake.rollbacks) == (0, 1)
    assert result["executed_queries"] == [
        "SELECT add_retention_policy('\"a\".\"m\"'::regclass, drop_after => '30 days'::interval) AS job_id",
        "SELECT remove_retention_policy('\"c\".\"m\"'::regclass)",
        "CALL run_job(NULL) -- the id of the new policy on a.m",
        "CALL run_job(1001)",
    ]


def test_unchanged_is_not_changed(db, capsys):
    fake = db(TABLES)
    result = run_main({"hypertables": ["b.m", "c.m"], "drop_after": "P30D"}, capsys)
    assert result["changed"] is False and result["executed_queries"] == [] and fake.writes == []


def test_missing_extension(db, capsys):
    fake = db(TABLES, extension=False)
    result = run_main({"hypertables": ["a.m"]}, capsys)
    assert result["failed"] is True
    assert "timescaledb extension is not installed in database 'metrics'" in result["msg"]
    assert fake.writes == [] and fake.commits == 0


def test_validation_errors_list_every_table_and_write_nothing(db, capsys):
    tables = dict(TABLES, **{'"d"."plain"': dict(hypertable("d", "plain"), is_hypertable=False)})
    fake = db(tables)
    result = run_main({"hypertables": ["a.m", "d.plain", "x.missing", {"name": "b.m", "drop_after": "12 hours"}]},
                      capsys)
    assert result["failed"] is True and fake.writes == [] and fake.commits == 0
    assert result["errors"] == [
        "d.plain: d.plain is not a hypertable (a plain table); create it with create_hypertable() first",
        "x.missing: table does not exist",
        "b.m: drop_after '12 hours' (12:00:00) is shorter than min_drop_after '1 day'",
    ]


def test_invalid_interval_uses_the_per_value_fallback(db, capsys):
    fake = db(TABLES)
    result = run_main({"hypertables": [{"name": "a.m", "drop_after": "a fortnight"}, "b.m"]}, capsys)
    assert result["failed"] is True and fake.writes == []
    assert result["errors"] == [
        "a.m: drop_after 'a fortnight' is not a valid interval (invalid input syntax for type interval: "
        "\"a fortnight\")"]
    assert "ROLLBACK TO SAVEPOINT timescale_retention_intervals" in [sql for sql, _params in fake.log]


def test_malformed_items(db, capsys):
    db(TABLES)
    result = run_main({"hypertables": ["a.b.c", {"name": "a.m", "ttl": "1 day"}]}, capsys)
    assert result["failed"] is True
    assert "too many dotted parts" in result["msg"] and "unknown key(s) ttl" in result["msg"]


def test_failed_write_rolls_back(db, capsys):
    fake = db(TABLES, fail_on="alter_job")
    result = run_main({"hypertables": ["a.m", {"name": "b.m", "drop_after": "90 days"}]}, capsys)
    assert result["failed"] is True
    assert "updating of the policy on b.m failed, the transaction was rolled back" in result["msg"]
    assert "boom from the database" in result["msg"]
    assert fake.commits == 0 and fake.rollbacks >= 1
    assert result["executed_queries"] == fake.writes[:1]
    assert "alter_job(1001" in result["failed_query"]


def test_documented_options_match_argument_spec():
    documented = set(yaml.safe_load(mod.DOCUMENTATION)["options"])
    fragment = {"login_user", "login_password", "login_host", "login_unix_socket", "login_port", "ssl_mode",
                "ca_cert", "ssl_cert", "ssl_key", "connect_params"}
    assert documented | fragment == set(mod.argument_spec())
    for key in ("EXAMPLES", "RETURN"):
        assert yaml.safe_load(getattr(mod, key))
