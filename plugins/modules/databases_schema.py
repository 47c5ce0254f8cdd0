#!/usr/bin/python
# ruff: noqa: EXE001 - Ansible modules carry a shebang but are not executable files
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: databases_schema
short_description: Apply an idempotent SQL schema script and report a change only when the catalogue changed
version_added: 1.0.0
description:
  - Runs an idempotent SQL script (C(CREATE ... IF NOT EXISTS), C(create_hypertable(..., if_not_exists => TRUE)))
    in B(one transaction) and compares a snapshot of the catalogue (schemas, relations, columns, defaults,
    constraints, indexes and TimescaleDB hypertables) taken before and after it. The result is V(changed)
    only when the catalogue differs, so applying the script on every converge reports no change.
  - A failing statement rolls the whole script back and names the statement.
  - Check mode runs the script inside a transaction that is B(rolled back), to report whether it would change
    the catalogue; nothing is committed. Diff mode lists the catalogue objects that change.
author:
  - Manufacturing Platform Team (@manufacturing-platform)
options:
  script:
    description: The SQL script (statements separated by semicolons; quotes, comments and dollar quotes respected).
    type: str
    required: true
  schemas:
    description:
      - Schemas the snapshot covers. Default every non-system schema of the database.
    type: list
    elements: str
  identifiers:
    description:
      - Placeholder name -> identifier. Every C({name}) in O(script) is replaced by the identifier, double-quoted.
      - Each identifier must be a simple lowercase identifier (C([a-z_][a-z0-9_]*), at most 63 characters); the
        module checks it itself and fails naming C(identifiers.<name>) before connecting, so a hostile or
        mistyped name never reaches the SQL.
    type: dict
    default: {}
  login_db:
    description: Name of the database to connect to.
    type: str
    aliases: [db]
extends_documentation_fragment:
  - community.postgresql.postgres
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details:
      - The script runs in a transaction that is rolled back.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
notes:
  - Tested with PostgreSQL 15 and TimescaleDB 2.23 (PGlite), psycopg 3.
seealso:
  - module: community.postgresql.postgresql_script
"""

EXAMPLES = r"""
- name: Transactional schema of a tenant, as the tenant's own role
  manufacturing.platform.databases_schema:
    login_host: "{{ pg_host }}"
    login_user: t_customer_456
    login_password: "{{ tenant_password }}"
    login_db: t_customer_456
    ssl_mode: verify-full
    ca_cert: /etc/ssl/rds-ca.pem
    script: "{{ lookup('ansible.builtin.file', 'lambdas/alert_processor/schema/postgres.sql') }}"
  no_log: true

- name: Time-series schema of a tenant in TimescaleDB
  manufacturing.platform.databases_schema:
    login_host: 127.0.0.1
    login_db: postgres
    schemas: [t_customer_456]
    identifiers:
      schema: t_customer_456
    script: "{{ lookup('ansible.builtin.file', 'timescaledb.sql') }}"
"""

RETURN = r"""
changes:
  description: "Catalogue objects that were (in check mode, would be) added, changed or removed, as C(<kind>: <name>)."
  returned: always
  type: list
  elements: str
  sample: ["relations: t_customer_456.machine_metrics", "indexes: t_customer_456.machine_metrics_reading_key"]
statements:
  description: Number of statements the script has.
  returned: always
  type: int
  sample: 4
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native
from ansible_collections.community.postgresql.plugins.module_utils.postgres import (
    connect_to_db,
    ensure_required_libs,
    get_conn_params,
    pg_cursor_args,
    postgres_common_argument_spec,
)
from ansible_collections.manufacturing.platform.plugins.module_utils.rds_sql import (
    HAS_TIMESCALE_QUERY,
    HYPERTABLES_QUERY,
    rows_to_set,
    snapshot_difference,
    snapshot_queries,
    split_statements,
    substitute_identifiers,
)


def schema_of(row):
    name = str(row["a"] if isinstance(row, dict) else row[0])
    return name.split(".", maxsplit=1)[0]


def take_snapshot(cursor, schemas):
    snapshot = {}
    for label, sql, params in snapshot_queries(schemas):
        cursor.execute(sql, params or None)
        snapshot[label] = rows_to_set(cursor.fetchall())
    cursor.execute(HAS_TIMESCALE_QUERY)
    row = cursor.fetchone()
    if row and (row["present"] if isinstance(row, dict) else row[0]):
        cursor.execute(HYPERTABLES_QUERY)
        rows = cursor.fetchall()
        if schemas:
            rows = [r for r in rows if schema_of(r) in schemas]
        snapshot["hypertables"] = rows_to_set(rows)
    return snapshot


def main():
    spec = postgres_common_argument_spec()
    spec.update(
        script=dict(type="str", required=True),
        schemas=dict(type="list", elements="str"),
        login_db=dict(type="str", aliases=["db"]),
        identifiers=dict(type="dict", default={}),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    try:
        script = substitute_identifiers(module.params["script"], module.params["identifiers"])
    except ValueError as exc:
        module.fail_json(msg="databases_schema: %s; nothing was changed" % exc)
    ensure_required_libs(module)
    statements = split_statements(script)
    connection, dummy = connect_to_db(module, get_conn_params(module, module.params, warn_db_default=False),
                                      autocommit=False)
    cursor = connection.cursor(**pg_cursor_args)
    schemas = module.params["schemas"]
    try:
        before = take_snapshot(cursor, schemas)
        for index, statement in enumerate(statements):
            try:
                cursor.execute(statement)
            except Exception as exc:  # noqa: BLE001 - report the database's reason
                connection.rollback()
                module.fail_json(msg="databases_schema: statement %d failed, nothing was changed: %s\n%s"
                                 % (index + 1, to_native(exc).strip(), statement[:300]))
        after = take_snapshot(cursor, schemas)
        changes = snapshot_difference(before, after)
        if module.check_mode or not changes:
            connection.rollback()
        else:
            connection.commit()
    finally:
        cursor.close()
        connection.close()
    result = {"changed": bool(changes), "changes": changes, "statements": len(statements)}
    if module._diff:
        result["diff"] = {"before": "", "after": "".join(c + "\n" for c in changes)}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
