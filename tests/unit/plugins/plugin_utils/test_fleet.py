"""Unit tests of the preflight validation logic (plugins/plugin_utils/fleet.py)."""

import pytest

from ansible_collections.manufacturing.platform.plugins.plugin_utils import fleet

GOOD = {"tenant_id": "customer-456", "tenancy_tier": "shared", "tenant_machines": 15,
        "tenant_alert_contacts": [{"protocol": "email", "endpoint": "ops@example.com"}]}


def problems(tvars, host="h1"):
    return [str(e) for e in fleet.validate_tenant(host, tvars)]


def test_good_tenant_has_no_problems():
    assert problems(GOOD) == []


@pytest.mark.parametrize("change, field", [
    ({"tenant_id": None}, "tenant_id"),
    ({"tenant_id": "Customer_1"}, "tenant_id"),
    ({"tenant_id": "ab"}, "tenant_id"),
    ({"tenant_id": "a" * 33}, "tenant_id"),
    ({"tenant_id": "double--hyphen"}, "tenant_id"),
    ({"tenant_id": "ends-with-"}, "tenant_id"),
    ({"tenant_id": "1starts-with-digit"}, "tenant_id"),
    ({"tenant_id": "shared"}, "tenant_id"),
    ({"tenancy_tier": None}, "tenancy_tier"),
    ({"tenancy_tier": "premium"}, "tenancy_tier"),
    ({"tenant_machines": None}, "tenant_machines"),
    ({"tenant_machines": 0}, "tenant_machines"),
    ({"tenant_machines": 10001}, "tenant_machines"),
    ({"tenant_machines": "15"}, "tenant_machines"),
    ({"tenant_machines": True}, "tenant_machines"),
    ({"tenant_display_name": ""}, "tenant_display_name"),
    ({"tenant_alert_contacts": "ops@example.com"}, "tenant_alert_contacts"),
    ({"tenant_alert_contacts": [{"protocol": "sms", "endpoint": "+100"}]}, "tenant_alert_contacts[0].protocol"),
    ({"tenant_alert_contacts": [{"protocol": "email", "endpoint": "not-an-address"}]},
     "tenant_alert_contacts[0].endpoint"),
    ({"tenant_alert_contacts": [{"protocol": "https", "endpoint": "http://plain.example.com"}]},
     "tenant_alert_contacts[0].endpoint"),
    ({"tenant_alert_contacts": [{"protocol": "email", "endpoint": "a@b.example", "extra": 1}]},
     "tenant_alert_contacts[0]"),
    ({"tenancy_teir": "shared"}, "tenancy_teir"),
])
def test_bad_tenant_field_is_named(change, field):
    tvars = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    found = problems(tvars, host="bad-host")
    assert found, "expected a problem for %s" % change
    assert all(p.startswith("bad-host: ") for p in found)
    assert any(p.split(": ")[1] == field for p in found), found


def test_missing_tenant_fields_each_reported():
    found = problems({})
    assert [p.split(": ")[1] for p in found] == ["tenant_id", "tenancy_tier", "tenant_machines"]


def test_duplicate_tenant_ids_name_both_hosts():
    errors = [str(e) for e in fleet.validate_fleet({"a": {"tenant_id": "x-1"}, "b": {"tenant_id": "X-1"}})]
    assert errors == ["b: tenant_id: 'X-1' is already used by host a"]


@pytest.mark.parametrize("env, ok", [("local", True), ("prod", True), (None, False), ("", False), ("staging", False),
                                     (["prod"], False)])
def test_env(env, ok):
    assert (fleet.validate_env(env, ["local", "dev", "prod"]) == []) is ok


SPECS = {"network": {"network_state": {"type": "str", "choices": ["present", "absent"], "default": "present",
                                       "description": "x"},
                     "network_az_count": {"type": "int", "required": True, "description": "x"}}}


def test_role_vars_checked_against_argument_spec():
    assert fleet.validate_role_vars("h", {"network_state": "present", "network_az_count": 2}, SPECS) == []
    errors = [str(e) for e in fleet.validate_role_vars("h", {"network_state": "gone"}, SPECS)]
    assert len(errors) == 1 and errors[0].startswith("h: network_state: ")
    errors = [str(e) for e in fleet.validate_role_vars("h", {"network_az_count": "many"}, SPECS)]
    assert len(errors) == 1 and errors[0].startswith("h: network_az_count: ")


def test_role_vars_not_given_are_not_required_per_host():
    assert fleet.validate_role_vars("h", {}, SPECS) == []


def test_collapse_reports_group_wide_problem_once():
    errors = [fleet.PreflightError(h, "network_az_count", "bad") for h in ("a", "b")]
    assert [str(e) for e in fleet.collapse(errors, ["a", "b"])] == ["all hosts (group_vars): network_az_count: bad"]
    assert [str(e) for e in fleet.collapse(errors[:1], ["a", "b"])] == ["a: network_az_count: bad"]


@pytest.mark.parametrize("env, account, problem", [
    ("prod", "", "is required for env=prod"),
    ("dev", None, "is required for env=dev"),
    ("prod", "12345678901", "is not a 12-digit AWS account id"),
    ("local", "12345678901a", "is not a 12-digit AWS account id"),
    ("prod", "123456789012\n", "is not a 12-digit AWS account id"),
    ("prod", "123456789012", None),
    ("prod", 123456789012, None),
    ("local", "", None),
])
def test_platform_aws_account_id_is_required_for_dev_and_prod(env, account, problem):
    """Security review: an environment on real AWS is pinned to its account (preflight refuses other credentials)."""
    errors = [str(e) for e in fleet.validate_account(env, "platform-shared", {"platform_aws_account_id": account})]
    if problem is None:
        assert errors == []
    else:
        assert len(errors) == 1 and problem in errors[0]
        assert errors[0].startswith("platform-shared: platform_aws_account_id: ")
