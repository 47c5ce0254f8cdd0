"""Preflight rejects bad input before any mutating AWS call, naming the host and the field.

Each case writes a copy of the reference inventory with one mistake and runs site.yml against the local
cloud. The emulator's request log must show zero mutating requests for all of them together.
"""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor

import pytest
from support.playbook import ROOT, load_fleet, run_playbook, write_inventory


def tenant(fleet, name):
    return fleet["all"]["children"]["tenants"]["hosts"][name]


def set_field(host, field, value):
    def mutate(fleet):
        tenant(fleet, host)[field] = value
    return mutate


def drop_field(host, field):
    def mutate(fleet):
        del tenant(fleet, host)[field]
    return mutate


def add_tenant(name, **fields):
    def mutate(fleet):
        fleet["all"]["children"]["tenants"]["hosts"][name] = fields
    return mutate


# (case id, inventory mutation or None, extra -e args, host named in the message, field named in the message)
CASES = [
    ("env-missing", None, [], "env", "env"),
    ("env-unknown", None, ["-e", "env=staging"], "env", "env"),
    ("tenant-id-missing", drop_field("customer-456", "tenant_id"), None, "customer-456", "tenant_id"),
    ("tenant-id-not-dns-safe", set_field("customer-456", "tenant_id", "Customer_456"), None, "customer-456",
     "tenant_id"),
    ("tenant-id-too-long", set_field("customer-789", "tenant_id", "c" * 40), None, "customer-789", "tenant_id"),
    ("tenant-id-duplicate", set_field("customer-789", "tenant_id", "customer-456"), None, "customer-789",
     "tenant_id"),
    ("tenant-id-reserved", set_field("customer-456", "tenant_id", "shared"), None, "customer-456", "tenant_id"),
    ("tier-missing", drop_field("customer-123", "tenancy_tier"), None, "customer-123", "tenancy_tier"),
    ("tier-unknown", set_field("customer-123", "tenancy_tier", "premium"), None, "customer-123", "tenancy_tier"),
    ("machines-missing", drop_field("customer-789", "tenant_machines"), None, "customer-789", "tenant_machines"),
    ("machines-zero", set_field("customer-789", "tenant_machines", 0), None, "customer-789", "tenant_machines"),
    ("machines-too-many", set_field("customer-789", "tenant_machines", 1_000_000), None, "customer-789",
     "tenant_machines"),
    ("machines-not-a-number", set_field("customer-789", "tenant_machines", "fifteen"), None, "customer-789",
     "tenant_machines"),
    ("contact-bad-email", set_field("customer-456", "tenant_alert_contacts",
                                    [{"protocol": "email", "endpoint": "nobody"}]), None, "customer-456",
     "tenant_alert_contacts[0].endpoint"),
    ("contact-plain-http", set_field("customer-456", "tenant_alert_contacts",
                                     [{"protocol": "https", "endpoint": "http://hooks.example.com/x"}]), None,
     "customer-456", "tenant_alert_contacts[0].endpoint"),
    ("contact-unknown-protocol", set_field("customer-456", "tenant_alert_contacts",
                                           [{"protocol": "sms", "endpoint": "+15550100"}]), None, "customer-456",
     "tenant_alert_contacts[0].protocol"),
    ("field-typo", set_field("customer-123", "tenancy_teir", "shared"), None, "customer-123", "tenancy_teir"),
    ("new-tenant-without-fields", add_tenant("customer-999"), None, "customer-999", "tenancy_tier"),
    ("role-var-bad-choice", set_field("customer-123", "network_state", "gone"), None, "customer-123",
     "network_state"),
    # AWS limits (plugin_utils/preflight_limits.py): RDS keeps automated backups 0-35 days
    ("backup-retention-out-of-range", set_field("customer-789", "databases_backup_retention_days", 40), None,
     "customer-789", "databases_backup_retention_days"),
    ("log-retention-not-a-cloudwatch-value", set_field("customer-456", "compute_log_retention_days", 10), None,
     "customer-456", "compute_log_retention_days"),
    ("lambda-memory-too-large", set_field("customer-456", "compute_memory_mb", 20000), None, "customer-456",
     "compute_memory_mb"),
    # a typo'd role variable would otherwise be ignored silently (the tenant gets the default)
    ("role-var-typo", set_field("customer-456", "network_vpc_cidrr", "10.200.0.0/20"), None, "customer-456",
     "network_vpc_cidrr"),
    # a trailing newline must not pass the id check (nor pose as a new tenant)
    ("tenant-id-trailing-newline", set_field("customer-789", "tenant_id", "customer-456\n"), None, "customer-789",
     "tenant_id"),
]


@pytest.fixture(scope="module")
def preflight_runs(tmp_path_factory, request_log):
    """Run every case (a few at a time), counting mutating requests at the emulator around all of them."""
    def run(case):
        name, mutate, extra, _host, _field = case
        args = ["-e", "env=local"] if extra is None else list(extra)
        if mutate is not None:
            fleet = copy.deepcopy(load_fleet())
            mutate(fleet)
            inventory = write_inventory(tmp_path_factory.mktemp(name), fleet)
            args += ["-i", str(inventory)]
        return name, run_playbook("site.yml", *args)

    mark = request_log.mark()
    with ThreadPoolExecutor(max_workers=3) as pool:
        runs = dict(pool.map(run, CASES))
    return runs, request_log.since(mark), request_log.mutating_since(mark)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_rejected_naming_host_and_field(preflight_runs, case):
    name, _mutate, _extra, host, field = case
    run = preflight_runs[0][name]
    assert run.rc != 0, "preflight accepted %s" % name
    assert run.changed == 0
    messages = run.failure_messages()
    assert len(messages) == 1 and messages[0].startswith("Stop on inventory problems"), run.explain()
    assert ("%s: %s: " % (host, field)) in messages[0], messages[0]


def test_limit_and_typo_messages_say_what_is_allowed(preflight_runs):
    runs = preflight_runs[0]
    assert "customer-789: databases_backup_retention_days: 40 is out of range 0-35" in \
        runs["backup-retention-out-of-range"].failure_messages()[0]
    assert "did you mean network_vpc_cidr?" in runs["role-var-typo"].failure_messages()[0]


def test_group_vars_typo_and_extra_var_out_of_range_are_rejected(tmp_path, request_log):
    """A typo in a group_vars file (here an extra group_vars file next to a copy of the inventory) and an
    out-of-range -e value: reported once for all hosts, nothing mutated."""
    inventory = tmp_path / "inventory"
    (inventory / "group_vars" / "all").mkdir(parents=True)  # the playbook's own group_vars still apply
    (inventory / "hosts.yml").write_text((ROOT / "inventories" / "hosts.yml").read_text())
    (inventory / "zz-env.constructed.yml").write_text((ROOT / "inventories" / "zz-env.constructed.yml").read_text())
    (inventory / "group_vars" / "all" / "zz_typo.yml").write_text("monitoring_budget_monthly_usdd: 10\n")
    mark = request_log.mark()
    run = run_playbook("playbooks/preflight.yml", "-e", "env=local", "-i", str(inventory),
                       "-e", "databases_performance_insights_retention_days=30")
    assert run.rc != 0
    messages = run.failure_messages()
    assert len(messages) == 1 and messages[0].startswith("Stop on inventory problems"), run.explain()
    assert "all hosts (group_vars): monitoring_budget_monthly_usdd: unknown variable" in messages[0], messages[0]
    assert "did you mean monitoring_budget_monthly_usd?" in messages[0], messages[0]
    assert "all hosts (group_vars): databases_performance_insights_retention_days: '30' is not" in messages[0]
    assert request_log.mutating_since(mark) == []


def test_at_least_fifteen_bad_inputs():
    assert len(CASES) >= 15


def test_no_mutating_request_reached_the_emulator(preflight_runs):
    _runs, _all, mutating = preflight_runs
    assert mutating == [], mutating


def test_good_inventory_passes_preflight_and_checks_identity(request_log):
    mark = request_log.mark()
    run = run_playbook("playbooks/preflight.yml", "-e", "env=local")
    assert run.rc == 0, run.explain()
    actions = [(e["service"], e["action"]) for e in request_log.since(mark)]
    assert ("sts", "GetCallerIdentity") in actions
    assert request_log.mutating_since(mark) == []


def test_wrong_account_is_refused():
    run = run_playbook("playbooks/preflight.yml", "-e", "env=local", "-e", "platform_aws_account_id=210987654321")
    assert run.rc != 0
    assert any("platform_aws_account_id" in m and "123456789012" in m for m in run.failure_messages()), run.explain()


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["-e", "platform_aws_max_attempts=0"], "platform_aws_max_attempts"),
        (["-e", "platform_aws_max_attempts=ten"], "platform_aws_max_attempts"),
        (["-e", "platform_aws_retry_mode=fast"], "platform_aws_retry_mode"),
    ],
    ids=["max-attempts-zero", "max-attempts-not-a-number", "retry-mode-unknown"],
)
def test_bad_aws_retry_settings_are_refused_before_any_aws_call(request_log, args, field):
    mark = request_log.mark()
    run = run_playbook("playbooks/preflight.yml", "-e", "env=local", *args)
    assert run.rc != 0 and run.changed == 0
    messages = run.failure_messages()
    assert len(messages) == 1 and messages[0].startswith("Stop on invalid AWS retry settings"), run.explain()
    assert ("platform-shared: %s: " % field) in messages[0], messages[0]
    assert request_log.since(mark) == []  # refused before the identity check: no request at all
