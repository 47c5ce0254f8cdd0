"""Unit tests of the cost model (plugins/plugin_utils/cost_model.py) and its report (cost_render.py).

Two kinds of inputs: a hand-made host (``host()``) whose every number is written here, so each line item can be
checked by hand against the price table; and the repository's own configuration (``repo_inputs(env)``: the
inventory, group_vars and cost.yml templated by Ansible exactly as the playbook does) for the reference fleet.
"""

from __future__ import annotations

import copy
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from ansible_collections.manufacturing.platform.plugins.plugin_utils import cost_model as cm
from ansible_collections.manufacturing.platform.plugins.plugin_utils import cost_render as cr

ROOT = Path(__file__).resolve().parents[4]
# The table group_vars/all/cost.yml points at (a price update is a new dated file there).
PRICE_TABLE = ROOT / "docs" / "pricing" / Path(
    yaml.safe_load((ROOT / "group_vars" / "all" / "cost.yml").read_text())["cost_price_table"]).name
H = 730


@pytest.fixture(scope="module")
def prices():
    return yaml.safe_load(PRICE_TABLE.read_text())


LADDER = [
    {"max_machines": 50, "rds_instance_class": "db.t4g.large", "rds_storage_gb": 50,
     "msk_broker_type": "kafka.t3.small", "msk_storage_gb_per_broker": 50, "timescaledb_plan": "ts-1cpu-4gb"},
    {"max_machines": 10000, "rds_instance_class": "db.r6g.large", "rds_storage_gb": 200,
     "msk_broker_type": "kafka.m7g.large", "msk_storage_gb_per_broker": 200, "timescaledb_plan": "ts-2cpu-8gb"},
]
TRANSITIONS = [{"days": 30, "storage_class": "STANDARD_IA"}, {"days": 90, "storage_class": "GLACIER"},
               {"days": 180, "storage_class": "DEEP_ARCHIVE"}]


def host(name="customer-1", **overrides):
    """A prod-like host with round numbers. ``shared_layer=True`` makes it the shared-layer host."""
    values = {
        "host": name, "shared_layer": False, "is_tenant": True, "tenant_id": name, "display_name": None,
        "tier": "shared", "machines": 10,
        "az_count": 3, "nat_gateways": 3, "interface_endpoints": ["secretsmanager", "kms", "sns", "logs", "sts"],
        "log_retention_days": 365, "flow_log_retention_days": 365,
        "rds_instance_class": "db.r6g.large", "rds_multi_az": True, "rds_backup_retention_days": 30,
        "rds_storage_gb": 100, "rds_backup_daily_change": 0.02,
        "msk_broker_type": "kafka.m7g.large", "msk_brokers_per_az": 1, "msk_storage_gb_per_broker": 100,
        "timescaledb_plan": "ts-2cpu-8gb", "timescaledb_ha_replicas": 1, "timescaledb_retention_days": 30,
        "timescaledb_bytes_per_row": 40,
        "dedicated_sizes": copy.deepcopy(LADDER), "dedicated_rds_instance_class": "",
        "dedicated_msk_broker_type": "", "dedicated_timescaledb_plan": "",
        "s3_transitions": copy.deepcopy(TRANSITIONS), "s3_compression_ratio": 5, "s3_objects_per_machine_per_day": 24,
        "s3_data_age_days": 365,
        "readings_per_second": 1, "bytes_per_reading": 200, "api_requests_per_machine_per_day": 1440,
        "api_requests_per_tenant_per_day": 2000, "api_log_bytes_per_request": 600,
        "lambda_batch_size": 100, "lambda_ms_per_batch": 150, "lambda_ms_per_api_request": 40, "lambda_memory_mb": 512,
        "lambda_architecture": "arm64", "lambda_log_bytes_per_invocation": 1024,
        "flow_log_gb_per_vpc_month": 2, "nat_data_gb_per_vpc_month": 1, "endpoint_data_gb_per_vpc_month": 1,
        "logs_stored_ratio": 0.2, "custom_metrics_per_tenant": 6, "alarm_metrics_per_tenant": 10,
        "alarm_metrics_per_database": 3, "alarm_metrics_per_msk_broker": 1, "secrets_per_tenant": 2,
        "secrets_per_data_layer": 2, "secret_api_calls_per_tenant_month": 20000,
        "kms_requests_per_tenant_month": 100000, "rds_log_gb_per_instance_month": 1, "msk_log_gb_per_broker_month": 0.5,
    }
    if overrides.get("shared_layer"):
        values.update(is_tenant=False, tenant_id=None, tier=None, machines=None)
    values.update(overrides)
    return values


def shared_host(**overrides):
    return host("platform-shared", shared_layer=True, **overrides)


def fleet(*tenants, shared=None):
    return [shared or shared_host()] + list(tenants)


def lines(items, service=None, contains=""):
    return [i for i in items if (service is None or i.service == service) and contains in i.item]


def amount(items, service=None, contains=""):
    return cm.cents(sum(i.monthly for i in lines(items, service, contains)))


# ---------------------------------------------------------------------------------------------------------------
# The repository's own configuration, templated like the playbook does


def repo_inputs(env, fleet_override=None):
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    def trust(value):
        if isinstance(value, str):
            return trust_as_template(value)
        if isinstance(value, dict):
            return {k: trust(v) for k, v in value.items()}
        if isinstance(value, list):
            return [trust(v) for v in value]
        return value

    group_vars = {}
    for path in sorted((ROOT / "group_vars" / "all").glob("*.yml")) + [ROOT / "group_vars" / ("env_%s.yml" % env)]:
        group_vars.update(yaml.safe_load(path.read_text()) or {})
    inventory = fleet_override or yaml.safe_load((ROOT / "inventories" / "hosts.yml").read_text())
    children = inventory["all"]["children"]
    groups = {name: sorted(group.get("hosts") or {}) for name, group in children.items()}
    inputs = []
    for group in ("platform_shared", "tenants"):
        for name, hvars in sorted((children[group].get("hosts") or {}).items()):
            variables = dict(group_vars, **(inventory["all"].get("vars") or {}))
            variables.update(hvars or {})
            variables.update(env=env, inventory_hostname=name, groups=groups, platform_project_dir=str(ROOT))
            variables = trust(variables)
            inputs.append(Templar(loader=DataLoader(), variables=variables).template(variables["cost_inputs"]))
    return inputs, group_vars["cost_reference"]


@pytest.fixture(scope="module")
def prod(prices):
    inputs, reference = repo_inputs("prod")
    return cm.estimate(inputs, prices, "prod", reference)


@pytest.fixture(scope="module")
def dev(prices):
    inputs, reference = repo_inputs("dev")
    return cm.estimate(inputs, prices, "dev", reference)


# ---------------------------------------------------------------------------------------------------------------
# Price table


def test_price_table_is_valid_and_dated(prices):
    assert cm.validate_prices(prices) == []
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", prices["meta"]["as_of"])
    assert prices["meta"]["hours_per_month"] == H
    assert prices["meta"]["status"] == "estimate"
    assert PRICE_TABLE.name == "aws-us-east-1-%s.yml" % prices["meta"]["as_of"][:7]


def test_every_price_has_a_source_comment():
    text = PRICE_TABLE.read_text()
    for section in cm.PRICE_NUMBERS:
        before = text[: text.index("\n%s:" % section)]
        assert before.rstrip().splitlines()[-1].startswith("#"), "%s has no comment above it" % section


def test_price_table_problems_are_named(prices):
    broken = copy.deepcopy(prices)
    del broken["nat_gateway"]["hourly"]
    broken["s3"]["storage_gb_month"]["GLACIER"] = -1
    broken["meta"]["hours_per_month"] = 0
    problems = cm.validate_prices(broken)
    assert "price table: nat_gateway.hourly: must be a number >= 0" in problems
    assert "price table: s3.storage_gb_month.GLACIER: must be a number >= 0" in problems
    assert "price table: meta.hours_per_month: must be a positive number" in problems
    with pytest.raises(cm.CostModelError):
        cm.estimate(fleet(host()), broken, "prod")


# ---------------------------------------------------------------------------------------------------------------
# Line items, one by one


def test_nat_gateways_per_az_and_data(prices):
    items = cm.vpc_items("t", host(), prices, "tenant VPC")
    assert amount(items, "nat", "NAT gateway(s)") == cm.cents(3 * H * 0.045) == 98.55
    assert amount(items, "nat", "data processed") == 0.05
    one = cm.vpc_items("t", host(nat_gateways=1, az_count=2), prices, "tenant VPC")
    assert amount(one, "nat", "NAT gateway(s)") == 32.85
    none = cm.vpc_items("t", host(nat_gateways=0), prices, "tenant VPC")
    assert lines(none, "nat") == []


def test_interface_endpoints_per_endpoint_per_az(prices):
    items = cm.vpc_items("t", host(), prices, "tenant VPC")
    assert amount(items, "vpc_endpoints", "interface endpoints") == cm.cents(5 * 3 * H * 0.01) == 109.50
    two = cm.vpc_items("t", host(az_count=2, nat_gateways=1, interface_endpoints=["kms"]), prices, "x")
    assert amount(two, "vpc_endpoints", "interface endpoints") == 14.60


def test_rds_multi_az_doubles_instance_and_storage(prices):
    sizing = cm.shared_sizing(host())
    multi = cm.data_layer_items("s", host(), sizing, prices, "shared")
    single = cm.data_layer_items("s", host(rds_multi_az=False), sizing, prices, "shared")
    assert amount(single, "rds", "db.r6g.large") == cm.cents(0.225 * H) == 164.25
    assert amount(multi, "rds", "db.r6g.large") == 2 * 164.25
    assert amount(single, "rds", "gp3") == 11.50
    assert amount(multi, "rds", "gp3") == 23.00
    # Backups beyond the free allowance: 100 GB x 2 %/day x 30 days = 60 GB x $0.095.
    assert amount(multi, "rds", "backups") == 5.70
    no_backups = cm.data_layer_items("s", host(rds_backup_retention_days=0), sizing, prices, "s")
    assert amount(no_backups, "rds", "backups") == 0


def test_msk_brokers_follow_the_az_count(prices):
    sizing = cm.shared_sizing(host())
    items = cm.data_layer_items("s", host(), sizing, prices, "shared")
    assert amount(items, "msk", "brokers") == cm.cents(3 * 0.204 * H) == 446.76
    assert amount(items, "msk", "storage") == 30.00
    two_per_az = cm.data_layer_items("s", host(msk_brokers_per_az=2, az_count=2, nat_gateways=1), sizing, prices, "s")
    assert amount(two_per_az, "msk", "brokers") == cm.cents(4 * 0.204 * H)


def test_timescaledb_ha_replica_doubles_compute_and_storage_is_usage(prices):
    sizing = cm.shared_sizing(host())
    ha = cm.data_layer_items("s", host(), sizing, prices, "shared")
    single = cm.data_layer_items("s", host(timescaledb_ha_replicas=0), sizing, prices, "shared")
    assert amount(single, "timescaledb") == cm.cents(0.208 * H) == 151.84
    assert amount(ha, "timescaledb") == 303.68
    # 10 machines x 1 reading/s x 30 days x 40 bytes.
    assert cm.timescaledb_gb(host()) == pytest.approx(10 * 86400 * 30 * 40 / 2 ** 30)


def test_lambda_and_api_gateway(prices):
    items = cm.tenant_items(host(), prices)
    days = H / 24
    batches = 10 * 86400 * days / 100
    api = (10 * 1440 + 2000) * days
    assert amount(items, "lambda", "invocations") == cm.cents((batches + api) / 1e6 * 0.20)
    gb_s = (batches * 150 + api * 40) / 1000 * 0.5
    assert amount(items, "lambda", "compute") == cm.cents(gb_s * 0.0000133334)
    assert amount(items, "api_gateway") == cm.cents(api / 1e6 * 3.50) == 1.75
    x86 = cm.tenant_items(host(lambda_architecture="x86_64"), prices)
    assert amount(x86, "lambda", "compute") == cm.cents(gb_s * 0.0000166667)


def test_s3_tiering_by_age_profile(prices):
    tenant = host()
    profile = cm.s3_profile(tenant, prices)
    per_day = 10 * 86400 * 200 / 5 / 2 ** 30
    # 365 days of data: 30 in STANDARD, 60 in IA, 90 in GLACIER, 185 in DEEP_ARCHIVE.
    expected = {"STANDARD": 30, "STANDARD_IA": 60, "GLACIER": 90, "DEEP_ARCHIVE": 185}
    assert set(profile["classes"]) == set(expected)
    for klass, days in expected.items():
        assert profile["classes"][klass]["gb"] == pytest.approx(per_day * days)
        assert profile["classes"][klass]["objects"] == pytest.approx(240 * days)
    assert profile["transitions"] == pytest.approx({k: 240 * H / 24 for k in ("STANDARD_IA", "GLACIER",
                                                                              "DEEP_ARCHIVE")})
    items = cm.tenant_items(tenant, prices)
    assert amount(items, "s3", "data lake GLACIER") == cm.cents(per_day * 90 * 0.0036)
    assert amount(items, "s3", "transitions to DEEP_ARCHIVE") == cm.cents(240 * H / 24 / 1000 * 0.05)
    # Young data lake: 60 days old -> nothing reached GLACIER, no GLACIER/DEEP transitions are billed yet.
    young = cm.s3_profile(host(s3_data_age_days=60), prices)
    assert set(young["classes"]) == {"STANDARD", "STANDARD_IA"}
    assert set(young["transitions"]) == {"STANDARD_IA"}


def test_s3_is_cheaper_with_an_earlier_lifecycle(prices):
    early = amount(cm.tenant_items(host(), prices), "s3", "data lake")
    late = amount(cm.tenant_items(host(s3_transitions=[{"days": 60, "storage_class": "STANDARD_IA"},
                                                       {"days": 120, "storage_class": "GLACIER"},
                                                       {"days": 365, "storage_class": "DEEP_ARCHIVE"}],
                                       machines=1000), prices), "s3", "data lake")
    assert late > early
    standard_only = cm.s3_profile(host(s3_transitions=[]), prices)
    assert set(standard_only["classes"]) == {"STANDARD"}


def test_cloudwatch_log_storage_follows_retention(prices):
    long = cm.vpc_items("t", host(), prices, "v")
    short = cm.vpc_items("t", host(flow_log_retention_days=7), prices, "v")
    # 2 GB/month kept 365 days (12 months) at 20 % compressed size.
    assert lines(long, "cloudwatch", "stored")[0].quantity == pytest.approx(2 * 365 / (H / 24) * 0.2)
    assert amount(short, "cloudwatch", "stored") < amount(long, "cloudwatch", "stored")
    assert amount(long, "cloudwatch", "ingested") == 1.00


def test_kms_and_secrets(prices):
    items = cm.tenant_items(host(), prices)
    assert amount(items, "kms") == 0.30
    assert amount(items, "secrets_manager", "credentials") == 0.80
    assert amount(items, "secrets_manager", "reads") == 0.10
    layer = cm.data_layer_items("s", host(), cm.shared_sizing(host()), prices, "shared")
    assert amount(layer, "kms") == 1.00
    assert amount(layer, "secrets_manager") == 0.80
    assert amount(layer, "cloudwatch", "dashboard") == 3.00


def test_line_items_round_to_cents():
    assert cm.cents(0.125) == 0.13
    assert cm.cents(2.675) == 2.68
    assert cm.cents(-1.005) == -1.01
    line = cm.item("t", "nat", "x", 3 * H, "h", 0.045)
    assert line.monthly == 98.55


# ---------------------------------------------------------------------------------------------------------------
# Allocation, tiers, totals


def test_allocate_adds_up_exactly():
    assert cm.allocate(100.00, [1, 1, 1]) == [33.34, 33.33, 33.33]
    assert sum(cm.allocate(1353.72, [15, 15])) == pytest.approx(1353.72)
    assert cm.allocate(10, []) == []
    assert cm.allocate(10, [0, 0]) == [0.0, 0.0]


def test_shared_layer_is_split_by_machines(prices):
    report = cm.estimate(fleet(host("a", machines=10), host("b", machines=30)), prices, "prod")
    shared_total = report["shared_layer"]["total"]
    a, b = report["tenants"]
    assert a["shared_share"] + b["shared_share"] == pytest.approx(shared_total)
    assert b["shared_share"] == pytest.approx(3 * a["shared_share"], abs=0.02)
    assert report["shared_layer"]["unallocated"] == 0


def test_totals_add_up(prod):
    tenants_total = sum(t["total"] for t in prod["tenants"]) + prod["shared_layer"]["unallocated"]
    assert cm.cents(tenants_total) == prod["total"]
    assert cm.cents(sum(prod["by_service"].values())) == prod["total"]
    assert cm.cents(sum(li["monthly"] for li in prod["line_items"])) == prod["total"]
    for tenant in prod["tenants"]:
        assert cm.cents(sum(tenant["by_service"].values())) == tenant["total"]
        assert cm.cents(tenant["own_total"] + tenant["shared_share"]) == tenant["total"]


def test_dedicated_tenant_runs_its_own_data_stores(prices):
    report = cm.estimate(fleet(host("a"), host("d", tier="dedicated")), prices, "prod")
    a, d = report["tenants"]
    assert a["own_by_service"]["rds"] == 0 and a["shared_share_by_service"]["rds"] > 0
    assert d["shared_share"] == 0
    # Ladder: 10 machines -> the first step (db.t4g.large Multi-AZ, 3 x kafka.t3.small, ts-1cpu-4gb x 2).
    assert d["if_dedicated"]["sizing"]["rds_instance_class"] == "db.t4g.large"
    assert d["own_by_service"]["rds"] == cm.cents(cm.cents(0.129 * 2 * H) + 11.50 + 2.85)
    assert d["own_by_service"]["msk"] == cm.cents(cm.cents(3 * 0.0456 * H) + 15.00)
    assert d["total"] == d["if_dedicated"]["total"]
    assert a["total"] == a["if_shared"]["total"]
    # As a shared tenant, the dedicated one would join the pool: half of the shared layer (10 of 20 machines).
    assert d["if_shared"]["total"] == pytest.approx(
        d["if_dedicated"]["total"] - sum(d["dedicated_extra_by_service"].values())
        + report["shared_layer"]["total"] / 2, abs=0.06)


def test_right_sizing_ladder_and_overrides(prices):
    shared = shared_host()
    assert cm.dedicated_sizing(host(machines=50), shared)["rds_instance_class"] == "db.t4g.large"
    assert cm.dedicated_sizing(host(machines=51), shared)["rds_instance_class"] == "db.r6g.large"
    explicit = cm.dedicated_sizing(host(dedicated_rds_instance_class="db.m6g.large",
                                        dedicated_msk_broker_type="kafka.m5.large"), shared)
    assert (explicit["rds_instance_class"], explicit["msk_broker_type"]) == ("db.m6g.large", "kafka.m5.large")
    # databases_instance_class set on the tenant host (different from the env's) is its own instance's class.
    own_class = cm.dedicated_sizing(host(rds_instance_class="db.r6g.xlarge"), shared)
    assert own_class["rds_instance_class"] == "db.r6g.xlarge"


def test_tenant_overrides_apply_to_that_tenant_only(prices):
    report = cm.estimate(fleet(host("a"), host("b", nat_gateways=1, rds_multi_az=False, tier="dedicated")), prices,
                         "prod")
    a, b = report["tenants"]
    assert a["own_by_service"]["nat"] == 98.60
    assert b["own_by_service"]["nat"] == 32.90
    assert lines([cm.LineItem(**li) for li in report["line_items"] if li["scope"] == "b"], "rds", "Single-AZ")


def test_no_shared_tenant_leaves_the_shared_layer_unallocated(prices):
    report = cm.estimate(fleet(host("d", tier="dedicated")), prices, "prod")
    assert report["shared_layer"]["unallocated"] == report["shared_layer"]["total"] > 0
    assert cm.cents(report["tenants"][0]["total"] + report["shared_layer"]["unallocated"]) == report["total"]


def test_break_even():
    assert cm.break_even_tenants(1000, 400) == 3
    assert cm.break_even_tenants(1200, 400) == 4
    assert cm.break_even_tenants(100, 400) == 1
    assert cm.break_even_tenants(100, 0) is None


# ---------------------------------------------------------------------------------------------------------------
# The reference fleet (the repository's configuration)


def test_reference_fleet_prod_within_15_percent_of_the_seed(prod):
    ref = prod["reference"]
    assert ref["applies"] and ref["fleet_matches"]
    assert ref["expected"] == 2900
    assert abs(prod["total"] - 2900) <= 0.15 * 2900, prod["total"]
    assert ref["within_tolerance"] is True
    assert ref["delta"] == cm.cents(prod["total"] - 2900)
    assert prod["machines"] == 45
    assert [(t["tenant_id"], t["tier"]) for t in prod["tenants"]] == [
        ("customer-123", "dedicated"), ("customer-456", "shared"), ("customer-789", "shared")]


def test_reference_fleet_uses_the_env_sizing(prod, dev):
    assert prod["shared_layer"]["sizing"]["rds_instance_class"] == "db.r6g.large"
    assert prod["shared_layer"]["sizing"]["rds_multi_az"] is True
    assert prod["shared_layer"]["sizing"]["nat_gateways"] == 3
    assert dev["shared_layer"]["sizing"]["rds_instance_class"] == "db.t4g.medium"
    assert dev["shared_layer"]["sizing"]["nat_gateways"] == 1
    assert dev["total"] < prod["total"] / 2
    assert dev["reference"]["applies"] is False


def test_reference_fleet_per_tenant_lifecycle_override(prod):
    by_id = {t["tenant_id"]: t for t in prod["tenants"]}
    # customer-789 moves to DEEP_ARCHIVE only at 365 days: after a year nothing has reached it yet.
    assert "DEEP_ARCHIVE" not in by_id["customer-789"]["s3"]["classes"]
    assert "DEEP_ARCHIVE" in by_id["customer-456"]["s3"]["classes"]


def test_seed_savings_claims_are_reproduced_and_explained(prod):
    savings = {s["claim"]: s for s in prod["savings"]}
    assert savings["postgresql"]["seed_claim_pct"] == 60.0
    assert savings["s3"]["seed_claim_pct"] == 70.0
    assert savings["kafka"]["seed_claim_pct"] == 65.0
    # S3 bills GB and requests, not buckets: sharing a bucket saves nothing.
    assert savings["s3"]["savings_pct"] == 0.0
    # Like for like (3 dedicated instances as large as the shared one) is the 1 - 1/3 of the seed's claims.
    assert savings["postgresql"]["like_for_like_pct"] == pytest.approx(66.7, abs=0.2)
    assert savings["kafka"]["like_for_like_pct"] == pytest.approx(66.7, abs=0.2)
    for claim in ("postgresql", "kafka"):
        row = savings[claim]
        assert row["savings_pct"] == round(100 * (1 - row["all_shared"] / row["all_dedicated"]), 1)


# ---------------------------------------------------------------------------------------------------------------
# Validation


@pytest.mark.parametrize(("overrides", "message"), [
    ({"tier": "premium"}, "customer-1: tenancy_tier: must be one of shared, dedicated, got 'premium'"),
    ({"machines": 0}, "customer-1: tenant_machines: must be an integer 1-10000, got 0"),
    ({"machines": "15"}, "customer-1: tenant_machines: must be an integer 1-10000, got '15'"),
    ({"nat_gateways": 4}, "customer-1: network_nat_gateway_count: 4 NAT gateways for 3 AZs (at most one per AZ)"),
    ({"rds_instance_class": "db.x9.huge"}, "customer-1: databases_instance_class: RDS instance class 'db.x9.huge' is "
                                           "not in the price table"),
    ({"dedicated_msk_broker_type": "kafka.nope"}, "customer-1: cost_dedicated_msk_broker_type: MSK broker type"),
    ({"lambda_memory_mb": 64}, "customer-1: lambda_memory_mb: 64 is out of range 128-10240"),
    ({"readings_per_second": -1}, "customer-1: readings_per_second: -1 is out of range"),
    ({"rds_multi_az": "yes"}, "customer-1: rds_multi_az: must be true or false, got 'yes'"),
    ({"s3_transitions": [{"days": 90, "storage_class": "GLACIER"}, {"days": 30, "storage_class": "STANDARD_IA"}]},
     "customer-1: storage_lifecycle_transitions[1].days: 30 is not after the previous transition (90)"),
    ({"s3_transitions": [{"days": 30, "storage_class": "TAPE"}]},
     "customer-1: storage_lifecycle_transitions[0].storage_class: 'TAPE' has no price"),
    ({"dedicated_sizes": [dict(LADDER[0], max_machines=50)]},
     "customer-1: cost_dedicated_sizes: the last step must cover 10000 machines"),
    ({"dedicated_sizes": [dict(LADDER[0], timescaledb_plan="huge"), LADDER[1]]},
     "customer-1: cost_dedicated_sizes[0].timescaledb_plan: plan 'huge' is not in the price table"),
])
def test_invalid_inputs_are_rejected_with_host_and_field(prices, overrides, message):
    with pytest.raises(cm.CostModelError) as err:
        cm.estimate(fleet(host(**overrides)), prices, "prod")
    assert any(p.startswith(message) for p in err.value.problems), err.value.problems


def test_fleet_level_problems(prices):
    with pytest.raises(cm.CostModelError, match="needs exactly one shared-layer host, found 0"):
        cm.estimate([host()], prices, "prod")
    with pytest.raises(cm.CostModelError, match="the fleet has no tenant"):
        cm.estimate([shared_host()], prices, "prod")
    with pytest.raises(cm.CostModelError, match="'a' is used by more than one host"):
        cm.estimate(fleet(host("a"), dict(host("a"), host="other")), prices, "prod")
    with pytest.raises(cm.CostModelError, match="must be a list of host mappings"):
        cm.estimate({"not": "a list"}, prices, "prod")


def test_all_problems_are_reported_at_once(prices):
    with pytest.raises(cm.CostModelError) as err:
        cm.estimate(fleet(host("a", machines=0), host("b", tier="x")), prices, "prod")
    assert len(err.value.problems) == 2


# ---------------------------------------------------------------------------------------------------------------
# The report


def test_markdown_shows_the_model_numbers(prod):
    text = cr.markdown(prod)
    assert text.startswith("# Monthly cost estimate: `prod`")
    assert "**%s per month**" % cr.money(prod["total"]) in text
    for tenant in prod["tenants"]:
        assert re.search(r"^\| %s \|.*\| \*\*%s\*\* \|" % (re.escape(tenant["tenant_id"]),
                                                           re.escape(cr.money(tenant["total"]))), text, re.M)
    for service in prod["drivers"]["services"]:
        assert "| %s | %s |" % (service["label"], cr.money(service["monthly"])) in text
    assert "within" in text and prod["prices"]["as_of"] in text
    assert "## The seed's shared-tier savings claims" in text
    assert "## Reference check" in text


def test_markdown_without_reference_env_has_no_reference_check(dev):
    text = cr.markdown(dev)
    assert "## Reference check" not in text
    assert "is a prod figure; this is dev" in text


def test_html_is_self_contained_with_charts(prod):
    page = cr.render_html(prod)
    assert page.startswith("<!DOCTYPE html>")
    svgs = re.findall(r"<svg.*?</svg>", page, re.S)
    assert len(svgs) >= 4
    for svg in svgs:
        ET.fromstring(svg)  # noqa: S314 - our own output, parsed to prove it is well-formed
    assert "<script" not in page and "src=" not in page and "<link" not in page
    assert "http" not in page.replace("http://www.w3.org/2000/svg", "")
    assert cr.money(prod["total"]) in page


def test_report_is_deterministic(prod):
    assert cr.markdown(prod) == cr.markdown(copy.deepcopy(prod))
    assert cr.render_html(prod) == cr.render_html(copy.deepcopy(prod))


def test_html_escapes_inventory_text(prices):
    report = cm.estimate(fleet(host("a", display_name="<script>alert(1)</script>")), prices, "prod")
    page = cr.render_html(report)
    assert "<script>" not in page and "&lt;script&gt;" in page
