"""Unit tests of the AWS-limit table and the unknown-variable check (plugins/plugin_utils/preflight_limits.py),
and of the fleet_errors filter pass that runs them."""

from __future__ import annotations

import glob
import os

import pytest
import yaml

from ansible_collections.manufacturing.platform.plugins.filter.fleet_errors import fleet_errors
from ansible_collections.manufacturing.platform.plugins.plugin_utils import preflight_limits as pl

ROOT = str(pl.ROOT)
ROLES = pl.ROLE_PREFIXES


def messages(errors):
    return [str(e) for e in errors]


def test_backup_retention_out_of_range_names_host_field_and_range():
    errors = pl.host_limit_errors("customer-789", {"databases_backup_retention_days": 40})
    assert messages(errors) == ["customer-789: databases_backup_retention_days: 40 is out of range 0-35"]


@pytest.mark.parametrize("name, good, bad", [
    ("databases_backup_retention_days", [0, 35], [-1, 36]),
    ("databases_allocated_storage", [20, 65536], [19, 65537]),
    ("databases_max_allocated_storage", [20, 65536], [19, 65537]),
    ("databases_performance_insights_retention_days", [7, 31, 62, 713, 731], [0, 8, 30, 32, 732]),
    ("databases_proxy_idle_client_timeout", [1, 28800], [0, 28801]),
    ("databases_secret_recovery_window_days", [7, 30], [6, 31]),
    ("storage_kms_deletion_window_days", [7, 30], [6, 31]),
    ("compute_memory_mb", [128, 10240], [127, 10241]),
    ("compute_timeout_seconds", [1, 900], [0, 901]),
    ("compute_reserved_concurrency", [0, 1000], [-1]),
    ("compute_batch_size", [1, 10000], [0, 10001]),
    ("compute_batching_window_seconds", [0, 300], [-1, 301]),
    ("compute_dlq_retention_seconds", [60, 1209600], [59, 1209601]),
    ("compute_api_throttling_rate_limit", [0.5, 100], [0, -1]),
    ("compute_api_throttling_burst_limit", [1, 5000], [0]),
    ("compute_api_quota_limit", [0, 10], [-1]),
    ("network_cidr_pool_prefix", [16, 28], [15, 29]),
    ("monitoring_cost_anomaly_threshold_usd", [0.01, 500], [0, -5]),
    ("monitoring_rds_max_connections", [0, 5000], [-1]),
    ("platform_log_retention_days", [1, 7, 365, 3653], [0, 2, 366, 4000]),
    ("compute_log_retention_days", [14], [15]),
    ("databases_log_retention_days", [30], [31]),
    ("network_flow_log_retention_days", [90], [91]),
    ("streaming_log_retention_days", [731], [730]),
])
def test_limits_at_and_beyond_the_boundaries(name, good, bad):
    for value in good:
        assert pl.limit_problem(name, value) is None, (name, value)
    for value in bad:
        problem = pl.limit_problem(name, value)
        assert problem and str(value) in problem, (name, value, problem)


def test_extra_vars_arrive_as_strings_and_are_checked_too():
    assert pl.limit_problem("databases_backup_retention_days", "40") == "40 is out of range 0-35"
    assert pl.limit_problem("databases_backup_retention_days", "7") is None
    assert "not an integer" in pl.limit_problem("databases_backup_retention_days", "seven")
    assert "not an integer" in pl.limit_problem("databases_backup_retention_days", True)
    assert "not an integer" in pl.limit_problem("databases_backup_retention_days", 7.5)
    assert "not a retention CloudWatch Logs accepts" in pl.limit_problem("platform_log_retention_days", "week")


def test_storage_ceiling_below_allocated_storage():
    errors = pl.host_limit_errors("h1", {"databases_allocated_storage": 300, "databases_max_allocated_storage": 200})
    assert messages(errors) == ["h1: databases_max_allocated_storage: 200 is below databases_allocated_storage (300)"]
    # against the role default (20) when the host sets only the ceiling
    assert pl.host_limit_errors("h1", {"databases_max_allocated_storage": 100}) == []


def test_same_problem_on_every_host_is_reported_once_as_group_vars():
    hosts = {h: {"databases_backup_retention_days": 40} for h in ("platform-shared", "c1", "c2")}
    assert messages(pl.limit_errors(hosts)) == [
        "all hosts (group_vars): databases_backup_retention_days: 40 is out of range 0-35"]


def _options():
    for role in ROLES:
        with open(os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml")) as handle:
            specs = yaml.safe_load(handle)["argument_specs"]
        for entry in specs.values():
            yield from (entry.get("options") or {}).items()


def test_every_numeric_role_option_has_a_limit_or_a_role_check():
    covered = set(pl.LIMITS) | {n for names in pl.CHECKED_BY_ROLE.values() for n in names}
    numeric = {name for name, option in _options() if option.get("type") in ("int", "float")}
    assert numeric, "no numeric options found: the test would not check anything"
    assert sorted(numeric - covered) == []


def test_every_numeric_suboption_has_a_limit_or_a_role_check():
    covered = set(pl.NESTED_LIMITS) | {n for names in pl.CHECKED_BY_ROLE.values() for n in names}
    nested = {name for name, option in _options()
              if any(o.get("type") in ("int", "float") for o in (option.get("options") or {}).values())}
    assert nested and sorted(nested - covered) == []


def test_numbers_inside_lists_and_mappings():
    hvars = {"monitoring_budget_notifications": [{"notification_type": "ACTUAL", "threshold": 80},
                                                 {"notification_type": "ACTUAL", "threshold": 0}],
             "network_data_ports": {"postgres": 5432, "msk": 70000}}
    assert messages(pl.host_limit_errors("h1", hvars)) == [
        "h1: monitoring_budget_notifications[1].threshold: 0 is out of range: greater than 0",
        "h1: network_data_ports.msk: 70000 is out of range 1-65535",
    ]


def test_limit_names_are_real_variables():
    known = pl.known_variables(ROLES)
    assert sorted((set(pl.LIMITS) | set(pl.NESTED_LIMITS)) - known) == []
    assert sorted({n for names in pl.CHECKED_BY_ROLE.values() for n in names} - known) == []


def _yaml_files():
    return sorted(glob.glob(os.path.join(ROOT, "group_vars", "**", "*.yml"), recursive=True))


def test_role_defaults_and_every_group_vars_file_are_within_the_limits():
    checked = 0
    sources = [os.path.join(ROOT, "roles", r, "defaults", "main.yml") for r in ROLES] + _yaml_files()
    for path in sources:
        with open(path) as handle:
            data = yaml.safe_load(handle) or {}
        values = {k: v for k, v in data.items() if not (isinstance(v, str) and "{{" in v)}
        checked += len(set(values) & set(pl.LIMITS))
        assert pl.host_limit_errors(path, values) == [], path
    assert checked >= 20


# ------------------------------------------------------------------------------------------ unknown variables


def test_typo_is_unknown_with_a_suggestion():
    known = pl.known_variables(ROLES)
    errors = pl.unknown_var_errors("customer-456", ["network_vpc_cidrr", "tenant_id", "ansible_connection"], known)
    assert messages(errors) == [
        "customer-456: network_vpc_cidrr: unknown variable: not declared by any platform role or platform setting; "
        "did you mean network_vpc_cidr?"]


@pytest.mark.parametrize("name", ["databases_backup_retention", "monitoring_budget_monthly", "platform_prefx",
                                  "storage_lifecycle_transition", "streaming_topic", "compute_memory"])
def test_each_prefix_is_checked(name):
    errors = pl.unknown_var_errors("h1", [name], pl.known_variables(ROLES))
    assert [e.field for e in errors] == [name] and "did you mean" in errors[0].problem


def test_private_facts_and_other_prefixes_are_not_inventory_input():
    names = ["_storage_bucket", "_preflight_problems", "destroy_final_snapshot", "cost_inputs", "env"]
    assert pl.unknown_var_errors("h1", names, pl.known_variables(ROLES)) == []


def test_no_suggestion_when_nothing_is_close():
    errors = pl.unknown_var_errors("h1", ["compute_zzzzzzzz"], pl.known_variables(ROLES))
    assert errors and "did you mean" not in errors[0].problem


def test_known_set_covers_every_entry_point_defaults_and_vars():
    known = pl.known_variables(ROLES)
    assert "network_vpc_cidr" in known and "_storage_tags" in known  # defaults, vars/main.yml
    assert "platform_log_retention_days" in known and "platform_localcloud_dir" in known


def test_reference_inventory_and_every_group_vars_file_only_use_known_variables():
    known = pl.known_variables(ROLES)
    names = {}
    for path in _yaml_files():
        with open(path) as handle:
            names[path] = list(yaml.safe_load(handle) or {})
    with open(os.path.join(ROOT, "inventories", "hosts.yml")) as handle:
        inventory = yaml.safe_load(handle)["all"]
    names["hosts.yml: all.vars"] = list(inventory.get("vars") or {})
    for group in inventory["children"].values():
        for host, hvars in (group.get("hosts") or {}).items():
            names["hosts.yml: " + host] = list(hvars or {})
    assert sum(len(v) for v in names.values()) > 50
    for where, keys in names.items():
        assert pl.unknown_var_errors(where, keys, known) == [], where


# ------------------------------------------------------------------------------- the filter's single pass


def _fleet(**changes):
    common = {"platform_prefix": "mfg-local", "databases_backup_retention_days": 1, "ansible_connection": "local"}
    hostvars = {
        "platform-shared": dict(common),
        "customer-123": dict(common, tenant_id="customer-123", tenancy_tier="shared", tenant_machines=15),
        "customer-456": dict(common, tenant_id="customer-456", tenancy_tier="shared", tenant_machines=15),
    }
    for host, hvars in changes.items():
        hostvars[host.replace("_", "-")].update(hvars)
    groups = {"all": list(hostvars), "tenants": ["customer-123", "customer-456"],
              "platform_shared": ["platform-shared"]}
    return hostvars, groups


def _run(hostvars, groups):
    return fleet_errors(hostvars, groups, "local", ["local"], {"databases": {}, "network": {}})


def test_filter_reports_host_typo_and_out_of_range_value():
    hostvars, groups = _fleet(customer_456={"network_vpc_cidrr": "10.1.0.0/20", "databases_backup_retention_days": 40})
    assert _run(hostvars, groups) == [
        "customer-456: databases_backup_retention_days: 40 is out of range 0-35",
        "customer-456: network_vpc_cidrr: unknown variable: not declared by any platform role or platform setting; "
        "did you mean network_vpc_cidr?",
    ]


def test_filter_reports_a_group_vars_typo_once():
    hostvars, groups = _fleet(**{h: {"monitoring_budget_monthly_usdd": 5} for h in
                                 ("platform_shared", "customer_123", "customer_456")})
    problems = _run(hostvars, groups)
    assert problems == ["all hosts (group_vars): monitoring_budget_monthly_usdd: unknown variable: not declared by "
                        "any platform role or platform setting; did you mean monitoring_budget_monthly_usd?"]


def test_filter_passes_the_good_fleet():
    assert _run(*_fleet()) == []


def test_event_source_pollers_ceiling_not_below_floor():
    errors = pl.host_limit_errors("h1", {"compute_event_source_min_pollers": 5})  # the ceiling's default is 2
    assert [str(e) for e in errors] == [
        "h1: compute_event_source_max_pollers: 2 is below compute_event_source_min_pollers (5)"]
    assert pl.host_limit_errors("h1", {"compute_event_source_min_pollers": 2}) == []


@pytest.mark.parametrize("name", ["compute_event_source_max_retries", "compute_event_source_max_record_age_seconds"])
def test_event_source_retries_and_record_age_are_bounded(name):
    """Lambda accepts -1 (infinite); preflight does not: a bad batch must not retry until its records expire."""
    assert [e.field for e in pl.host_limit_errors("h1", {name: -1})] == [name]
