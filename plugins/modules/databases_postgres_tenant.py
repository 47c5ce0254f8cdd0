#!/usr/bin/python
# ruff: noqa: EXE001 - Ansible modules carry a shebang but are not executable files
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: databases_postgres_tenant
short_description: A tenant's login role and its own database, closed to every other role, on PostgreSQL
version_added: 1.0.0
description:
  - Converges, over one admin connection, the tenant's login role (no superuser, no CREATEDB, no CREATEROLE,
    a connection limit; INHERIT, so as owner of its database it gets C(pg_database_owner)'s rights on schema
    C(public)), its database B(owned by that role), C(REVOKE ALL ON DATABASE ... FROM PUBLIC) and
    C(CONNECT)/C(TEMPORARY) for the tenant role only. Other tenants' roles cannot connect to the database.
  - The password is set as a SCRAM-SHA-256 verifier computed on the controller, so the plaintext never
    reaches the server (statement logs, C(pg_stat_statements)). Whether the current password is right is
    checked by logging in as the tenant role (which also works on RDS, where C(pg_authid) is not readable);
    it is only set again when that login fails.
  - Where the C(rds_iam) role exists (RDS), the tenant role is made a member of it (IAM database authentication).
  - When the admin is not a superuser (the RDS master user), it is granted membership of the tenant role first,
    which PostgreSQL requires to give the role a database.
  - Check mode reads only (the password check logs in, which changes nothing) and returns the statements that
    would run, with the password verifier masked.
author:
  - Manufacturing Platform Team (@manufacturing-platform)
options:
  name:
    description: Name of the tenant role and of its database (a simple lowercase identifier).
    type: str
    required: true
  password:
    description: Password of the tenant role.
    type: str
    required: true
  connection_limit:
    description: Connection limit of the tenant role (V(-1) for none).
    type: int
    default: 50
  login_db:
    description: Database the admin connects to.
    type: str
    default: postgres
    aliases: [db]
extends_documentation_fragment:
  - community.postgresql.postgres
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
notes:
  - Tested with PostgreSQL 15 and psycopg 3.
seealso:
  - module: community.postgresql.postgresql_user
  - module: community.postgresql.postgresql_db
"""

EXAMPLES = r"""
- name: Role and database of tenant customer-456
  manufacturing.platform.databases_postgres_tenant:
    login_host: 127.0.0.1
    login_port: 5432
    login_user: platform_admin
    login_password: "{{ admin_password }}"
    ssl_mode: verify-full
    ca_cert: /etc/ssl/pg-ca.pem
    name: t_customer_456
    password: "{{ tenant_password }}"
  no_log: true
"""

RETURN = r"""
executed_queries:
  description: Statements that ran (in check mode, would run); password verifiers are masked.
  returned: always
  type: list
  elements: str
  sample:
    - CREATE ROLE "t_customer_456" LOGIN PASSWORD ********
    - REVOKE ALL ON DATABASE "t_customer_456" FROM PUBLIC
role_created:
  description: Whether the role was (would be) created.
  returned: always
  type: bool
  sample: false
database_created:
  description: Whether the database was (would be) created.
  returned: always
  type: bool
  sample: false
password_set:
  description: Whether the password was (would be) set.
  returned: always
  type: bool
  sample: false
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
from ansible_collections.manufacturing.platform.plugins.module_utils.rds_postgres import scram_sha256_verifier
from ansible_collections.manufacturing.platform.plugins.module_utils.rds_sql import (
    acl_entries,
    check_ident,
    quote_ident,
)

MASK = "********"
ROLE_OPTIONS = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT CONNECTION LIMIT %d"


class Tenant:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.name = self.params["name"]
        self.queries = []  # (sql to run, sql to show)
        self.result = {"role_created": False, "database_created": False, "password_set": False}

    def admin(self):
        params = dict(self.params)
        connection, dummy = connect_to_db(self.module, get_conn_params(self.module, params, warn_db_default=False),
                                          autocommit=True)
        return connection

    def one(self, cursor, sql, args=None):
        cursor.execute(sql, args)
        return cursor.fetchone()

    def add(self, sql, shown=None):
        self.queries.append((sql, shown or sql))

    def tenant_can_log_in(self):
        """Log in as the tenant to its own database: proves password, CONNECT and pg_hba at once."""
        params = dict(self.params)
        params.update(login_user=self.name, login_password=self.params["password"], login_db=self.name,
                      session_role=None)
        connection, error = connect_to_db(self.module, get_conn_params(self.module, params, warn_db_default=False),
                                          fail_on_conn=False)
        if connection is None:
            return False, error
        connection.close()
        return True, None

    def plan(self, cursor):
        role = quote_ident(self.name)
        me = self.one(cursor, "SELECT current_user AS name, rolsuper FROM pg_roles WHERE rolname = current_user")
        current = self.one(cursor, "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolinherit, rolconnlimit "
                                   "FROM pg_roles WHERE rolname = %(n)s", {"n": self.name})
        limit = self.params["connection_limit"]
        verifier = None
        if current is None:
            verifier = scram_sha256_verifier(self.params["password"])
            options = ROLE_OPTIONS % limit
            self.add("CREATE ROLE %s %s PASSWORD '%s'" % (role, options, verifier),
                     "CREATE ROLE %s %s PASSWORD %s" % (role, options, MASK))
            self.result["role_created"] = self.result["password_set"] = True
        elif (not current["rolcanlogin"] or current["rolsuper"] or current["rolcreatedb"] or current["rolcreaterole"]
              or not current["rolinherit"] or current["rolconnlimit"] != limit):
            self.add("ALTER ROLE %s %s" % (role, ROLE_OPTIONS % limit))

        if not me["rolsuper"]:
            member = self.one(cursor, "SELECT pg_has_role(current_user, %(n)s, 'MEMBER') AS m", {"n": self.name}) \
                if current is not None else {"m": False}
            if not member["m"]:
                self.add("GRANT %s TO CURRENT_USER" % role)
        rds_iam = self.one(cursor, "SELECT 1 AS x FROM pg_roles WHERE rolname = 'rds_iam'")
        if rds_iam:
            member = self.one(cursor, "SELECT pg_has_role(%(n)s, 'rds_iam', 'MEMBER') AS m", {"n": self.name}) \
                if current is not None else {"m": False}
            if not member["m"]:
                self.add("GRANT rds_iam TO %s" % role)

        database = self.one(cursor, "SELECT pg_get_userbyid(datdba) AS owner, datacl IS NULL AS default_acl "
                                    "FROM pg_database WHERE datname = %(n)s", {"n": self.name})
        if database is None:
            # CREATE DATABASE cannot run in a transaction block: every statement runs on its own (autocommit).
            self.add("CREATE DATABASE %s OWNER %s" % (role, role))
            self.result["database_created"] = True
            acl = {"PUBLIC": {"CONNECT", "TEMPORARY"}}
        else:
            if database["owner"] != self.name:
                self.add("ALTER DATABASE %s OWNER TO %s" % (role, role))
            if database["default_acl"]:
                acl = {"PUBLIC": {"CONNECT", "TEMPORARY"}}
            else:
                cursor.execute("SELECT coalesce(r.rolname, '') AS grantee, e.privilege_type FROM pg_database d, "
                               "aclexplode(d.datacl) e LEFT JOIN pg_roles r ON r.oid = e.grantee "
                               "WHERE d.datname = %(n)s", {"n": self.name})
                acl = acl_entries(cursor.fetchall())
        if acl.get("PUBLIC"):
            self.add("REVOKE ALL ON DATABASE %s FROM PUBLIC" % role)
        explicit_acl = not (database is None or database["default_acl"])
        if explicit_acl and not {"CONNECT", "TEMPORARY"} <= acl.get(self.name, set()):
            self.add("GRANT CONNECT, TEMPORARY ON DATABASE %s TO %s" % (role, role))
        # Any other role holding a privilege on the tenant's database loses it (except the admin running this).
        for grantee in sorted(acl):
            if grantee not in ("PUBLIC", self.name, me["name"]):
                self.add("REVOKE ALL ON DATABASE %s FROM %s" % (role, quote_ident(grantee)))
        return current is None

    def run(self):
        try:
            check_ident(self.name, "tenant role/database name")
        except ValueError as exc:
            self.module.fail_json(msg=str(exc))
        connection = self.admin()
        cursor = connection.cursor(**pg_cursor_args)
        try:
            self.plan(cursor)
            if not self.module.check_mode:
                for sql, shown in self.queries:
                    try:
                        cursor.execute(sql)
                    except Exception as exc:  # noqa: BLE001 - report the database's reason
                        self.module.fail_json(msg="databases_postgres_tenant: %s failed: %s"
                                              % (shown, to_native(exc).replace(sql, shown)),
                                              executed_queries=[shown for dummy, shown in self.queries])
            if not self.result["role_created"] and not (self.module.check_mode and self.result["database_created"]):
                ok, dummy = self.tenant_can_log_in()
                if not ok:
                    verifier = scram_sha256_verifier(self.params["password"])
                    shown = "ALTER ROLE %s PASSWORD %s" % (quote_ident(self.name), MASK)
                    self.queries.append((None, shown))
                    self.result["password_set"] = True
                    if not self.module.check_mode:
                        cursor.execute("ALTER ROLE %s PASSWORD '%s'" % (quote_ident(self.name), verifier))
                        ok, error = self.tenant_can_log_in()
                        if not ok:
                            self.module.fail_json(msg="databases_postgres_tenant: role %s still cannot log in to its "
                                                  "database after setting its password: %s" % (self.name, error))
        finally:
            cursor.close()
            connection.close()
        executed = [shown for dummy, shown in self.queries]
        result = dict(self.result, changed=bool(executed), executed_queries=executed)
        if self.module._diff:
            result["diff"] = {"before": "", "after": "".join(s + "\n" for s in executed)}
        return result


def main():
    spec = postgres_common_argument_spec()
    spec.update(
        name=dict(type="str", required=True),
        password=dict(type="str", required=True, no_log=True),
        connection_limit=dict(type="int", default=50),
        login_db=dict(type="str", default="postgres", aliases=["db"]),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    ensure_required_libs(module)
    module.exit_json(**Tenant(module).run())


if __name__ == "__main__":
    main()
