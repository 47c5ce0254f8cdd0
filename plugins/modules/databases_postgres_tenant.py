#!/usr/bin/python
# ruff: noqa: EXE001 - Ansible modules carry a shebang but are not executable files
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: databases_postgres_tenant
short_description: A tenant's login role with its own database or schema, closed to every other role, on PostgreSQL
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
  - With O(own_database=false) and O(schema) (a TimescaleDB shared by tenants, one schema each), no database is
    created; the role gets C(USAGE) on its schema and O(table_privileges) on the tables and sequences in it
    (now and, through default privileges of the admin, later), and every other grantee (C(PUBLIC) included)
    loses its privileges on that schema. The schema itself must exist (it is created by the schema script).
  - Check mode reads only (the password check logs in, which changes nothing) and returns the statements that
    would run, with the password verifier masked.
  - The admin connection is closed before the tenant logs in, so servers that allow one session at a time work.
author:
  - Manufacturing Platform Team (@manufacturing-platform)
options:
  name:
    description: Name of the tenant role and of its database (a simple lowercase identifier).
    type: str
    required: true
  password:
    description: Password of the tenant's login O(login_name) (required with O(state=present)).
    type: str
  login_name:
    description:
      - The user that logs in with O(password), for credentials rotated with alternating users, V(<name>) or
        V(<name>_clone) (default O(name)).
      - V(<name>_clone) is a login role that is a member of O(name) (so it has exactly its privileges), created
        if missing; the password of O(name) is then left alone (it is the previous version of the secret, valid
        until the next rotation).
      - With O(state=absent) both users are dropped whatever this says.
    type: str
  state:
    description:
      - V(absent) drops the tenant's database (O(own_database=true), its connections terminated), then what the
        role owns or was granted in O(login_db) (C(DROP OWNED BY), default privileges included) and the role.
    type: str
    choices: [present, absent]
    default: present
  connection_limit:
    description: Connection limit of the tenant role (V(-1) for none).
    type: int
    default: 50
  own_database:
    description:
      - Whether the tenant gets a database of its own named O(name), owned by its role.
      - V(false) needs O(schema).
    type: bool
    default: true
  schema:
    description:
      - Schema of the tenant in O(login_db) (with O(own_database=false)); the role gets C(USAGE) on it and
        O(table_privileges) on its tables; other grantees lose their privileges on it.
    type: str
  table_privileges:
    description: Privileges of the role on the tables of O(schema) (sequences get C(USAGE, SELECT)).
    type: list
    elements: str
    choices: [SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER]
    default: [SELECT, INSERT, UPDATE, DELETE]
  login_db:
    description: Database the admin connects to (and, with O(own_database=false), the one the tenant logs in to).
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

- name: Login role of tenant customer-456 on the shared TimescaleDB, limited to its schema
  manufacturing.platform.databases_postgres_tenant:
    login_host: tsdb.example.internal
    login_user: tsdbadmin
    login_password: "{{ tsdb_admin_password }}"
    login_db: tsdb
    ssl_mode: require
    name: t_customer_456
    password: "{{ tenant_tsdb_password }}"
    own_database: false
    schema: t_customer_456
    table_privileges: [SELECT, INSERT]
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
login_created:
  description: Whether the other user of an alternating-users pair (O(login_name)) was (would be) created.
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
ALTERNATE_SUFFIX = "_clone"  # the other user of a pair rotated with alternating users (lambdas/secret_rotation)
ROLE_OPTIONS = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT CONNECTION LIMIT %d"
# Whether role %(r)s holds every privilege %(p)s on every relation of kinds %(k)s in schema %(s)s.
MISSING_PRIVILEGES = {
    check: "SELECT coalesce(bool_and(" + check + "(%(r)s, c.oid, p)), true) AS ok "
           "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, unnest(%(p)s::text[]) p "
           "WHERE n.nspname = %(s)s AND c.relkind::text = ANY(%(k)s::text[])"
    for check in ("has_table_privilege", "has_sequence_privilege")
}


class Tenant:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.name = self.params["name"]
        self.login = self.params["login_name"] or self.name
        self.queries = []  # (sql to run, sql to show)
        self.result = {"role_created": False, "login_created": False, "database_created": False, "password_set": False}

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
        """Log in as the tenant to its database: proves password, CONNECT and pg_hba at once."""
        params = dict(self.params)
        params.update(login_user=self.login, login_password=self.params["password"],
                      login_db=self.name if self.params["own_database"] else self.params["login_db"], session_role=None)
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
        if current is None:
            self.create_role(role, limit, with_password=self.login == self.name)
            self.result["role_created"] = True
            self.result["password_set"] = self.login == self.name
        elif not self.role_options_ok(current, limit):
            self.add("ALTER ROLE %s %s" % (role, ROLE_OPTIONS % limit))
        if self.login != self.name:
            self.plan_alternate(cursor, role, limit)

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

        if self.params["own_database"]:
            self.plan_database(cursor, me, role)
        else:
            self.plan_schema(cursor, me, role, current is None)
        return current is None

    @staticmethod
    def role_options_ok(current, limit):
        return (current["rolcanlogin"] and not current["rolsuper"] and not current["rolcreatedb"]
                and not current["rolcreaterole"] and current["rolinherit"] and current["rolconnlimit"] == limit)

    def create_role(self, quoted, limit, with_password):
        options = ROLE_OPTIONS % limit
        if not with_password:
            self.add("CREATE ROLE %s %s" % (quoted, options))
            return
        verifier = scram_sha256_verifier(self.params["password"])
        self.add("CREATE ROLE %s %s PASSWORD '%s'" % (quoted, options, verifier),
                 "CREATE ROLE %s %s PASSWORD %s" % (quoted, options, MASK))

    def plan_alternate(self, cursor, role, limit):
        """The other user of an alternating-users pair: a login role, member of the tenant role."""
        login = quote_ident(self.login)
        current = self.one(cursor, "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolinherit, rolconnlimit "
                                   "FROM pg_roles WHERE rolname = %(n)s", {"n": self.login})
        if current is None:
            self.create_role(login, limit, with_password=True)
            self.result["login_created"] = self.result["password_set"] = True
        elif not self.role_options_ok(current, limit):
            self.add("ALTER ROLE %s %s" % (login, ROLE_OPTIONS % limit))
        member = current is not None and self.one(cursor, "SELECT pg_has_role(%(l)s, %(n)s, 'MEMBER') AS m",
                                                  {"l": self.login, "n": self.name})["m"]
        if not member:
            self.add("GRANT %s TO %s" % (role, login))

    def plan_schema(self, cursor, me, role, new_role):
        name = self.params["schema"]
        schema = quote_ident(name)
        privileges = sorted(set(p.upper() for p in self.params["table_privileges"]))
        found = self.one(cursor, "SELECT oid FROM pg_namespace WHERE nspname = %(s)s", {"s": name})
        if found is None and not self.module.check_mode:
            self.module.fail_json(msg="databases_postgres_tenant: schema %s does not exist in database %s; create it "
                                  "first (the schema script does)" % (name, self.params["login_db"]),
                                  executed_queries=[shown for dummy, shown in self.queries])
        grants = [
            "GRANT USAGE ON SCHEMA %s TO %s" % (schema, role),
            "GRANT %s ON ALL TABLES IN SCHEMA %s TO %s" % (", ".join(privileges), schema, role),
            "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %s TO %s" % (schema, role),
            "ALTER DEFAULT PRIVILEGES IN SCHEMA %s GRANT %s ON TABLES TO %s" % (schema, ", ".join(privileges), role),
            "ALTER DEFAULT PRIVILEGES IN SCHEMA %s GRANT USAGE, SELECT ON SEQUENCES TO %s" % (schema, role),
        ]
        if found is None or new_role:
            for sql in grants:
                self.add(sql)
            if found is not None:
                self.revoke_others_on_schema(cursor, me, name, schema, new_role)
            return
        args = {"s": name, "r": self.name}
        if not self.one(cursor, "SELECT has_schema_privilege(%(r)s, %(s)s, 'USAGE') AS ok", args)["ok"]:
            self.add(grants[0])
        objects = (
            ("has_table_privilege", ["r", "p", "v", "m", "f"], privileges, grants[1]),
            ("has_sequence_privilege", ["S"], ["USAGE", "SELECT"], grants[2]),
        )
        for check, kinds, wanted, sql in objects:
            row = self.one(cursor, MISSING_PRIVILEGES[check], dict(args, k=kinds, p=wanted))
            if not row["ok"]:
                self.add(sql)
        for objtype, wanted, sql in (("r", privileges, grants[3]), ("S", ["SELECT", "USAGE"], grants[4])):
            cursor.execute("SELECT e.privilege_type FROM pg_default_acl d "
                           "JOIN pg_namespace n ON n.oid = d.defaclnamespace, aclexplode(d.defaclacl) e "
                           "WHERE n.nspname = %(s)s AND d.defaclobjtype = %(t)s "
                           "AND d.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = current_user) "
                           "AND e.grantee = (SELECT oid FROM pg_roles WHERE rolname = %(r)s)", dict(args, t=objtype))
            if not set(wanted) <= {row["privilege_type"] for row in cursor.fetchall()}:
                self.add(sql)
        self.revoke_others_on_schema(cursor, me, name, schema, new_role)

    def revoke_others_on_schema(self, cursor, me, name, schema, new_role):
        """Nobody but the owner, the admin and the tenant role keeps a privilege on the tenant's schema."""
        cursor.execute("SELECT coalesce(r.rolname, '') AS grantee, e.privilege_type FROM pg_namespace n, "
                       "aclexplode(n.nspacl) e LEFT JOIN pg_roles r ON r.oid = e.grantee "
                       "WHERE n.nspname = %(s)s", {"s": name})
        acl = acl_entries(cursor.fetchall())
        owner = self.one(cursor, "SELECT pg_get_userbyid(nspowner) AS owner FROM pg_namespace WHERE nspname = %(s)s",
                         {"s": name})["owner"]
        for grantee in sorted(acl):
            if grantee not in (self.name, me["name"], owner):
                who = "PUBLIC" if grantee == "PUBLIC" else quote_ident(grantee)
                self.add("REVOKE ALL ON SCHEMA %s FROM %s" % (schema, who))

    def plan_database(self, cursor, me, role):
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

    def set_password(self):
        verifier = scram_sha256_verifier(self.params["password"])
        connection = self.admin()
        try:
            with connection.cursor() as cursor:
                cursor.execute("ALTER ROLE %s PASSWORD '%s'" % (quote_ident(self.login), verifier))
        finally:
            connection.close()

    def remove(self):
        connection = self.admin()
        cursor = connection.cursor(**pg_cursor_args)
        role = quote_ident(self.name)
        try:
            exists = self.one(cursor, "SELECT 1 AS x FROM pg_database WHERE datname = %(n)s", {"n": self.name})
            if self.params["own_database"] and exists:
                self.add("DROP DATABASE %s WITH (FORCE)" % role)
            alternate = self.name + ALTERNATE_SUFFIX
            if self.one(cursor, "SELECT 1 AS x FROM pg_roles WHERE rolname = %(n)s", {"n": alternate}):
                self.add("DROP OWNED BY %s" % quote_ident(alternate))
                self.add("DROP ROLE %s" % quote_ident(alternate))
            if self.one(cursor, "SELECT 1 AS x FROM pg_roles WHERE rolname = %(n)s", {"n": self.name}):
                me = self.one(cursor, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
                if not me["rolsuper"] and not self.one(cursor, "SELECT pg_has_role(current_user, %(n)s, 'MEMBER') "
                                                               "AS m", {"n": self.name})["m"]:
                    self.add("GRANT %s TO CURRENT_USER" % role)
                self.add("DROP OWNED BY %s" % role)
                self.add("DROP ROLE %s" % role)
            if not self.module.check_mode:
                for sql, dummy in self.queries:
                    try:
                        cursor.execute(sql)
                    except Exception as exc:  # noqa: BLE001 - report the database's reason
                        self.module.fail_json(msg="databases_postgres_tenant: %s failed: %s" % (sql, to_native(exc)),
                                              executed_queries=[q for q, dummy in self.queries])
        finally:
            cursor.close()
            connection.close()
        executed = [shown for dummy, shown in self.queries]
        result = dict(self.result, changed=bool(executed), executed_queries=executed)
        if self.module._diff:
            result["diff"] = {"before": "role %s\n" % self.name if executed else "", "after": ""}
        return result

    def run(self):
        try:
            check_ident(self.name, "tenant role/database name")
            check_ident(self.login, "tenant login name")
        except ValueError as exc:
            self.module.fail_json(msg=str(exc))
        if self.login not in (self.name, self.name + ALTERNATE_SUFFIX):
            self.module.fail_json(msg="databases_postgres_tenant: login_name must be %s or %s%s, got %s"
                                  % (self.name, self.name, ALTERNATE_SUFFIX, self.login))
        if self.params["state"] == "absent":
            return self.remove()
        if not self.params["own_database"] and not self.params["schema"]:
            self.module.fail_json(msg="databases_postgres_tenant: own_database=false needs schema")
        if self.params["schema"]:
            try:
                check_ident(self.params["schema"], "tenant schema name")
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
        finally:
            cursor.close()
            connection.close()
        # The admin session is closed first: a server with one session at a time would make the login wait.
        created = self.result["role_created"] if self.login == self.name else self.result["login_created"]
        if not created and not (self.module.check_mode and (self.result["database_created"]
                                                            or self.result["role_created"])):
            ok, dummy = self.tenant_can_log_in()
            if not ok:
                shown = "ALTER ROLE %s PASSWORD %s" % (quote_ident(self.login), MASK)
                self.queries.append((None, shown))
                self.result["password_set"] = True
                if not self.module.check_mode:
                    self.set_password()
                    ok, error = self.tenant_can_log_in()
                    if not ok:
                        self.module.fail_json(msg="databases_postgres_tenant: role %s still cannot log in to its "
                                              "database after setting its password: %s" % (self.login, error))
        executed = [shown for dummy, shown in self.queries]
        result = dict(self.result, changed=bool(executed), executed_queries=executed)
        if self.module._diff:
            result["diff"] = {"before": "", "after": "".join(s + "\n" for s in executed)}
        return result


def main():
    spec = postgres_common_argument_spec()
    spec.update(
        name=dict(type="str", required=True),
        password=dict(type="str", no_log=True),
        login_name=dict(type="str"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        connection_limit=dict(type="int", default=50),
        own_database=dict(type="bool", default=True),
        schema=dict(type="str"),
        table_privileges=dict(type="list", elements="str", default=["SELECT", "INSERT", "UPDATE", "DELETE"],
                              choices=["SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"]),
        login_db=dict(type="str", default="postgres", aliases=["db"]),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           required_if=[("state", "present", ["password"])])
    ensure_required_libs(module)
    module.exit_json(**Tenant(module).run())


if __name__ == "__main__":
    main()
