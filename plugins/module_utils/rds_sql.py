# -*- coding: utf-8 -*-
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SQL helpers of the databases role's modules: identifier quoting, database ACL reading and the catalogue
snapshot that tells whether an idempotent schema script changed anything.

An idempotent script (CREATE ... IF NOT EXISTS) always "runs"; whether it changed the database is the
difference between a snapshot of the catalogue taken before and after it. The snapshot covers schemas,
relations, columns, constraints, indexes and (when TimescaleDB is installed) hypertables of the schemas the
script may touch.
"""

from __future__ import annotations

import re

IDENT_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
SYSTEM_SCHEMA_FILTER = (
    "n.nspname NOT IN ('pg_catalog', 'information_schema', 'timescaledb_information', 'timescaledb_experimental', "
    "'toolkit_experimental') AND n.nspname NOT LIKE 'pg\\_%%' AND n.nspname NOT LIKE '\\_timescaledb%%'"
)


def quote_ident(name):
    """A safely double-quoted identifier."""
    return '"%s"' % str(name).replace('"', '""')


def check_ident(name, what="name"):
    """Role, database and schema names the role creates are simple lowercase identifiers."""
    if not isinstance(name, str) or not IDENT_RE.fullmatch(name):
        raise ValueError("%s %r is not a simple identifier (lowercase letters, digits, _; at most 63)" % (what, name))
    return name


PLACEHOLDER_RE = re.compile(r"[a-z_][a-z0-9_]*")


def substitute_identifiers(script, identifiers, what="identifiers"):
    """``script`` with every ``{key}`` replaced by the quoted identifier ``identifiers[key]``.

    Each identifier is checked here (never trusting the caller's validation): a simple lowercase identifier of
    at most 63 characters, then double-quoted. Raises ValueError naming the field (``identifiers.<key>``).
    """
    for key in sorted(identifiers or {}):
        if not isinstance(key, str) or not PLACEHOLDER_RE.fullmatch(key):
            raise ValueError("%s: placeholder name %r is not a simple name (lowercase letters, digits, _)"
                             % (what, key))
        field = "%s.%s" % (what, key)
        try:
            name = check_ident(identifiers[key], field)
        except ValueError as exc:
            raise ValueError("%s: %s" % (field, exc)) from None
        script = script.replace("{%s}" % key, quote_ident(name))
    return script


def snapshot_queries(schemas=None):
    """(label, sql, params) of the catalogue queries of a snapshot; ``schemas`` limits it to those schemas."""
    if schemas:
        where, params = "n.nspname = ANY(%(schemas)s)", {"schemas": list(schemas)}
    else:
        where, params = SYSTEM_SCHEMA_FILTER, {}
    return [
        ("schemas",
         "SELECT n.nspname AS a, pg_get_userbyid(n.nspowner) AS b FROM pg_namespace n WHERE " + where,  # noqa: S608
         params),
        ("relations",
         "SELECT n.nspname || '.' || c.relname AS a, c.relkind::text AS b, pg_get_userbyid(c.relowner) AS c "
         "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
         "WHERE c.relkind IN ('r','p','v','m','S','i','f') AND " + where, params),
        ("columns",
         "SELECT n.nspname || '.' || c.relname || '.' || a.attname AS a, format_type(a.atttypid, a.atttypmod) AS b, "
         "a.attnotnull::text AS c, coalesce(pg_get_expr(d.adbin, d.adrelid), '') AS d "
         "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
         "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
         "WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r','p','v','m','f') AND " + where, params),
        ("constraints",
         "SELECT n.nspname || '.' || c.relname || '.' || k.conname AS a, pg_get_constraintdef(k.oid) AS b "
         "FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
         "WHERE " + where, params),
        ("indexes",
         "SELECT n.nspname || '.' || c.relname AS a, pg_get_indexdef(c.oid) AS b "
         "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
         "WHERE " + where, params),
    ]


HYPERTABLES_QUERY = (
    "SELECT hypertable_schema || '.' || hypertable_name AS a, num_dimensions::text AS b "
    "FROM timescaledb_information.hypertables"
)
HAS_TIMESCALE_QUERY = "SELECT to_regclass('timescaledb_information.hypertables') IS NOT NULL AS present"


def rows_to_set(rows):
    """Rows (dicts or tuples) to a frozenset of tuples, so snapshots compare regardless of order."""
    result = set()
    for row in rows:
        values = row.values() if isinstance(row, dict) else row
        result.add(tuple("" if v is None else str(v) for v in values))
    return frozenset(result)


def snapshot_difference(before, after):
    """Human-readable labels of what changed between two snapshots ({label: frozenset})."""
    changes = []
    for label in sorted(set(before) | set(after)):
        old, new = before.get(label, frozenset()), after.get(label, frozenset())
        added = sorted(row[0] for row in new - old)
        removed = sorted(row[0] for row in old - new)
        changes.extend("%s: %s" % (label, name) for name in sorted(set(added) | set(removed)))
    return changes


def acl_entries(rows):
    """aclexplode rows {grantee, privilege_type} -> {grantee name ('PUBLIC' for 0): set of privileges}."""
    result = {}
    for row in rows:
        grantee = row["grantee"] or "PUBLIC"
        result.setdefault(grantee, set()).add(row["privilege_type"])
    return result


def split_statements(script):
    """Split a SQL script on top-level semicolons (quotes, identifiers, comments and dollar quotes respected)."""
    statements, current, i, n = [], [], 0, len(script)
    while i < n:
        ch = script[i]
        if ch == "-" and script.startswith("--", i):
            end = script.find("\n", i)
            end = n if end < 0 else end
            i = end
            continue
        if ch == "/" and script.startswith("/*", i):
            end = script.find("*/", i + 2)
            i = n if end < 0 else end + 2
            continue
        if ch in ("'", '"'):
            end = i + 1
            while end < n:
                if script[end] == ch:
                    if end + 1 < n and script[end + 1] == ch:
                        end += 2
                        continue
                    break
                end += 1
            current.append(script[i:end + 1])
            i = end + 1
            continue
        if ch == "$":
            match = re.match(r"\$[A-Za-z_0-9]*\$", script[i:])
            if match:
                tag = match.group(0)
                end = script.find(tag, i + len(tag))
                end = n if end < 0 else end + len(tag)
                current.append(script[i:end])
                i = end
                continue
        if ch == ";":
            statement = "".join(current).strip()
            if statement:
                statements.append(statement)
            current = []
            i += 1
            continue
        current.append(ch)
        i += 1
    statement = "".join(current).strip()
    if statement:
        statements.append(statement)
    return statements
