"""Unit tests of plugins/module_utils/timescale.py: name parsing, input normalisation, interval comparison,
validation, the plan and the SQL it turns into (pure functions, no database)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

_COLLECTIONS = Path(__file__).resolve().parents[4] / "collections"
if str(_COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(_COLLECTIONS))

from ansible_collections.manufacturing.platform.plugins.module_utils import timescale as ts  # noqa: E402

# ----------------------------------------------------------------------------------------------------------
# names
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("metrics", (None, "metrics")),
        ("tenant_a.machine_metrics", ("tenant_a", "machine_metrics")),
        ("Tenant_A.Machine_Metrics", ("tenant_a", "machine_metrics")),  # unquoted identifiers fold to lower case
        ('"Tenant A"."Metrics"', ("Tenant A", "Metrics")),
        ('"a.b".c', ("a.b", "c")),
        ('s."say ""hi"""', ("s", 'say "hi"')),
        ("  s.t  ", ("s", "t")),
        ("s$1._t2", ("s$1", "_t2")),
    ],
)
def test_parse_relation_name(name, expected):
    assert ts.parse_relation_name(name) == expected


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "non-empty"),
        (None, "non-empty"),
        ("a.b.c", "too many dotted parts"),
        ("a..b", "not a valid table name"),
        ("a.", "not a valid table name"),
        ("1abc", "not a valid table name"),
        ("bad name", "not a valid table name"),
        ('"unterminated', "unterminated"),
        ('"".t', "empty quoted identifier"),
        ("s.t; DROP TABLE x", "not a valid table name"),
    ],
)
def test_parse_relation_name_rejects(name, fragment):
    with pytest.raises(ValueError, match=fragment):
        ts.parse_relation_name(name)


def test_relation_ref_and_display():
    assert ts.relation_ref(None, "t") == '"t"'
    assert ts.relation_ref("s", 'we"ird') == '"s"."we""ird"'
    assert ts.display_name("s", "t") == "s.t"
    assert ts.display_name("Tenant A", "t") == '"Tenant A".t'


# ----------------------------------------------------------------------------------------------------------
# input normalisation
# ----------------------------------------------------------------------------------------------------------


def test_normalize_strings_and_dicts_with_defaults():
    entries = ts.normalize_hypertables(
        ["a.m", {"name": "b.m", "drop_after": "90 days"}, {"name": "c.m", "state": "absent"},
         {"name": "d.m", "schedule_interval": "1 hour"}],
        drop_after="30 days", schedule_interval=None, state="present",
    )
    assert [(e["schema"], e["table"], e["drop_after"], e["schedule_interval"], e["state"]) for e in entries] == [
        ("a", "m", "30 days", None, "present"),
        ("b", "m", "90 days", None, "present"),
        ("c", "m", "30 days", None, "absent"),
        ("d", "m", "30 days", "1 hour", "present"),
    ]
    assert entries[0]["ref"] == '"a"."m"'


def test_normalize_collects_every_error():
    with pytest.raises(ts.TimescaleRetentionError) as err:
        ts.normalize_hypertables(["ok.t", 42, {"name": "x.y", "ttl": "1 day"}, {"name": "a.b.c"},
                                  {"name": "s.t", "state": "gone"}, {"drop_after": "1 day"}])
    errors = err.value.errors
    assert len(errors) == 5
    assert "hypertables[1]: must be a string" in errors[0]
    assert "unknown key(s) ttl" in errors[1]
    assert "too many dotted parts" in errors[2]
    assert "state must be one of present, absent" in errors[3]
    assert "hypertables[5]" in errors[4] and "non-empty" in errors[4]


def test_normalize_rejects_empty_list():
    with pytest.raises(ts.TimescaleRetentionError, match="non-empty list"):
        ts.normalize_hypertables([])


def test_integer_drop_after_becomes_text():
    # 30 becomes '30' which PostgreSQL reads as 30 seconds: rejected later by the minimum check
    (entry,) = ts.normalize_hypertables([{"name": "s.t", "drop_after": 30}])
    assert entry["drop_after"] == "30"


# ----------------------------------------------------------------------------------------------------------
# intervals (canonical texts as PostgreSQL prints them, IntervalStyle=postgres)
# ----------------------------------------------------------------------------------------------------------

CANON = {
    "30 days": "30 days", "30 day": "30 days", "P30D": "30 days", "720:00:00": "720:00:00", "720 hours": "720:00:00",
    "1 mon": "1 mon", "1 month": "1 mon", "2 weeks": "14 days", "14 days": "14 days", "1 day": "1 day",
    "24 hours": "24:00:00", "90 days": "90 days", "1 hour": "01:00:00", "01:00:00": "01:00:00",
    "12:00:00": "12:00:00", "30": "00:00:30", "-1 day": "-1 days",
}


def intervals(min_value="1 day", invalid=()):
    def below(text):
        seconds = {"30 days": 2592000, "720:00:00": 2592000, "1 mon": 2592000, "14 days": 1209600,
                   "1 day": 86400, "24:00:00": 86400, "90 days": 7776000, "01:00:00": 3600, "12:00:00": 43200,
                   "00:00:30": 30, "-1 days": -86400}
        return seconds[text] < seconds[CANON[min_value]]

    result = {v: {"canonical": c, "not_positive": c.startswith("-"), "below_min": below(c), "error": None}
              for v, c in CANON.items()}
    for value in invalid:
        result[value] = {"canonical": None, "not_positive": None, "below_min": None,
                         "error": 'invalid input syntax for type interval: "%s"' % value}
    return result


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        ("30 days", "30 day", True),
        ("30 days", "P30D", True),
        ("2 weeks", "14 days", True),
        ("1 mon", "1 month", True),
        ("720:00:00", "720 hours", True),
        # PostgreSQL's = calls these equal; the retention boundary now() - x differs, so they are a change
        ("30 days", "1 mon", False),
        ("30 days", "720 hours", False),
        ("1 day", "24 hours", False),
        ("30 days", "90 days", False),
        ("30 days", None, False),
        (None, None, True),
        ("30 days", "nonsense", False),
    ],
)
def test_same_interval(a, b, equal):
    assert ts.same_interval(a, b, intervals(invalid=("nonsense",))) is equal


def test_interval_values_collects_desired_current_and_minimum():
    entries = ts.normalize_hypertables(["a.m", {"name": "b.m", "drop_after": "2 weeks", "schedule_interval": "1 hour"}])
    rows = [{"config": json.dumps({"drop_after": "30 days", "hypertable_id": 1}), "schedule_interval": "1 day"},
            {"config": None, "schedule_interval": None}]
    assert ts.interval_values(entries, rows, "1 day") == ["1 day", "1 hour", "2 weeks", "30 days"]


# ----------------------------------------------------------------------------------------------------------
# state rows, validation
# ----------------------------------------------------------------------------------------------------------


def row(schema="s", table="m", hypertable=True, time_type="timestamp with time zone", job_id=None,
        drop_after=None, schedule="1 day", relkind="r", extra_config=None):
    config = None
    if job_id is not None:
        config = {"drop_after": drop_after, "hypertable_id": 7}
        config.update(extra_config or {})
        config = json.dumps(config)
    return {"schema_name": schema, "table_name": table, "relkind": relkind, "is_hypertable": hypertable,
            "time_type": time_type if hypertable else None, "job_id": job_id, "config": config,
            "schedule_interval": schedule if job_id is not None else None}


def test_validate_ok():
    entries = ts.normalize_hypertables(["s.m", "s.n"])
    states = [[row(table="m")], [row(table="n", job_id=1000, drop_after="30 days")]]
    assert ts.validate(entries, states, intervals(), "1 day") == []


def test_validate_reports_every_problem_naming_the_table():
    entries = ts.normalize_hypertables([
        "s.missing", "s.plain", "s.ints", {"name": "s.short", "drop_after": "12:00:00"},
        {"name": "s.bad", "drop_after": "nonsense"}, {"name": "s.neg", "drop_after": "-1 day"},
        {"name": "s.sched", "schedule_interval": "nonsense"}, "s.view",
    ])
    states = [
        [{}],
        [row(table="plain", hypertable=False)],
        [row(table="ints", time_type="bigint")],
        [row(table="short")],
        [row(table="bad")],
        [row(table="neg")],
        [row(table="sched")],
        [row(table="view", hypertable=False, relkind="v")],
    ]
    errors = ts.validate(entries, states, intervals(invalid=("nonsense",)), "1 day")
    assert errors == [
        "s.missing: table does not exist",
        "s.plain: s.plain is not a hypertable (a plain table); create it with create_hypertable() first",
        "s.ints: the time column of s.ints is bigint; only timestamp/date time columns are supported "
        "(integer drop_after is out of scope)",
        "s.short: drop_after '12:00:00' (12:00:00) is shorter than min_drop_after '1 day'",
        "s.bad: drop_after 'nonsense' is not a valid interval (invalid input syntax for type interval: \"nonsense\")",
        "s.neg: drop_after '-1 day' must be positive",
        "s.sched: schedule_interval 'nonsense' is not a valid interval "
        "(invalid input syntax for type interval: \"nonsense\")",
        "s.view: s.view is not a hypertable (a view); create it with create_hypertable() first",
    ]


def test_validate_minimum_is_configurable_and_uses_postgres_ordering():
    entries = ts.normalize_hypertables([{"name": "s.m", "drop_after": "12:00:00"}])
    assert ts.validate(entries, [[row()]], intervals(min_value="01:00:00"), "01:00:00") == []
    entries = ts.normalize_hypertables([{"name": "s.m", "drop_after": "30"}])  # 30 seconds
    (error,) = ts.validate(entries, [[row()]], intervals(), "1 day")
    assert "drop_after '30' (00:00:30) is shorter than min_drop_after '1 day'" in error


def test_validate_invalid_minimum():
    entries = ts.normalize_hypertables(["s.m"])
    errors = ts.validate(entries, [[row()]], intervals(invalid=("one day",)), "one day")
    assert errors[0].startswith("min_drop_after: 'one day' is not a valid interval")


def test_validate_duplicates_resolved_to_the_same_table():
    entries = ts.normalize_hypertables(["s.m", "S.M"])
    errors = ts.validate(entries, [[row()], [row()]], intervals(), "1 day")
    assert errors == ["S.M: listed twice (also as s.m)"]


def test_validate_absent_skips_interval_and_type_checks():
    entries = ts.normalize_hypertables([{"name": "s.ints", "drop_after": "nonsense", "state": "absent"}])
    assert ts.validate(entries, [[row(time_type="bigint")]], intervals(invalid=("nonsense",)), "1 day") == []


def test_validate_absent_still_requires_a_hypertable():
    entries = ts.normalize_hypertables([{"name": "s.gone", "state": "absent"}])
    assert ts.validate(entries, [[{}]], intervals(), "1 day") == ["s.gone: table does not exist"]


def test_validate_several_retention_jobs():
    entries = ts.normalize_hypertables(["s.m"])
    states = [[row(job_id=1000, drop_after="30 days"), row(job_id=1001, drop_after="30 days")]]
    assert ts.validate(entries, states, intervals(), "1 day") == [
        "s.m: has 2 retention jobs (1000, 1001); remove the extra ones first"]


# ----------------------------------------------------------------------------------------------------------
# plan and SQL
# ----------------------------------------------------------------------------------------------------------


def plan_for(items, states, **defaults):
    entries = ts.normalize_hypertables(items, **defaults)
    iv = intervals()
    assert ts.validate(entries, states, iv, "1 day") == []
    return ts.compute_plan(entries, states, iv)


def test_plan_add():
    (item,) = plan_for(["s.m"], [[row()]])
    assert item["action"] == "added"
    assert item["before"] is None
    assert item["after"] == {"drop_after": "30 days", "schedule_interval": None, "job_id": None}
    assert ts.plan_statements(item) == [(ts.ADD_SQL, {"relation": '"s"."m"', "drop_after": "30 days"})]


def test_plan_add_with_schedule_uses_canonical_intervals():
    (item,) = plan_for([{"name": "s.m", "drop_after": "2 weeks", "schedule_interval": "1 hour"}], [[row()]])
    assert item["changes"] == ["drop_after", "schedule_interval"]
    assert ts.plan_statements(item) == [(ts.ADD_WITH_SCHEDULE_SQL, {
        "relation": '"s"."m"', "drop_after": "14 days", "schedule_interval": "01:00:00"})]


@pytest.mark.parametrize("desired", ["30 days", "30 day", "P30D"])
def test_plan_unchanged_for_equal_intervals(desired):
    (item,) = plan_for([{"name": "s.m", "drop_after": desired}], [[row(job_id=1000, drop_after="30 days")]])
    assert item["action"] == "unchanged"
    assert item["before"] == item["after"] == {"drop_after": "30 days", "schedule_interval": "1 day", "job_id": 1000}
    assert ts.plan_statements(item) == []


def test_plan_update_drop_after_keeps_job_and_config():
    (item,) = plan_for([{"name": "s.m", "drop_after": "90 days"}], [[row(job_id=1000, drop_after="30 days")]])
    assert item["action"] == "updated"
    assert item["changes"] == ["drop_after"]
    assert item["after"] == {"drop_after": "90 days", "schedule_interval": "1 day", "job_id": 1000}
    ((sql, params),) = ts.plan_statements(item)
    assert sql == ts.ALTER_CONFIG_SQL
    assert params["job_id"] == 1000
    assert json.loads(params["config"]) == {"drop_after": "90 days", "hypertable_id": 7}


def test_plan_month_versus_days_is_a_change():
    (item,) = plan_for([{"name": "s.m", "drop_after": "1 month"}], [[row(job_id=1000, drop_after="30 days")]])
    assert item["action"] == "updated"
    assert item["after"]["drop_after"] == "1 mon"


def test_plan_update_replaces_drop_created_before():
    (item,) = plan_for(["s.m"], [[row(job_id=1000, drop_after=None, extra_config={"drop_created_before": "7 days"})]])
    ((_sql, params),) = ts.plan_statements(item)
    assert json.loads(params["config"]) == {"drop_after": "30 days", "hypertable_id": 7}


def test_plan_schedule_only_change():
    (item,) = plan_for([{"name": "s.m", "schedule_interval": "12:00:00"}],
                       [[row(job_id=1000, drop_after="30 days", schedule="1 day")]])
    assert item["changes"] == ["schedule_interval"]
    assert ts.plan_statements(item) == [(ts.ALTER_SCHEDULE_SQL, {"job_id": 1000, "schedule_interval": "12:00:00"})]


def test_plan_both_changes_in_one_alter_job():
    (item,) = plan_for([{"name": "s.m", "drop_after": "90 days", "schedule_interval": "01:00:00"}],
                       [[row(job_id=1000, drop_after="30 days")]])
    ((sql, params),) = ts.plan_statements(item)
    assert sql == ts.ALTER_BOTH_SQL
    assert params["schedule_interval"] == "01:00:00"


def test_plan_omitted_schedule_leaves_existing_schedule_alone():
    (item,) = plan_for(["s.m"], [[row(job_id=1000, drop_after="30 days", schedule="12:00:00")]])
    assert item["action"] == "unchanged"


def test_plan_remove_and_absent_without_policy():
    plan = plan_for(["s.m", "s.n"], [[row(job_id=1000, drop_after="30 days")], [row(table="n")]], state="absent")
    assert [(i["action"], i["after"]) for i in plan] == [("removed", None), ("unchanged", None)]
    assert ts.plan_statements(plan[0]) == [(ts.REMOVE_SQL, {"relation": '"s"."m"'})]
    assert ts.plan_statements(plan[1]) == []


def test_plan_mixed_and_diff_and_result():
    plan = plan_for(
        ["s.a", {"name": "s.b", "drop_after": "90 days"}, {"name": "s.c", "state": "absent"}, "s.d"],
        [[row(table="a")], [row(table="b", job_id=1001, drop_after="30 days")],
         [row(table="c", job_id=1002, drop_after="30 days")], [row(table="d", job_id=1003, drop_after="30 days")]],
    )
    assert [i["action"] for i in plan] == ["added", "updated", "removed", "unchanged"]
    assert ts.build_diff(plan) == {
        "before": {"s.b": {"drop_after": "30 days", "schedule_interval": "1 day"},
                   "s.c": {"drop_after": "30 days", "schedule_interval": "1 day"},
                   "s.d": {"drop_after": "30 days", "schedule_interval": "1 day"}},
        "after": {"s.a": {"drop_after": "30 days", "schedule_interval": None},
                  "s.b": {"drop_after": "90 days", "schedule_interval": "1 day"},
                  "s.d": {"drop_after": "30 days", "schedule_interval": "1 day"}},
    }
    policies = ts.result_policies(plan)
    assert [p["hypertable"] for p in policies] == ["s.a", "s.b", "s.c", "s.d"]
    assert set(policies[0]) == {"name", "hypertable", "action", "changes", "job_id", "before", "after",
                                "chunks_dropped"}


def test_parse_config():
    assert ts.parse_config(None) == {}
    assert ts.parse_config('{"drop_after": "30 days"}') == {"drop_after": "30 days"}
    assert ts.parse_config({"a": 1}) == {"a": 1}
    assert ts.parse_config("not json") == {}
    assert ts.parse_config("[1]") == {}
