"""Unit tests of the databases preflight checks (plugins/plugin_utils/preflight_databases.py)."""

import pytest

from ansible_collections.manufacturing.platform.plugins.plugin_utils import preflight_databases as pd

LADDER = [{"max_machines": 50, "instance_class": "db.t4g.medium"},
          {"max_machines": 500, "instance_class": "db.r6g.large"}]
COMMON = {"databases_instance_class": "db.r6g.large", "databases_dedicated_instance_class": "",
          "databases_dedicated_sizing": LADDER, "databases_timescale_retention": "30 days",
          "databases_timescale_schedule_interval": "1 day"}


def fleet(**overrides):
    hosts = {
        "platform-shared": dict(COMMON),
        "t-shared": dict(COMMON, tenant_id="customer-456", tenancy_tier="shared", tenant_machines=15),
        "t-dedicated": dict(COMMON, tenant_id="customer-123", tenancy_tier="dedicated", tenant_machines=15),
    }
    for host, values in overrides.items():
        hosts[host].update(values)
    return hosts


def run(hosts):
    return [str(e) for e in pd.check("prod", hosts, ["t-shared", "t-dedicated"], ["platform-shared"])]


def test_reference_values_pass():
    assert run(fleet()) == []


@pytest.mark.parametrize("value", ["12 hours", "23:59:59", "P0D", "0 days", "1 minute"])
def test_retention_shorter_than_a_day(value):
    problems = run(fleet(**{"t-shared": {"databases_timescale_retention": value}}))
    assert problems == ["t-shared: databases_timescale_retention: %r is shorter than 1 day" % value]


@pytest.mark.parametrize("value", ["thirty days", "30 dayz", "", "30", 30, "P", "days 30"])
def test_retention_not_an_interval(value):
    problems = run(fleet(**{"t-dedicated": {"databases_timescale_retention": value}}))
    assert len(problems) == 1 and problems[0].startswith("t-dedicated: databases_timescale_retention: ")
    assert "not a PostgreSQL interval" in problems[0]


@pytest.mark.parametrize("value, seconds", [
    ("30 days", 30 * 86400), ("1 day", 86400), ("2 weeks", 14 * 86400), ("6 months", 180 * 86400),
    ("P30D", 30 * 86400), ("PT24H", 86400), ("1 day 12:00", 1.5 * 86400), ("@ 3 days", 3 * 86400),
    ("1 year", 360 * 86400), ("36 hours", 1.5 * 86400),
])
def test_interval_seconds(value, seconds):
    assert pd.interval_seconds(value) == seconds


def test_unknown_instance_class_names_host_and_field():
    problems = run(fleet(**{"t-dedicated": {"databases_dedicated_instance_class": "db.t4g.huge"}}))
    assert len(problems) == 1 and problems[0].startswith("t-dedicated: databases_dedicated_instance_class: ")
    problems = run(fleet(**{"platform-shared": {"databases_instance_class": "db.x9.large"}}))
    assert problems and problems[0].startswith("platform-shared: databases_instance_class: ")
    assert "unknown instance family" in problems[0]


def test_same_bad_class_everywhere_is_reported_once():
    problems = run(fleet(**{h: {"databases_instance_class": "m5.large"} for h in ("platform-shared", "t-shared")}))
    assert len(problems) == 2  # the dedicated tenant does not use the shared class
    assert all("databases_instance_class" in p for p in problems)


def test_dedicated_tenant_without_sizing():
    problems = run(fleet(**{"t-dedicated": {"tenant_machines": 900}}))
    assert len(problems) == 1
    assert problems[0].startswith("t-dedicated: databases_dedicated_instance_class: dedicated tenant without sizing")
    problems = run(fleet(**{"t-dedicated": {"databases_dedicated_sizing": []}}))
    assert len(problems) == 1 and "without sizing" in problems[0]
    # an explicit class is sizing enough
    explicit = {"tenant_machines": 900, "databases_dedicated_instance_class": "db.r6g.xlarge"}
    assert run(fleet(**{"t-dedicated": explicit})) == []
    # a shared-tier tenant needs none
    assert run(fleet(**{"t-shared": {"tenant_machines": 9000}})) == []


def test_bad_ladder():
    ladder = [{"max_machines": 100, "instance_class": "db.t4g.medium"},
              {"max_machines": 50, "instance_class": "db.r6g.large"}]
    problems = run(fleet(**{"t-dedicated": {"databases_dedicated_sizing": ladder}}))
    assert problems == ["t-dedicated: databases_dedicated_sizing[1].max_machines: 50 must be greater than the "
                        "previous step's 100"]


# ------------------------------------------------------------------------------- TLS towards TimescaleDB


@pytest.mark.parametrize("mode", ["require", "verify-ca", "prefer", "disable"])
def test_weaker_timescale_sslmode_is_refused_outside_local(mode):
    problems = run(fleet(**{"t-dedicated": {"databases_timescale_ssl_mode": mode}}))
    assert problems == ["t-dedicated: databases_timescale_ssl_mode: %r does not verify the TimescaleDB server: "
                        "outside env=local only 'verify-full' is accepted" % mode]


def test_weaker_timescale_sslmode_from_group_vars_is_reported_once():
    everywhere = ("platform-shared", "t-shared", "t-dedicated")
    hosts = fleet(**{h: {"databases_timescale_ssl_mode": "require"} for h in everywhere})
    assert run(hosts) == ["all hosts (group_vars): databases_timescale_ssl_mode: 'require' does not verify the "
                          "TimescaleDB server: outside env=local only 'verify-full' is accepted"]


def test_timescale_ca_cert_must_not_be_empty():
    problems = run(fleet(**{"platform-shared": {"databases_timescale_ca_cert": " "}}))
    assert problems == ["platform-shared: databases_timescale_ca_cert: empty: verify-full needs a CA ('system' for "
                        "the OS trust store, or a PEM file)"]


def test_env_local_accepts_any_timescale_sslmode():
    hosts = fleet(**{"t-shared": {"databases_timescale_ssl_mode": "disable", "databases_timescale_ca_cert": ""}})
    assert pd.check("local", hosts, ["t-shared", "t-dedicated"], ["platform-shared"]) == []


def test_verify_full_with_a_ca_file_passes():
    assert run(fleet(**{"t-shared": {"databases_timescale_ssl_mode": "verify-full",
                                     "databases_timescale_ca_cert": "/etc/ssl/tsdb-ca.pem"}})) == []
