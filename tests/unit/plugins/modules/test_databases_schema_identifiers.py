"""databases_schema checks and quotes the identifiers it puts into SQL itself (never relying on preflight):
hostile, padded, too long, upper-case or empty names fail naming the field, before any connection."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

_COLLECTIONS = Path(__file__).resolve().parents[4] / "collections"
if str(_COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(_COLLECTIONS))

from ansible.module_utils.testing import patch_module_args  # noqa: E402

from ansible_collections.manufacturing.platform.plugins.module_utils import rds_sql  # noqa: E402
from ansible_collections.manufacturing.platform.plugins.modules import databases_schema as mod  # noqa: E402

SCRIPT = (Path(__file__).resolve().parents[4] / "lambdas" / "alert_processor" / "schema"
          / "timescaledb.sql").read_text()
HOSTILE = ['x"; DROP SCHEMA public; --', "a\n", "t_" + "a" * 62, "T_Customer", "", " t_a", "t-a", None, 5]


def test_placeholder_is_replaced_by_the_quoted_identifier():
    script = rds_sql.substitute_identifiers(SCRIPT, {"schema": "t_customer_456"})
    assert "{schema}" not in script and '"t_customer_456"' in script
    assert rds_sql.substitute_identifiers("SELECT 1", {}) == "SELECT 1"


def test_63_characters_is_the_limit():
    name = "t_" + "a" * 61
    assert len(name) == 63 and rds_sql.substitute_identifiers("{schema}", {"schema": name}) == '"%s"' % name


@pytest.mark.parametrize("name", HOSTILE, ids=repr)
def test_hostile_identifiers_are_refused_naming_the_field(name):
    with pytest.raises(ValueError, match=r"identifiers\.schema"):
        rds_sql.substitute_identifiers(SCRIPT, {"schema": name})


def test_hostile_placeholder_names_are_refused():
    with pytest.raises(ValueError, match="placeholder"):
        rds_sql.substitute_identifiers(SCRIPT, {"Schema}; DROP": "t_a"})


@pytest.mark.parametrize("name", HOSTILE, ids=repr)
def test_module_fails_before_connecting(monkeypatch, capsys, name):
    def connect(*args, **kwargs):
        raise AssertionError("the module connected with a bad identifier")

    monkeypatch.setattr(mod, "connect_to_db", connect)
    monkeypatch.setattr(mod, "ensure_required_libs", lambda module: None)
    args = {"login_host": "127.0.0.1", "login_db": "postgres", "script": SCRIPT, "identifiers": {"schema": name},
            "_ansible_check_mode": False}
    with patch_module_args(args), pytest.raises(SystemExit) as exit_info:
        mod.main()
    out = capsys.readouterr().out
    result = json.loads(out[out.index("{"):])
    assert exit_info.value.code == 1 and result["failed"]
    assert "identifiers.schema" in result["msg"] and "nothing was changed" in result["msg"]


@pytest.mark.parametrize("name", HOSTILE, ids=repr)
def test_tenant_role_and_schema_names_are_checked_by_the_same_rule(name):
    """databases_postgres_tenant checks its role/database and schema names with check_ident before connecting."""
    with pytest.raises(ValueError, match="tenant schema name"):
        rds_sql.check_ident(name, "tenant schema name")
