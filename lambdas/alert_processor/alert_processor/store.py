"""SQL of the alert processor. PostgreSQL: the tenant's own database (schema/postgres.sql); TimescaleDB: the
tenant's schema (schema/timescaledb.sql). Every statement has a fixed text (arrays through unnest), so psycopg
prepares it once per connection whatever the batch size."""

from __future__ import annotations

from .rules import Rule, State

SQL_MACHINES = "SELECT machine_id FROM machines WHERE machine_id = ANY(%s::text[])"

SQL_RULES = (
    "SELECT rule_id, name, machine_id, metric, comparator, threshold, clear_threshold, severity "
    "FROM alert_rules WHERE enabled ORDER BY rule_id"
)

# Serialises evaluation per machine across concurrent invocations (a Kafka batch and an API call for the same
# machine): transaction-scoped advisory locks, taken in one global order (by key) so two batches cannot deadlock.
SQL_LOCK_MACHINES = (
    "SELECT pg_advisory_xact_lock(k) FROM "
    "(SELECT DISTINCT hashtextextended(m, 0) AS k FROM unnest(%s::text[]) AS m) AS keys ORDER BY k"
)

SQL_STATES = (
    "SELECT rule_id, machine_id, active, alert_key, changed_ts FROM alert_state "
    "WHERE rule_id = ANY(%s::bigint[]) AND machine_id = ANY(%s::text[])"
)

# All writes of a batch in one statement: new alerts (duplicates skipped), state transitions, episodes closed.
# The UPDATE cannot see rows the INSERT adds (one snapshot): alerts opened and closed in the same batch carry
# their cleared_at in the INSERT instead.
SQL_WRITE = """
WITH new_alerts AS (
    INSERT INTO alerts (dedupe_key, rule_id, rule_name, machine_id, metric, value, unit, comparator, threshold,
                        severity, reading_ts, cleared_at, source)
    SELECT * FROM unnest(%(a_key)s::text[], %(a_rule)s::bigint[], %(a_name)s::text[], %(a_machine)s::text[],
                         %(a_metric)s::text[], %(a_value)s::float8[], %(a_unit)s::text[], %(a_cmp)s::text[],
                         %(a_threshold)s::float8[], %(a_severity)s::text[], %(a_ts)s::timestamptz[],
                         %(a_cleared)s::timestamptz[], %(a_source)s::text[])
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING alert_id, dedupe_key
), states AS (
    INSERT INTO alert_state AS s (rule_id, machine_id, active, alert_key, changed_ts)
    SELECT * FROM unnest(%(s_rule)s::bigint[], %(s_machine)s::text[], %(s_active)s::bool[], %(s_key)s::text[],
                         %(s_ts)s::timestamptz[])
    ON CONFLICT (rule_id, machine_id) DO UPDATE
        SET active = EXCLUDED.active, alert_key = EXCLUDED.alert_key, changed_ts = EXCLUDED.changed_ts,
            updated_at = now()
    RETURNING 1
), cleared AS (
    UPDATE alerts AS a SET cleared_at = c.ts
    FROM unnest(%(c_key)s::text[], %(c_ts)s::timestamptz[]) AS c(key, ts)
    WHERE a.dedupe_key = c.key AND a.cleared_at IS NULL
    RETURNING 1
)
SELECT alert_id, dedupe_key FROM new_alerts
"""

SQL_ALERTS = (
    "SELECT alert_id, rule_id, rule_name, machine_id, metric, value, unit, comparator, threshold, severity, "
    "reading_ts, triggered_at, cleared_at FROM alerts "
    "WHERE (%(machine_id)s::text IS NULL OR machine_id = %(machine_id)s::text) "
    "ORDER BY triggered_at DESC, alert_id DESC LIMIT %(limit)s"
)

ALERT_COLUMNS = ("alert_id", "rule_id", "rule_name", "machine_id", "metric", "value", "unit", "comparator",
                 "threshold", "severity", "reading_ts", "triggered_at", "cleared_at")


def tsdb_insert_sql(schema: str):
    from psycopg import sql

    return sql.SQL(
        "INSERT INTO {}.machine_metrics (time, machine_id, metric, value, unit) "
        "SELECT * FROM unnest(%s::timestamptz[], %s::text[], %s::text[], %s::float8[], %s::text[]) "
        "ON CONFLICT DO NOTHING"
    ).format(sql.Identifier(schema))


def tsdb_params(readings) -> list:
    return [[r.ts for r in readings], [r.machine_id for r in readings], [r.metric for r in readings],
            [r.value for r in readings], [r.unit for r in readings]]


def load_rules(conn) -> list[Rule]:
    return [Rule(int(row[0]), row[1], row[2], row[3], row[4], float(row[5]),
                 None if row[6] is None else float(row[6]), row[7]) for row in conn.execute(SQL_RULES)]


def load_states(conn, pairs) -> dict[tuple[int, str], State]:
    rule_ids = sorted({p[0] for p in pairs})
    machine_ids = sorted({p[1] for p in pairs})
    rows = conn.execute(SQL_STATES, (rule_ids, machine_ids)).fetchall()
    return {(int(r[0]), r[1]): State(r[2], r[3], r[4]) for r in rows if (int(r[0]), r[1]) in pairs}


def write_params(evaluation) -> dict:
    t = evaluation.triggers
    states = list(evaluation.transitions.items())
    return {
        "a_key": [x.dedupe_key for x in t], "a_rule": [x.rule.rule_id for x in t],
        "a_name": [x.rule.name for x in t], "a_machine": [x.reading.machine_id for x in t],
        "a_metric": [x.reading.metric for x in t], "a_value": [x.reading.value for x in t],
        "a_unit": [x.reading.unit for x in t], "a_cmp": [x.rule.comparator for x in t],
        "a_threshold": [x.rule.threshold for x in t], "a_severity": [x.rule.severity for x in t],
        "a_ts": [x.reading.ts for x in t], "a_cleared": [x.cleared_ts for x in t],
        "a_source": [x.reading.source for x in t],
        "s_rule": [k[0] for k, _unused in states], "s_machine": [k[1] for k, _unused in states],
        "s_active": [s.active for _unused, s in states], "s_key": [s.alert_key for _unused, s in states],
        "s_ts": [s.changed_ts for _unused, s in states],
        "c_key": [k for k, _unused in evaluation.cleared], "c_ts": [ts for _unused, ts in evaluation.cleared],
    }
