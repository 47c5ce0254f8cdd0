# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""TimescaleDB retention policies: parsing, validation, planning and SQL for the timescale_retention module.

The pure functions (``parse_relation_name``, ``normalize_hypertables``, ``validate``, ``compute_plan``,
``plan_statements``, ``build_diff``) take plain data and are unit tested without a database. The functions
taking a ``cursor`` run the few read queries the module needs (a constant number, whatever the number of
hypertables) on a psycopg cursor that returns rows as mappings (community.postgresql's ``connect_to_db``).

Intervals are never parsed here: PostgreSQL casts every distinct interval text once (``'2 weeks'::interval``)
and the canonical text it prints (``14 days``) is what is compared. Two intervals are equal when their
canonical texts are, i.e. when their months, days and microseconds fields are all equal. This is stricter
than PostgreSQL's ``=`` on intervals (which holds ``'1 mon' = '30 days'`` and ``'1 day' = '24 hours'``) on
purpose: TimescaleDB computes the retention boundary as ``now() - drop_after`` and calendar months, days and
hours give different boundaries, so ``1 month`` after ``30 days`` is a real change. ``min_drop_after``
uses PostgreSQL's ordering (``<``), where a month counts as 30 days.
"""

from __future__ import annotations

import json
import re

RETENTION_PROC = "policy_retention"
STATES = ("present", "absent")
ITEM_KEYS = ("name", "drop_after", "schedule_interval", "state")
TIME_TYPES = ("timestamp with time zone", "timestamp without time zone", "date")

_UNQUOTED_IDENT = re.compile(r"[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*")
_SIMPLE_IDENT = re.compile(r"[a-z_][a-z0-9_$]*")
MAX_IDENT_BYTES = 63  # NAMEDATALEN - 1

EXTENSION_QUERY = "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'timescaledb'"

# One read of the current state of every listed table: does it exist, is it a hypertable, the type of its
# time dimension, and its retention job (if any) from timescaledb_information.jobs.
STATE_QUERY = """\
SELECT i.ord, n.nspname AS schema_name, c.relname AS table_name, c.relkind::text AS relkind,
       h.hypertable_name IS NOT NULL AS is_hypertable, d.column_type::text AS time_type,
       j.job_id, j.config::text AS config, j.schedule_interval::text AS schedule_interval
FROM unnest(%(refs)s::text[]) WITH ORDINALITY AS i(ref, ord)
LEFT JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(i.ref)
LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN timescaledb_information.hypertables h
       ON h.hypertable_schema = n.nspname AND h.hypertable_name = c.relname
LEFT JOIN timescaledb_information.dimensions d
       ON d.hypertable_schema = n.nspname AND d.hypertable_name = c.relname AND d.dimension_number = 1
LEFT JOIN timescaledb_information.jobs j
       ON j.proc_name = 'policy_retention' AND j.hypertable_schema = n.nspname AND j.hypertable_name = c.relname
ORDER BY i.ord, j.job_id"""

INTERVALS_QUERY = """\
SELECT v.val AS value, v.val::interval::text AS canonical, v.val::interval <= interval '0' AS not_positive,
       v.val::interval < %(min)s::interval AS below_min
FROM unnest(%(values)s::text[]) AS v(val)"""

INTERVAL_QUERY = "SELECT %(value)s::interval::text AS canonical, %(value)s::interval <= interval '0' AS not_positive"
BELOW_MIN_QUERY = "SELECT %(value)s::interval < %(min)s::interval AS below_min"

CHUNKS_QUERY = """\
SELECT e.ord, ARRAY(SELECT ch::text FROM show_chunks(e.ref::regclass) AS ch ORDER BY 1) AS chunks
FROM unnest(%(refs)s::text[]) WITH ORDINALITY AS e(ref, ord)
ORDER BY e.ord"""

CHUNKS_OLDER_THAN_QUERY = """\
SELECT e.ord, ARRAY(SELECT ch::text FROM show_chunks(e.ref::regclass, older_than => e.drop_after::interval) AS ch
                    ORDER BY 1) AS chunks
FROM unnest(%(refs)s::text[], %(drop_afters)s::text[]) WITH ORDINALITY AS e(ref, drop_after, ord)
ORDER BY e.ord"""

SCHEDULES_QUERY = """\
SELECT job_id, schedule_interval::text AS schedule_interval
FROM timescaledb_information.jobs WHERE job_id = ANY(%(job_ids)s::int[])"""

ADD_SQL = "SELECT add_retention_policy(%(relation)s::regclass, drop_after => %(drop_after)s::interval) AS job_id"
ADD_WITH_SCHEDULE_SQL = (
    "SELECT add_retention_policy(%(relation)s::regclass, drop_after => %(drop_after)s::interval, "
    "schedule_interval => %(schedule_interval)s::interval) AS job_id"
)
REMOVE_SQL = "SELECT remove_retention_policy(%(relation)s::regclass)"
ALTER_CONFIG_SQL = "SELECT job_id FROM alter_job(%(job_id)s, config => %(config)s::jsonb)"
ALTER_SCHEDULE_SQL = "SELECT job_id FROM alter_job(%(job_id)s, schedule_interval => %(schedule_interval)s::interval)"
ALTER_BOTH_SQL = (
    "SELECT job_id FROM alter_job(%(job_id)s, schedule_interval => %(schedule_interval)s::interval, "
    "config => %(config)s::jsonb)"
)
RUN_JOB_SQL = "CALL run_job(%(job_id)s)"


class TimescaleRetentionError(Exception):
    """Invalid input or state; ``errors`` lists every problem found (nothing has been changed)."""

    def __init__(self, errors):
        if isinstance(errors, str):
            errors = [errors]
        self.errors = list(errors)
        super().__init__("; ".join(self.errors))


# ------------------------------------------------------------------------------------------------ names


def quote_ident(ident):
    return '"%s"' % ident.replace('"', '""')


def display_ident(ident):
    """An identifier as PostgreSQL would need it written: bare when it is a plain lowercase name."""
    return ident if _SIMPLE_IDENT.fullmatch(ident) else quote_ident(ident)


def parse_relation_name(name):
    """Split ``schema.table`` (PostgreSQL identifier rules) into ``(schema or None, table)``.

    Unquoted identifiers are folded to lower case, quoted ones (``"Metrics"``, with ``""`` for a quote) are
    kept as written. Raises ValueError for anything that is not one or two identifiers.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError("a hypertable name must be a non-empty string, got %r" % (name,))
    text = name.strip()
    parts = []
    pos = 0
    while True:
        if pos < len(text) and text[pos] == '"':
            end = pos + 1
            ident = []
            while True:
                close = text.find('"', end)
                if close < 0:
                    raise ValueError("unterminated quoted identifier in %r" % name)
                ident.append(text[end:close])
                if text[close + 1:close + 2] == '"':
                    ident.append('"')
                    end = close + 2
                    continue
                pos = close + 1
                break
            part = "".join(ident)
            if not part:
                raise ValueError("empty quoted identifier in %r" % name)
        else:
            match = _UNQUOTED_IDENT.match(text, pos)
            if not match:
                raise ValueError("%r is not a valid table name (expected table or schema.table)" % name)
            part = match.group(0).lower()
            pos = match.end()
        parts.append(part)
        if pos == len(text):
            break
        if text[pos] != ".":
            raise ValueError("%r is not a valid table name (expected table or schema.table)" % name)
        pos += 1
    if len(parts) > 2:
        raise ValueError("%r has too many dotted parts (expected table or schema.table)" % name)
    for part in parts:
        if len(part.encode("utf-8")) > MAX_IDENT_BYTES:
            raise ValueError("%r: identifier %r is longer than %d bytes (PostgreSQL would truncate it to another "
                             "name)" % (name, part[:20] + "...", MAX_IDENT_BYTES))
    if len(parts) == 1:
        return None, parts[0]
    return parts[0], parts[1]


def relation_ref(schema, table):
    """The text given to ``to_regclass``/``::regclass`` (schema-less names follow the search_path)."""
    if schema is None:
        return quote_ident(table)
    return "%s.%s" % (quote_ident(schema), quote_ident(table))


def display_name(schema, table):
    return "%s.%s" % (display_ident(schema), display_ident(table))


# ------------------------------------------------------------------------------------------------ input


def normalize_hypertables(items, drop_after="30 days", schedule_interval=None, state="present"):
    """Turn the ``hypertables`` option (strings and dicts) into entries with every setting resolved.

    Returns a list of dicts: name (as given), schema (None when unqualified), table, ref, drop_after,
    schedule_interval, state. Raises TimescaleRetentionError listing every malformed item.
    """
    if not isinstance(items, list) or not items:
        raise TimescaleRetentionError("hypertables must be a non-empty list")
    errors = []
    entries = []
    for index, item in enumerate(items):
        where = "hypertables[%d]" % index
        if isinstance(item, str):
            item = {"name": item}
        elif not isinstance(item, dict):
            errors.append("%s: must be a string (schema.table) or a dict with name, got %s"
                          % (where, type(item).__name__))
            continue
        unknown = sorted(set(item) - set(ITEM_KEYS))
        if unknown:
            errors.append("%s: unknown key(s) %s (allowed: %s)"
                          % (where, ", ".join(map(str, unknown)), ", ".join(ITEM_KEYS)))
            continue
        try:
            schema, table = parse_relation_name(item.get("name"))
        except ValueError as exc:
            errors.append("%s: %s" % (where, exc))
            continue
        entry = {
            "name": item["name"].strip(),
            "schema": schema,
            "table": table,
            "ref": relation_ref(schema, table),
            "drop_after": _interval_text(item.get("drop_after", drop_after)),
            "schedule_interval": _interval_text(item.get("schedule_interval", schedule_interval)),
            "state": item.get("state") or state,
        }
        if entry["state"] not in STATES:
            errors.append("%s (%s): state must be one of %s, got %r"
                          % (where, entry["name"], ", ".join(STATES), entry["state"]))
            continue
        if entry["state"] == "present" and entry["drop_after"] is None:
            errors.append("%s (%s): drop_after is required" % (where, entry["name"]))
            continue
        entries.append(entry)
    if errors:
        raise TimescaleRetentionError(errors)
    return entries


def _interval_text(value):
    """Interval values as text; integers are refused (integer time columns are out of scope)."""
    if value is None:
        return None
    if isinstance(value, (bool, int, float)):
        return "%s" % value  # becomes seconds in PostgreSQL, then fails the minimum check with a clear message
    return str(value).strip()


# ------------------------------------------------------------------------------------------------ intervals


def interval_values(entries, rows, min_drop_after):
    """Every distinct interval text that needs casting: desired values, current values, the minimum."""
    values = {min_drop_after}
    for entry in entries:
        for key in ("drop_after", "schedule_interval"):
            if entry.get(key) is not None:
                values.add(entry[key])
    for row in rows:
        if row.get("schedule_interval") is not None:
            values.add(row["schedule_interval"])
        config = parse_config(row.get("config"))
        if isinstance(config.get("drop_after"), str):
            values.add(config["drop_after"])
    return sorted(values)


def read_intervals(cursor, values, min_drop_after):
    """Cast every value with PostgreSQL. Returns {value: {canonical, not_positive, below_min, error}}.

    One query when all values are valid intervals; otherwise each value is cast in its own savepoint so the
    error names the culprit (the surrounding transaction stays usable).
    """
    cursor.execute("SAVEPOINT timescale_retention_intervals")
    try:
        cursor.execute(INTERVALS_QUERY, {"values": list(values), "min": min_drop_after})
        rows = cursor.fetchall()
        cursor.execute("RELEASE SAVEPOINT timescale_retention_intervals")
        return {
            row["value"]: {"canonical": row["canonical"], "not_positive": row["not_positive"],
                           "below_min": row["below_min"], "error": None}
            for row in rows
        }
    except Exception:  # noqa: BLE001 - any cast error: find out which value, one at a time
        cursor.execute("ROLLBACK TO SAVEPOINT timescale_retention_intervals")
    result = {}
    for value in values:
        result[value] = _cast_one(cursor, value)
    minimum = result.get(min_drop_after)
    if minimum and minimum["error"] is None:
        for value, info in result.items():
            if info["error"] is None:
                cursor.execute(BELOW_MIN_QUERY, {"value": value, "min": min_drop_after})
                info["below_min"] = cursor.fetchone()["below_min"]
    cursor.execute("RELEASE SAVEPOINT timescale_retention_intervals")
    return result


def _cast_one(cursor, value):
    cursor.execute("SAVEPOINT timescale_retention_interval")
    try:
        cursor.execute(INTERVAL_QUERY, {"value": value})
        row = cursor.fetchone()
        cursor.execute("RELEASE SAVEPOINT timescale_retention_interval")
        return {"canonical": row["canonical"], "not_positive": row["not_positive"], "below_min": None, "error": None}
    except Exception as exc:  # noqa: BLE001 - the database's reason is the message
        cursor.execute("ROLLBACK TO SAVEPOINT timescale_retention_interval")
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return {"canonical": None, "not_positive": None, "below_min": None, "error": message}


def same_interval(a, b, intervals):
    """Equal when PostgreSQL prints both the same way (months, days and time all equal); unknown → False."""
    if a is None or b is None:
        return a is b
    ca = intervals.get(a, {}).get("canonical")
    cb = intervals.get(b, {}).get("canonical")
    return ca is not None and ca == cb


def canonical(value, intervals):
    if value is None:
        return None
    info = intervals.get(value) or {}
    return info.get("canonical") or value


# ------------------------------------------------------------------------------------------------ state


def read_extension(cursor):
    cursor.execute(EXTENSION_QUERY)
    row = cursor.fetchone()
    return row["extversion"] if row else None


def read_state(cursor, entries):
    """Rows of STATE_QUERY grouped per entry (index → list of rows; several rows only if several jobs)."""
    cursor.execute(STATE_QUERY, {"refs": [e["ref"] for e in entries]})
    grouped = {}
    for row in cursor.fetchall():
        grouped.setdefault(int(row["ord"]) - 1, []).append(dict(row))
    return [grouped.get(i, [{}]) for i in range(len(entries))]


def read_schedules(cursor, job_ids):
    """{job_id: schedule_interval text} of the given jobs (new policies get TimescaleDB's default)."""
    cursor.execute(SCHEDULES_QUERY, {"job_ids": list(job_ids)})
    return {row["job_id"]: row["schedule_interval"] for row in cursor.fetchall()}


def parse_config(config):
    if config is None:
        return {}
    if isinstance(config, dict):
        return config
    try:
        value = json.loads(config)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def read_chunks(cursor, refs, drop_afters=None):
    """Chunk names per relation: all of them, or those ``show_chunks(older_than => drop_after)`` lists."""
    if drop_afters is None:
        cursor.execute(CHUNKS_QUERY, {"refs": list(refs)})
    else:
        cursor.execute(CHUNKS_OLDER_THAN_QUERY, {"refs": list(refs), "drop_afters": list(drop_afters)})
    return [list(row["chunks"] or []) for row in cursor.fetchall()]


# ------------------------------------------------------------------------------------------------ validation


def validate(entries, states, intervals, min_drop_after):
    """Every problem with the request, as messages naming the table (empty list: all good). Pure."""
    errors = []
    minimum = intervals.get(min_drop_after) or {}
    if minimum.get("error"):
        errors.append("min_drop_after: %r is not a valid interval (%s)" % (min_drop_after, minimum["error"]))
    seen = {}
    for entry, rows in zip(entries, states):  # noqa: B905 - same length by construction (and Python 3.9 targets)
        row = rows[0]
        label = entry["name"]
        if not row.get("table_name"):
            errors.append("%s: table does not exist" % label)
            continue
        qualified = display_name(row["schema_name"], row["table_name"])
        if qualified in seen:
            errors.append("%s: listed twice (also as %s)" % (label, seen[qualified]))
            continue
        seen[qualified] = label
        if not row.get("is_hypertable"):
            errors.append("%s: %s is not a hypertable (%s); create it with create_hypertable() first"
                          % (label, qualified, _relkind_text(row.get("relkind"))))
            continue
        if len(rows) > 1:
            errors.append("%s: has %d retention jobs (%s); remove the extra ones first"
                          % (label, len(rows), ", ".join(str(r["job_id"]) for r in rows)))
            continue
        if entry["state"] != "present":
            continue
        if row.get("time_type") not in TIME_TYPES:
            errors.append("%s: the time column of %s is %s; only timestamp/date time columns are supported "
                          "(integer drop_after is out of scope)" % (label, qualified, row.get("time_type")))
        for key in ("drop_after", "schedule_interval"):
            value = entry.get(key)
            if value is None:
                continue
            info = intervals.get(value) or {}
            if info.get("error"):
                errors.append("%s: %s %r is not a valid interval (%s)" % (label, key, value, info["error"]))
            elif info.get("not_positive"):
                errors.append("%s: %s %r must be positive" % (label, key, value))
            elif key == "drop_after" and info.get("below_min"):
                errors.append("%s: drop_after %r (%s) is shorter than min_drop_after %r"
                              % (label, value, info.get("canonical"), min_drop_after))
    return errors


def _relkind_text(relkind):
    return {
        "r": "a plain table", "p": "a partitioned table", "v": "a view", "m": "a materialized view",
        "f": "a foreign table", "S": "a sequence", "i": "an index", "I": "an index", "c": "a composite type",
        "t": "a TOAST table",
    }.get(relkind, "relkind %r" % relkind)


# ------------------------------------------------------------------------------------------------ plan


def compute_plan(entries, states, intervals):
    """The action per listed hypertable (added, updated, removed, unchanged). Pure; call after validate()."""
    plan = []
    for entry, rows in zip(entries, states):  # noqa: B905 - same length by construction (and Python 3.9 targets)
        row = rows[0]
        config = parse_config(row.get("config"))
        has_job = row.get("job_id") is not None
        before = None
        if has_job:
            before = {
                "drop_after": canonical(config.get("drop_after"), intervals),
                "schedule_interval": canonical(row.get("schedule_interval"), intervals),
                "job_id": row["job_id"],
            }
        item = {
            "name": entry["name"],
            "hypertable": display_name(row["schema_name"], row["table_name"]),
            "relation": "%s.%s" % (quote_ident(row["schema_name"]), quote_ident(row["table_name"])),
            "state": entry["state"],
            "job_id": row.get("job_id"),
            "before": before,
            "after": None,
            "action": "unchanged",
            "changes": [],
            "config": None,
        }
        if entry["state"] == "absent":
            if has_job:
                item["action"] = "removed"
            plan.append(item)
            continue
        drop_after = canonical(entry["drop_after"], intervals)
        if not has_job:
            item["action"] = "added"
            item["changes"] = ["drop_after"] + (["schedule_interval"] if entry["schedule_interval"] else [])
            item["after"] = {
                "drop_after": drop_after,
                "schedule_interval": canonical(entry["schedule_interval"], intervals),
                "job_id": None,
            }
            plan.append(item)
            continue
        after = dict(before)
        if not same_interval(config.get("drop_after"), entry["drop_after"], intervals):
            item["changes"].append("drop_after")
            after["drop_after"] = drop_after
            new_config = {k: v for k, v in config.items() if k != "drop_created_before"}
            new_config["drop_after"] = drop_after
            item["config"] = new_config
        if entry["schedule_interval"] is not None and not same_interval(
                row.get("schedule_interval"), entry["schedule_interval"], intervals):
            item["changes"].append("schedule_interval")
            after["schedule_interval"] = canonical(entry["schedule_interval"], intervals)
        item["after"] = after
        if item["changes"]:
            item["action"] = "updated"
        plan.append(item)
    return plan


def plan_statements(item):
    """The SQL (text with %(name)s placeholders, params) that carries out one plan item. Pure."""
    action = item["action"]
    if action == "added":
        params = {"relation": item["relation"], "drop_after": item["after"]["drop_after"]}
        if item["after"]["schedule_interval"] is not None:
            params["schedule_interval"] = item["after"]["schedule_interval"]
            return [(ADD_WITH_SCHEDULE_SQL, params)]
        return [(ADD_SQL, params)]
    if action == "removed":
        return [(REMOVE_SQL, {"relation": item["relation"]})]
    if action == "updated":
        params = {"job_id": item["job_id"]}
        if item["config"] is not None:
            params["config"] = json.dumps(item["config"], sort_keys=True)
        if "schedule_interval" in item["changes"]:
            params["schedule_interval"] = item["after"]["schedule_interval"]
        if "config" in params and "schedule_interval" in params:
            return [(ALTER_BOTH_SQL, params)]
        if "config" in params:
            return [(ALTER_CONFIG_SQL, params)]
        return [(ALTER_SCHEDULE_SQL, params)]
    return []


def build_diff(plan):
    """Ansible diff: retention policy per listed hypertable before and after (absent tables omitted)."""
    before = {}
    after = {}
    for item in plan:
        if item["before"] is not None:
            before[item["hypertable"]] = _policy_view(item["before"])
        if item["after"] is not None:
            after[item["hypertable"]] = _policy_view(item["after"])
    return {"before": before, "after": after}


def _policy_view(policy):
    return {"drop_after": policy["drop_after"], "schedule_interval": policy["schedule_interval"]}


def result_policies(plan):
    """The ``policies`` return value: one entry per listed hypertable, in input order."""
    keys = ("name", "hypertable", "action", "changes", "job_id", "before", "after", "chunks_dropped")
    return [{k: item.get(k) for k in keys} for item in plan]
