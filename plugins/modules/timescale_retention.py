#!/usr/bin/python
# ruff: noqa: EXE001 - Ansible modules carry a shebang but are not executable files
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: timescale_retention
short_description: Manage TimescaleDB retention policies for a list of hypertables
version_added: 1.0.0
description:
  - Adds, updates and removes the TimescaleDB retention policies (C(add_retention_policy)) of a B(list) of
    hypertables in one task, over one connection, reading the current state of all of them with one query
    on C(timescaledb_information.jobs).
  - Changing O(drop_after) or O(schedule_interval) updates the existing policy in place with C(alter_job)
    (the job id is kept). C(add_retention_policy(if_not_exists => true)) alone would never do that.
  - Everything is validated before anything is changed (the extension is installed, every table exists and
    is a hypertable with a timestamp or date time column, every interval is a valid PostgreSQL interval and
    O(drop_after) is not shorter than O(min_drop_after)), and all changes run in B(one transaction), so a
    failure leaves every policy as it was.
  - With O(run_now=true) the retention jobs of the listed hypertables are run immediately
    (C(CALL run_job)) in that same transaction, dropping the chunks older than the policy.
  - Intervals are compared field by field as PostgreSQL normalises them (months, days and time), so
    V(2 weeks) equals V(14 days) and V(P30D) equals V(30 days), but V(1 month) differs from V(30 days)
    and V(1 day) from V(24 hours), because TimescaleDB computes the boundary as C(now() - drop_after)
    and those give different boundaries (PostgreSQL's own C(=) on intervals would call them equal).
author:
  - manufacturing.platform contributors (@manufacturing-platform)
options:
  hypertables:
    description:
      - The hypertables whose retention policy to manage.
      - Each item is either a string, the table name (C(schema.table), or C(table) found through the
        C(search_path); PostgreSQL identifier rules, so quote mixed-case names as C('"Sch"."Tab"')), or a
        dict with the key C(name) and optionally C(drop_after), C(schedule_interval) and C(state), which
        override the module-level options of the same name for that table.
      - A table may be listed only once.
    type: list
    elements: raw
    required: true
  drop_after:
    description:
      - Chunks whose data is entirely older than this interval are dropped by the policy.
      - A PostgreSQL interval, for example V(30 days), V(6 months) or V(P30D).
      - Integer (non-time) intervals for hypertables with integer time columns are not supported.
    type: str
    default: 30 days
  schedule_interval:
    description:
      - How often the retention job runs, a PostgreSQL interval.
      - When omitted, new policies get TimescaleDB's default and existing policies keep theirs.
    type: str
  min_drop_after:
    description:
      - The shortest O(drop_after) accepted; shorter values are rejected before anything is changed.
      - Compared with PostgreSQL's interval ordering, where a month counts as 30 days.
    type: str
    default: 1 day
  state:
    description:
      - Whether the hypertables should have a retention policy. Can be overridden per hypertable.
    type: str
    choices: [present, absent]
    default: present
  run_now:
    description:
      - Run the retention job of every listed hypertable that has a policy (after the changes) immediately
        with C(CALL run_job), in the same transaction as the changes.
      - The result is V(changed) when chunks were dropped; RV(policies[].chunks_dropped) lists them.
    type: bool
    default: false
  login_db:
    description:
      - Name of the database to connect to.
    type: str
    aliases: [db]
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details:
      - Reads only; RV(executed_queries) lists the SQL that would run. A new policy's job id is not known
        in check mode, so its C(run_job) call shows a placeholder.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details:
      - The retention policy (drop_after, schedule_interval) of each listed hypertable before and after.
notes:
  - Tested with TimescaleDB 2.23 on PostgreSQL 17, with psycopg 3.
  - Only the statements that change something (and C(run_job)) are returned in RV(executed_queries);
    the read queries are not.
  - Retention policies of continuous aggregates are not managed (they are not hypertables to this module).
seealso:
  - name: TimescaleDB add_retention_policy
    description: The TimescaleDB function behind this module.
    link: https://docs.timescale.com/api/latest/data-retention/add_retention_policy/
  - module: community.postgresql.postgresql_query
extends_documentation_fragment:
  - community.postgresql.postgres
"""

EXAMPLES = r"""
- name: Keep 30 days of telemetry for every tenant schema
  manufacturing.platform.timescale_retention:
    login_host: tsdb.example.internal
    login_user: platform_admin
    login_password: "{{ tsdb_admin_password }}"
    login_db: telemetry
    ssl_mode: verify-full
    ca_cert: /etc/ssl/certs/tsdb-ca.pem
    hypertables:
      - tenant_acme.machine_metrics
      - tenant_globex.machine_metrics
    drop_after: 30 days

- name: Per-table overrides, a faster schedule, and apply the policies right away
  manufacturing.platform.timescale_retention:
    login_host: 127.0.0.1
    login_db: telemetry
    hypertables:
      - name: tenant_acme.machine_metrics
        drop_after: 90 days
      - name: tenant_acme.machine_events
        drop_after: 7 days
        schedule_interval: 1 hour
      - tenant_initech.machine_metrics
    drop_after: 30 days
    run_now: true

- name: Remove the retention policy of a table that is archived elsewhere
  manufacturing.platform.timescale_retention:
    login_host: 127.0.0.1
    login_db: telemetry
    hypertables:
      - tenant_acme.machine_metrics_archive
    state: absent

- name: Show what would change (and the SQL) without changing anything
  manufacturing.platform.timescale_retention:
    login_host: 127.0.0.1
    login_db: telemetry
    hypertables: "{{ tenants | map(attribute='schema') | map('regex_replace', '$', '.machine_metrics') | list }}"
    drop_after: 2 months
  check_mode: true
  diff: true
  register: plan
"""

RETURN = r"""
executed_queries:
  description:
    - The SQL statements that changed something, in order; in check mode the statements that would run.
  returned: always
  type: list
  elements: str
  sample:
    - "SELECT add_retention_policy('\"tenant_acme\".\"machine_metrics\"'::regclass,
      drop_after => '30 days'::interval) AS job_id"
    - "SELECT job_id FROM alter_job(1001, config => '{\"drop_after\": \"90 days\", \"hypertable_id\": 2}'::jsonb)"
    - CALL run_job(1000)
policies:
  description: The retention policy of each listed hypertable, in the order listed.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The name as listed.
      type: str
      sample: tenant_acme.machine_metrics
    hypertable:
      description: The hypertable as resolved in the database, C(schema.table).
      type: str
      sample: tenant_acme.machine_metrics
    action:
      description: What was (in check mode, would be) done to the policy.
      type: str
      choices: [added, updated, removed, unchanged]
      sample: updated
    changes:
      description: The settings that were changed (C(drop_after), C(schedule_interval)).
      type: list
      elements: str
      sample: [drop_after]
    job_id:
      description:
        - The id of the retention job (after the change; before it for a removed policy).
        - V(null) when there is no policy, and for a new policy in check mode.
      type: int
      sample: 1000
    before:
      description: The policy before the change, V(null) when there was none.
      type: dict
      sample: {drop_after: 30 days, schedule_interval: 1 day, job_id: 1000}
    after:
      description: The policy after the change, V(null) when there is none.
      type: dict
      sample: {drop_after: 90 days, schedule_interval: 1 day, job_id: 1000}
    chunks_dropped:
      description:
        - With O(run_now=true), the chunks the retention job dropped (in check mode, would drop).
        - V(null) when the job was not run.
      type: list
      elements: str
      sample: [_timescaledb_internal._hyper_1_4_chunk]
timescaledb_version:
  description: The version of the C(timescaledb) extension.
  returned: success
  type: str
  sample: 2.23.0
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
from ansible_collections.manufacturing.platform.plugins.module_utils.timescale import (
    RUN_JOB_SQL,
    TimescaleRetentionError,
    build_diff,
    compute_plan,
    interval_values,
    normalize_hypertables,
    plan_statements,
    read_chunks,
    read_extension,
    read_intervals,
    read_schedules,
    read_state,
    result_policies,
    validate,
)


def argument_spec():
    spec = postgres_common_argument_spec()
    spec.update(
        hypertables={"type": "list", "elements": "raw", "required": True},
        drop_after={"type": "str", "default": "30 days"},
        schedule_interval={"type": "str"},
        min_drop_after={"type": "str", "default": "1 day"},
        state={"type": "str", "choices": ["present", "absent"], "default": "present"},
        run_now={"type": "bool", "default": False},
        login_db={"type": "str", "aliases": ["db"]},
    )
    return spec


class Retention:
    """One run: read and validate everything, then apply the plan in the connection's single transaction."""

    def __init__(self, module, connection):
        self.module = module
        self.connection = connection
        self.cursor = connection.cursor(**pg_cursor_args)
        self.executed_queries = []

    def fail(self, msg, **kwargs):
        self.connection.rollback()
        self.module.fail_json(msg=msg, executed_queries=self.executed_queries, **kwargs)

    def mogrify(self, sql, params):
        text = self.cursor.mogrify(sql, params)
        return text.decode() if isinstance(text, bytes) else text

    def run(self):
        params = self.module.params
        check_mode = self.module.check_mode
        try:
            entries = normalize_hypertables(params["hypertables"], params["drop_after"], params["schedule_interval"],
                                            params["state"])
        except TimescaleRetentionError as exc:
            self.fail("timescale_retention: invalid hypertables, nothing was changed: %s" % exc, errors=exc.errors)

        version = read_extension(self.cursor)
        if version is None:
            self.fail("timescale_retention: the timescaledb extension is not installed in database %r; "
                      "nothing was changed (CREATE EXTENSION timescaledb first)"
                      % (params.get("login_db") or "(default)"))

        states = read_state(self.cursor, entries)
        values = interval_values(entries, [row for rows in states for row in rows], params["min_drop_after"])
        intervals = read_intervals(self.cursor, values, params["min_drop_after"])
        errors = validate(entries, states, intervals, params["min_drop_after"])
        if errors:
            self.fail("timescale_retention: nothing was changed: %s" % "; ".join(errors), errors=errors)

        plan = compute_plan(entries, states, intervals)
        changed = False
        for item in plan:
            statements = plan_statements(item)
            for sql, sql_params in statements:
                changed = True
                if check_mode:
                    self.executed_queries.append(self.mogrify(sql, sql_params))
                    continue
                row = self.execute(item, sql, sql_params)
                if item["action"] in ("added", "updated") and row and row.get("job_id") is not None:
                    item["job_id"] = row["job_id"]
                    item["after"]["job_id"] = row["job_id"]

        added = [item for item in plan if item["action"] == "added" and item["after"]["job_id"] is not None]
        if added:
            schedules = read_schedules(self.cursor, [item["job_id"] for item in added])
            for item in added:
                item["after"]["schedule_interval"] = schedules.get(item["job_id"], item["after"]["schedule_interval"])

        if params["run_now"]:
            changed = self.run_jobs(plan, check_mode) or changed

        if check_mode:
            self.connection.rollback()
        else:
            try:
                self.connection.commit()
            except Exception as exc:  # noqa: BLE001 - report the database's reason
                self.fail("timescale_retention: COMMIT failed, nothing was changed: %s" % to_native(exc))

        result = {
            "changed": changed,
            "executed_queries": self.executed_queries,
            "policies": result_policies(plan),
            "timescaledb_version": version,
        }
        if self.module._diff:
            result["diff"] = build_diff(plan)
        return result

    def execute(self, item, sql, sql_params):
        try:
            self.cursor.execute(sql, sql_params)
            row = self.cursor.fetchone() if self.cursor.description else None
            self.executed_queries.append(self.mogrify(sql, sql_params))  # after fetching: mogrify resets the cursor
            return row
        except Exception as exc:  # noqa: BLE001 - report the database's reason
            self.fail("timescale_retention: %s of the policy on %s failed, the transaction was rolled back and "
                      "nothing was changed: %s" % (_verb(item["action"]), item["hypertable"], to_native(exc).strip()),
                      failed_query=self.mogrify(sql, sql_params))
        return None

    def run_jobs(self, plan, check_mode):
        """CALL run_job for every listed hypertable that has a policy after the changes."""
        targets = [item for item in plan if item["after"] is not None]
        if not targets:
            return False
        refs = [item["relation"] for item in targets]
        if check_mode:
            doomed = read_chunks(self.cursor, refs, [item["after"]["drop_after"] for item in targets])
            for item, chunks in zip(targets, doomed):  # noqa: B905 - one row per ref (Python 3.9 targets)
                item["chunks_dropped"] = chunks
                job = item["job_id"]
                if job is None:
                    self.executed_queries.append("CALL run_job(NULL) -- the id of the new policy on %s"
                                                 % item["hypertable"])
                else:
                    self.executed_queries.append(self.mogrify(RUN_JOB_SQL, {"job_id": job}))
            return any(doomed)
        before = read_chunks(self.cursor, refs)
        for item in targets:
            self.execute(item, RUN_JOB_SQL, {"job_id": item["job_id"]})
        after = read_chunks(self.cursor, refs)
        dropped_any = False
        for item, old, new in zip(targets, before, after):  # noqa: B905 - one row per ref
            remaining = set(new)
            item["chunks_dropped"] = [chunk for chunk in old if chunk not in remaining]
            dropped_any = dropped_any or bool(item["chunks_dropped"])
        return dropped_any


def _verb(action):
    return {"added": "adding", "updated": "updating", "removed": "removing"}.get(action, "running the job")


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    ensure_required_libs(module)
    conn_params = get_conn_params(module, module.params, warn_db_default=False)
    connection, dummy = connect_to_db(module, conn_params, autocommit=False)
    try:
        result = Retention(module, connection).run()
    finally:
        connection.close()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
