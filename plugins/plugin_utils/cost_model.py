# -*- coding: utf-8 -*-
# Copyright: contributors to manufacturing.platform
# Apache License 2.0 (see LICENSE)
"""Monthly cost model of the platform: price table x sizing x usage -> line items, per tenant and per service.

Pure functions over plain data (no Ansible, no AWS), unit tested in tests/unit/plugins/plugin_utils/.
The playbook (playbooks/cost_report.yml) hands over one ``cost_inputs`` dict per inventory host (templated
in that host's context, so a tenant's own variables override the environment's) and the parsed price table
(docs/pricing/*.yml). See docs/cost.md for the model and its assumptions.

Structure of an environment:

* the **shared layer** (host in group ``platform_shared``): the shared data VPC, the shared RDS PostgreSQL
  instance, the shared MSK cluster, the shared TimescaleDB service, the environment KMS key, the ops dashboard.
  Its cost is carried by the shared-tier tenants in proportion to their machines.
* every **tenant** (both tiers): its own VPC (NAT gateways, interface endpoints, flow logs), its Lambda and
  REST API, its data in S3 and TimescaleDB (usage-based: the same price in either tier), logs, metrics,
  alarms, secrets, KMS requests.
* a **dedicated** tenant also pays its own RDS instance, MSK cluster and TimescaleDB service (right-sized from
  its machine count), its own KMS key, the secrets/alarms/logs of those and its own dashboard.

Every line item's monthly amount is rounded to cents and every total is the sum of rounded amounts, so the
figures of a report add up exactly.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

GIB = 1024 ** 3

SERVICES = (
    ("rds", "RDS PostgreSQL"),
    ("msk", "MSK (Kafka)"),
    ("timescaledb", "TimescaleDB"),
    ("nat", "NAT gateways"),
    ("vpc_endpoints", "VPC interface endpoints"),
    ("lambda", "Lambda"),
    ("api_gateway", "API Gateway"),
    ("s3", "S3"),
    ("cloudwatch", "CloudWatch"),
    ("kms", "KMS"),
    ("secrets_manager", "Secrets Manager"),
)
SERVICE_KEYS = tuple(key for key, _label in SERVICES)
SERVICE_LABELS = dict(SERVICES)
# The seed's claims are about these services (its "PostgreSQL", "S3" and "Kafka").
SEED_SAVINGS_SERVICES = (("postgresql", "rds"), ("s3", "s3"), ("kafka", "msk"))
# Services whose shared-tier resources are fixed capacity that dedicated tenants duplicate.
DATA_STORE_SERVICES = ("rds", "msk", "timescaledb")
TIERS = ("shared", "dedicated")
S3_CLASSES = ("STANDARD", "INTELLIGENT_TIERING", "STANDARD_IA", "ONEZONE_IA", "GLACIER_IR", "GLACIER",
              "DEEP_ARCHIVE")

# (field, kind, minimum, maximum) of every number in a host's cost inputs. kind: int | num | bool.
NUMBER_FIELDS = (
    ("az_count", "int", 1, 6),
    ("nat_gateways", "int", 0, 6),
    ("log_retention_days", "int", 1, 3653),
    ("flow_log_retention_days", "int", 1, 3653),
    ("rds_multi_az", "bool", None, None),
    ("rds_backup_retention_days", "int", 0, 35),
    ("rds_storage_gb", "int", 20, 65536),
    ("rds_backup_daily_change", "num", 0, 1),
    ("msk_brokers_per_az", "int", 1, 10),
    ("msk_storage_gb_per_broker", "int", 1, 16384),
    ("timescaledb_ha_replicas", "int", 0, 2),
    ("timescaledb_retention_days", "int", 1, 3653),
    ("timescaledb_bytes_per_row", "num", 1, 10000),
    ("readings_per_second", "num", 0, 10000),
    ("bytes_per_reading", "num", 1, 1000000),
    ("api_requests_per_machine_per_day", "num", 0, 10000000),
    ("api_requests_per_tenant_per_day", "num", 0, 100000000),
    ("api_log_bytes_per_request", "num", 0, 100000),
    ("lambda_batch_size", "int", 1, 10000),
    ("lambda_ms_per_batch", "num", 1, 900000),
    ("lambda_ms_per_api_request", "num", 1, 29000),
    ("lambda_memory_mb", "int", 128, 10240),
    ("lambda_log_bytes_per_invocation", "num", 0, 10000000),
    ("s3_compression_ratio", "num", 1, 1000),
    ("s3_objects_per_machine_per_day", "num", 0, 1000000),
    ("s3_data_age_days", "int", 1, 36500),
    ("flow_log_gb_per_vpc_month", "num", 0, 1000000),
    ("nat_data_gb_per_vpc_month", "num", 0, 1000000),
    ("endpoint_data_gb_per_vpc_month", "num", 0, 1000000),
    ("logs_stored_ratio", "num", 0, 1),
    ("custom_metrics_per_tenant", "int", 0, 10000),
    ("alarm_metrics_per_tenant", "int", 0, 10000),
    ("alarm_metrics_per_database", "int", 0, 1000),
    ("alarm_metrics_per_msk_broker", "int", 0, 1000),
    ("secrets_per_tenant", "int", 0, 1000),
    ("secrets_per_data_layer", "int", 0, 1000),
    ("secret_api_calls_per_tenant_month", "num", 0, 1e12),
    ("kms_requests_per_tenant_month", "num", 0, 1e12),
    ("rds_log_gb_per_instance_month", "num", 0, 1000000),
    ("msk_log_gb_per_broker_month", "num", 0, 1000000),
)
STRING_FIELDS = ("rds_instance_class", "msk_broker_type", "timescaledb_plan", "lambda_architecture")
OPTIONAL_STRING_FIELDS = ("dedicated_rds_instance_class", "dedicated_msk_broker_type", "dedicated_timescaledb_plan")
LADDER_FIELDS = ("rds_instance_class", "rds_storage_gb", "msk_broker_type", "msk_storage_gb_per_broker",
                 "timescaledb_plan")

# Price table: section -> keys that must be numbers (dicts of numbers are listed separately).
PRICE_NUMBERS = {
    "rds_postgresql": ("multi_az_factor", "storage_gb_month", "backup_gb_month"),
    "msk": ("storage_gb_month",),
    "timescaledb": ("storage_gb_month",),
    "nat_gateway": ("hourly", "data_gb"),
    "vpc_endpoint": ("interface_hourly_per_az", "data_gb"),
    "lambda": ("requests_per_million",),
    "api_gateway": ("rest_requests_per_million",),
    "s3": ("put_per_1000",),
    "cloudwatch": ("logs_ingest_gb", "vended_logs_ingest_gb", "logs_storage_gb_month", "custom_metric_month",
                   "alarm_metric_month", "dashboard_month"),
    "kms": ("key_month", "requests_per_10000"),
    "secrets_manager": ("secret_month", "api_calls_per_10000"),
}
PRICE_MAPS = {
    "rds_postgresql": ("instance_hourly",),
    "msk": ("broker_hourly",),
    "timescaledb": ("compute_hourly",),
    "lambda": ("gb_second",),
    "s3": ("storage_gb_month", "transition_per_1000"),
}


class CostModelError(ValueError):
    """Invalid inputs or price table; ``problems`` lists every problem as ``<where>: <field>: <what>``."""

    def __init__(self, problems):
        self.problems = sorted(set(problems))
        super().__init__("%d problem(s): %s" % (len(self.problems), "; ".join(self.problems)))


@dataclass(frozen=True)
class LineItem:
    """One priced quantity: ``monthly = round(quantity * unit_price, 2)``."""

    scope: str      # "shared" or a tenant id
    service: str    # one of SERVICE_KEYS
    item: str       # what is priced, for a human
    quantity: float
    unit: str
    unit_price: float
    monthly: float


def cents(value):
    """Round to cents, half away from zero (stable across platforms, unlike round() on binary floats)."""
    return math.floor(abs(value) * 100 + 0.5 + 1e-9) / 100 * (1 if value >= 0 else -1)


def item(scope, service, what, quantity, unit, unit_price):
    return LineItem(scope, service, what, quantity, unit, unit_price, cents(quantity * unit_price))


def by_service(items):
    totals = dict.fromkeys(SERVICE_KEYS, 0.0)
    for line in items:
        totals[line.service] = cents(totals[line.service] + line.monthly)
    return totals


def total(amounts):
    return cents(sum(amounts.values()) if isinstance(amounts, dict) else sum(amounts))


def allocate(amount, weights):
    """Split ``amount`` (dollars) by ``weights`` in whole cents; the parts add up exactly (largest remainder)."""
    amount_cents = int(round(amount * 100))
    weight_sum = sum(weights)
    if not weights or weight_sum <= 0:
        return [0.0] * len(weights)
    raw = [amount_cents * w / weight_sum for w in weights]
    parts = [math.floor(r) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - parts[i]), i))
    for i in order[: amount_cents - sum(parts)]:
        parts[i] += 1
    return [p / 100 for p in parts]


# ---------------------------------------------------------------------------------------------------------------
# Validation


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def validate_prices(prices):
    problems = []
    if not isinstance(prices, dict):
        return ["price table: (root): is not a mapping"]
    meta = prices.get("meta")
    if not isinstance(meta, dict):
        problems.append("price table: meta: is missing")
    else:
        for key in ("as_of", "region", "currency"):
            if not meta.get(key):
                problems.append("price table: meta.%s: is missing" % key)
        if not _is_number(meta.get("hours_per_month")) or meta.get("hours_per_month") <= 0:
            problems.append("price table: meta.hours_per_month: must be a positive number")
    for section, keys in PRICE_NUMBERS.items():
        table = prices.get(section)
        if not isinstance(table, dict):
            problems.append("price table: %s: is missing" % section)
            continue
        for key in keys:
            if not _is_number(table.get(key)) or table.get(key) < 0:
                problems.append("price table: %s.%s: must be a number >= 0" % (section, key))
        for key in PRICE_MAPS.get(section, ()):
            mapping = table.get(key)
            if not isinstance(mapping, dict) or not mapping:
                problems.append("price table: %s.%s: must be a non-empty mapping" % (section, key))
                continue
            for name, value in mapping.items():
                if not _is_number(value) or value < 0:
                    problems.append("price table: %s.%s.%s: must be a number >= 0" % (section, key, name))
    s3_storage = prices["s3"].get("storage_gb_month") if isinstance(prices.get("s3"), dict) else None
    if isinstance(s3_storage, dict) and "STANDARD" not in s3_storage:
        problems.append("price table: s3.storage_gb_month.STANDARD: is missing")
    return problems


def _known(where, field, value, mapping, what):
    if not isinstance(value, str) or not value:
        return ["%s: %s: must be a non-empty string" % (where, field)]
    if value not in mapping:
        return ["%s: %s: %s %r is not in the price table (known: %s)"
                % (where, field, what, value, ", ".join(sorted(mapping)))]
    return []


def validate_host(host, prices):
    """Problems of one host's cost inputs (``host`` as the playbook builds it)."""
    where = str(host.get("host") or "?")
    problems = []
    is_tenant = not host.get("shared_layer")
    if is_tenant:
        if not host.get("tenant_id"):
            problems.append("%s: tenant_id: is required" % where)
        if host.get("tier") not in TIERS:
            problems.append("%s: tenancy_tier: must be one of %s, got %r" % (where, ", ".join(TIERS), host.get("tier")))
        machines = host.get("machines")
        if not (isinstance(machines, int) and not isinstance(machines, bool)) or not 1 <= machines <= 10000:
            problems.append("%s: tenant_machines: must be an integer 1-10000, got %r" % (where, machines))
    for field, kind, low, high in NUMBER_FIELDS:
        value = host.get(field)
        if kind == "bool":
            if not isinstance(value, bool):
                problems.append("%s: %s: must be true or false, got %r" % (where, field, value))
            continue
        ok = (isinstance(value, int) and not isinstance(value, bool)) if kind == "int" else _is_number(value)
        if not ok:
            expected = "an integer" if kind == "int" else "a number"
            problems.append("%s: %s: must be %s, got %r" % (where, field, expected, value))
        elif not low <= value <= high:
            problems.append("%s: %s: %s is out of range %s-%s" % (where, field, value, low, high))
    if not problems and host["nat_gateways"] > host["az_count"]:
        problems.append("%s: network_nat_gateway_count: %d NAT gateways for %d AZs (at most one per AZ)"
                        % (where, host["nat_gateways"], host["az_count"]))
    endpoints = host.get("interface_endpoints")
    if not isinstance(endpoints, list) or not all(isinstance(e, str) and e for e in endpoints):
        problems.append("%s: network_interface_endpoints: must be a list of service names" % where)
    if not isinstance(prices, dict):
        return problems
    problems += _known(where, "databases_instance_class", host.get("rds_instance_class"),
                       prices["rds_postgresql"]["instance_hourly"], "RDS instance class")
    problems += _known(where, "cost_msk_broker_type", host.get("msk_broker_type"), prices["msk"]["broker_hourly"],
                       "MSK broker type")
    problems += _known(where, "cost_timescaledb_plan", host.get("timescaledb_plan"),
                       prices["timescaledb"]["compute_hourly"], "TimescaleDB plan")
    problems += _known(where, "cost_lambda_architecture", host.get("lambda_architecture"),
                       prices["lambda"]["gb_second"], "Lambda architecture")
    overrides = (("dedicated_rds_instance_class", prices["rds_postgresql"]["instance_hourly"], "RDS instance class"),
                 ("dedicated_msk_broker_type", prices["msk"]["broker_hourly"], "MSK broker type"),
                 ("dedicated_timescaledb_plan", prices["timescaledb"]["compute_hourly"], "TimescaleDB plan"))
    for field, mapping, what in overrides:
        if host.get(field):
            problems += _known(where, "cost_" + field, host.get(field), mapping, what)
    problems += _validate_transitions(where, host.get("s3_transitions"), prices)
    problems += _validate_ladder(where, host.get("dedicated_sizes"), prices)
    return problems


def _validate_transitions(where, transitions, prices):
    field = "storage_lifecycle_transitions"
    if not isinstance(transitions, list):
        return ["%s: %s: must be a list of {days, storage_class}" % (where, field)]
    problems, last = [], 0
    for index, rule in enumerate(transitions):
        if not isinstance(rule, dict):
            problems.append("%s: %s[%d]: must be a mapping {days, storage_class}" % (where, field, index))
            continue
        days, klass = rule.get("days"), rule.get("storage_class")
        if not (isinstance(days, int) and not isinstance(days, bool)) or days < 0:
            problems.append("%s: %s[%d].days: must be an integer >= 0, got %r" % (where, field, index, days))
        elif days <= last and index > 0:
            problems.append("%s: %s[%d].days: %d is not after the previous transition (%d)"
                            % (where, field, index, days, last))
        else:
            last = days
        if klass not in prices["s3"]["storage_gb_month"] or klass == "STANDARD":
            problems.append("%s: %s[%d].storage_class: %r has no price (known: %s)"
                            % (where, field, index, klass, ", ".join(sorted(prices["s3"]["storage_gb_month"]))))
        elif klass not in prices["s3"]["transition_per_1000"]:
            problems.append("%s: %s[%d].storage_class: %r has no transition price" % (where, field, index, klass))
    return problems


def _validate_ladder(where, ladder, prices):
    field = "cost_dedicated_sizes"
    if not isinstance(ladder, list) or not ladder:
        return ["%s: %s: must be a non-empty list of sizes" % (where, field)]
    problems, last = [], 0
    for index, size in enumerate(ladder):
        if not isinstance(size, dict):
            problems.append("%s: %s[%d]: must be a mapping" % (where, field, index))
            continue
        top = size.get("max_machines")
        if not (isinstance(top, int) and not isinstance(top, bool)) or top <= last:
            problems.append("%s: %s[%d].max_machines: must be an integer above the previous step (%d), got %r"
                            % (where, field, index, last, top))
        else:
            last = top
        for key in LADDER_FIELDS:
            if key not in size:
                problems.append("%s: %s[%d].%s: is required" % (where, field, index, key))
        for key, mapping, what in (("rds_instance_class", prices["rds_postgresql"]["instance_hourly"], "RDS class"),
                                   ("msk_broker_type", prices["msk"]["broker_hourly"], "MSK broker type"),
                                   ("timescaledb_plan", prices["timescaledb"]["compute_hourly"], "plan")):
            if key in size:
                problems += _known(where, "%s[%d].%s" % (field, index, key), size[key], mapping, what)
        for key in ("rds_storage_gb", "msk_storage_gb_per_broker"):
            value = size.get(key)
            if key in size and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                problems.append("%s: %s[%d].%s: must be a positive integer, got %r" % (where, field, index, key, value))
    if not problems and ladder[-1]["max_machines"] < 10000:
        problems.append("%s: %s: the last step must cover 10000 machines (max_machines: 10000)" % (where, field))
    return problems


# ---------------------------------------------------------------------------------------------------------------
# Quantities


def hours(prices):
    return float(prices["meta"]["hours_per_month"])


def days_per_month(prices):
    return hours(prices) / 24


def readings_per_month(tenant, prices):
    return tenant["machines"] * tenant["readings_per_second"] * 86400 * days_per_month(prices)


def s3_profile(tenant, prices):
    """Steady-state content of a tenant's data-lake prefix after ``s3_data_age_days`` of ingestion.

    Data arrives at a constant rate; an object of age ``a`` days sits in the class of the last transition
    whose ``days`` is <= a (STANDARD before the first). Returns per class GB and object counts, the objects
    written and transitioned per month.
    """
    gb_per_day = (tenant["machines"] * tenant["readings_per_second"] * 86400 * tenant["bytes_per_reading"]
                  / tenant["s3_compression_ratio"] / GIB)
    objects_per_day = tenant["machines"] * tenant["s3_objects_per_machine_per_day"]
    age = tenant["s3_data_age_days"]
    bounds = [(0, "STANDARD")] + [(t["days"], t["storage_class"]) for t in tenant["s3_transitions"]]
    classes = {}
    for index, (start, klass) in enumerate(bounds):
        end = bounds[index + 1][0] if index + 1 < len(bounds) else math.inf
        span = max(0.0, min(end, age) - start)
        if span > 0:
            entry = classes.setdefault(klass, {"gb": 0.0, "objects": 0.0})
            entry["gb"] += gb_per_day * span
            entry["objects"] += objects_per_day * span
    transitions = {klass: objects_per_day * days_per_month(prices)
                   for start, klass in bounds[1:] if start < age}
    return {
        "gb_per_month": gb_per_day * days_per_month(prices),
        "objects_per_month": objects_per_day * days_per_month(prices),
        "classes": classes,
        "transitions": transitions,
    }


def timescaledb_gb(tenant):
    rows = tenant["machines"] * tenant["readings_per_second"] * 86400 * tenant["timescaledb_retention_days"]
    return rows * tenant["timescaledb_bytes_per_row"] / GIB


def log_storage_gb(ingest_gb_month, retention_days, host, prices):
    kept_days = min(retention_days, host["s3_data_age_days"])
    return ingest_gb_month * kept_days / days_per_month(prices) * host["logs_stored_ratio"]


# ---------------------------------------------------------------------------------------------------------------
# Line items


def vpc_items(scope, host, prices, label):
    h = hours(prices)
    nat = host["nat_gateways"]
    endpoints = len(host["interface_endpoints"])
    azs = host["az_count"]
    items = []
    if nat:
        items.append(item(scope, "nat", "%s: %d NAT gateway(s)" % (label, nat), nat * h, "NAT gateway-hours",
                          prices["nat_gateway"]["hourly"]))
        items.append(item(scope, "nat", "%s: NAT data processed" % label, host["nat_data_gb_per_vpc_month"], "GB",
                          prices["nat_gateway"]["data_gb"]))
    if endpoints:
        items.append(item(scope, "vpc_endpoints", "%s: %d interface endpoints x %d AZs" % (label, endpoints, azs),
                          endpoints * azs * h, "endpoint-AZ-hours", prices["vpc_endpoint"]["interface_hourly_per_az"]))
        items.append(item(scope, "vpc_endpoints", "%s: endpoint data processed" % label,
                          host["endpoint_data_gb_per_vpc_month"], "GB", prices["vpc_endpoint"]["data_gb"]))
    flow = host["flow_log_gb_per_vpc_month"]
    cw = prices["cloudwatch"]
    items.append(item(scope, "cloudwatch", "%s: VPC flow logs ingested" % label, flow, "GB",
                      cw["vended_logs_ingest_gb"]))
    retention = host["flow_log_retention_days"]
    items.append(item(scope, "cloudwatch", "%s: VPC flow logs stored (%d days)" % (label, retention),
                      log_storage_gb(flow, host["flow_log_retention_days"], host, prices), "GB-months",
                      cw["logs_storage_gb_month"]))
    return items


def data_layer_items(scope, host, sizing, prices, label, machines_note=""):
    """RDS instance, MSK cluster, TimescaleDB service and what comes with them (shared layer or dedicated)."""
    h = hours(prices)
    rds = prices["rds_postgresql"]
    cw = prices["cloudwatch"]
    factor = rds["multi_az_factor"] if host["rds_multi_az"] else 1
    deployment = "Multi-AZ" if host["rds_multi_az"] else "Single-AZ"
    klass = sizing["rds_instance_class"]
    storage = sizing["rds_storage_gb"]
    items = [
        item(scope, "rds", "%s: %s %s%s" % (label, klass, deployment, machines_note), factor * h, "instance-hours",
             rds["instance_hourly"][klass]),
        item(scope, "rds", "%s: %d GB gp3 storage (%s)" % (label, storage, deployment), storage * factor, "GB-months",
             rds["storage_gb_month"]),
        item(scope, "rds", "%s: backups beyond the free allowance (%d days)"
             % (label, host["rds_backup_retention_days"]),
             storage * host["rds_backup_daily_change"] * host["rds_backup_retention_days"], "GB-months",
             rds["backup_gb_month"]),
    ]
    brokers = host["az_count"] * host["msk_brokers_per_az"]
    broker_type = sizing["msk_broker_type"]
    items += [
        item(scope, "msk", "%s: %d x %s brokers" % (label, brokers, broker_type), brokers * h, "broker-hours",
             prices["msk"]["broker_hourly"][broker_type]),
        item(scope, "msk", "%s: broker storage %d x %d GB" % (label, brokers, sizing["msk_storage_gb_per_broker"]),
             brokers * sizing["msk_storage_gb_per_broker"], "GB-months", prices["msk"]["storage_gb_month"]),
    ]
    plan = sizing["timescaledb_plan"]
    nodes = 1 + host["timescaledb_ha_replicas"]
    items.append(item(scope, "timescaledb", "%s: %s x %d node(s)%s" % (label, plan, nodes,
                                                                       " (primary + HA replica)" if nodes > 1 else ""),
                      nodes * h, "node-hours", prices["timescaledb"]["compute_hourly"][plan]))
    rds_logs = host["rds_log_gb_per_instance_month"]
    msk_logs = host["msk_log_gb_per_broker_month"] * brokers
    items += [
        item(scope, "cloudwatch", "%s: RDS + MSK broker logs ingested" % label, rds_logs + msk_logs, "GB",
             cw["logs_ingest_gb"]),
        item(scope, "cloudwatch", "%s: RDS + MSK broker logs stored (%d days)" % (label, host["log_retention_days"]),
             log_storage_gb(rds_logs + msk_logs, host["log_retention_days"], host, prices), "GB-months",
             cw["logs_storage_gb_month"]),
        item(scope, "cloudwatch", "%s: alarms on RDS and MSK" % label,
             host["alarm_metrics_per_database"] + brokers * host["alarm_metrics_per_msk_broker"], "alarm metrics",
             cw["alarm_metric_month"]),
        item(scope, "cloudwatch", "%s: dashboard" % label, 1, "dashboards", cw["dashboard_month"]),
        item(scope, "kms", "%s: KMS key" % label, 1, "keys", prices["kms"]["key_month"]),
        item(scope, "secrets_manager", "%s: data-store admin secrets" % label, host["secrets_per_data_layer"],
             "secrets", prices["secrets_manager"]["secret_month"]),
    ]
    return items


def tenant_items(tenant, prices):
    """What a tenant costs in either tier: its VPC, compute, API, its data (S3, TimescaleDB), logs, secrets."""
    scope = tenant["tenant_id"]
    cw = prices["cloudwatch"]
    items = vpc_items(scope, tenant, prices, "tenant VPC")
    readings = readings_per_month(tenant, prices)
    batches = readings / tenant["lambda_batch_size"]
    api = (tenant["machines"] * tenant["api_requests_per_machine_per_day"]
           + tenant["api_requests_per_tenant_per_day"]) * days_per_month(prices)
    gb_seconds = (batches * tenant["lambda_ms_per_batch"] + api * tenant["lambda_ms_per_api_request"]) / 1000 \
        * tenant["lambda_memory_mb"] / 1024
    lam = prices["lambda"]
    items += [
        item(scope, "lambda", "alert processor invocations (%d-reading batches + API)" % tenant["lambda_batch_size"],
             (batches + api) / 1e6, "million requests", lam["requests_per_million"]),
        item(scope, "lambda",
             "alert processor compute (%d MB, %s)" % (tenant["lambda_memory_mb"], tenant["lambda_architecture"]),
             gb_seconds, "GB-seconds", lam["gb_second"][tenant["lambda_architecture"]]),
        item(scope, "api_gateway", "REST API requests", api / 1e6, "million requests",
             prices["api_gateway"]["rest_requests_per_million"]),
    ]
    profile = s3_profile(tenant, prices)
    s3 = prices["s3"]
    for klass in S3_CLASSES:
        if klass in profile["classes"]:
            items.append(item(scope, "s3", "data lake %s" % klass, profile["classes"][klass]["gb"], "GB-months",
                              s3["storage_gb_month"][klass]))
    for klass, overhead in sorted((s3.get("archive_overhead_kb") or {}).items()):
        if klass in profile["classes"]:
            objects = profile["classes"][klass]["objects"]
            items.append(item(scope, "s3", "%s per-object overhead (%d KB)" % (klass, overhead["class_kb"]),
                              objects * overhead["class_kb"] / 1024 ** 2, "GB-months", s3["storage_gb_month"][klass]))
            items.append(item(scope, "s3", "%s per-object index (%d KB, STANDARD)" % (klass, overhead["standard_kb"]),
                              objects * overhead["standard_kb"] / 1024 ** 2, "GB-months",
                              s3["storage_gb_month"]["STANDARD"]))
    items.append(item(scope, "s3", "PUT requests", profile["objects_per_month"] / 1000, "thousand requests",
                      s3["put_per_1000"]))
    for klass in S3_CLASSES:
        if klass in profile["transitions"]:
            items.append(item(scope, "s3", "lifecycle transitions to %s" % klass, profile["transitions"][klass] / 1000,
                              "thousand requests", s3["transition_per_1000"][klass]))
    items.append(item(scope, "timescaledb",
                      "time-series storage (%d days retained)" % tenant["timescaledb_retention_days"],
                      timescaledb_gb(tenant), "GB-months", prices["timescaledb"]["storage_gb_month"]))
    invocations = batches + api
    app_logs = (invocations * tenant["lambda_log_bytes_per_invocation"]
                + api * tenant["api_log_bytes_per_request"]) / GIB
    items += [
        item(scope, "cloudwatch", "Lambda + API access logs ingested", app_logs, "GB", cw["logs_ingest_gb"]),
        item(scope, "cloudwatch", "Lambda + API access logs stored (%d days)" % tenant["log_retention_days"],
             log_storage_gb(app_logs, tenant["log_retention_days"], tenant, prices), "GB-months",
             cw["logs_storage_gb_month"]),
        item(scope, "cloudwatch", "custom metrics (alert processor)", tenant["custom_metrics_per_tenant"], "metrics",
             cw["custom_metric_month"]),
        item(scope, "cloudwatch", "alarms (Lambda, API Gateway, processor)", tenant["alarm_metrics_per_tenant"],
             "alarm metrics", cw["alarm_metric_month"]),
        item(scope, "kms", "KMS requests", tenant["kms_requests_per_tenant_month"] / 10000, "10k requests",
             prices["kms"]["requests_per_10000"]),
        item(scope, "secrets_manager", "tenant database credentials", tenant["secrets_per_tenant"], "secrets",
             prices["secrets_manager"]["secret_month"]),
        item(scope, "secrets_manager", "secret reads", tenant["secret_api_calls_per_tenant_month"] / 10000,
             "10k API calls", prices["secrets_manager"]["api_calls_per_10000"]),
    ]
    return items


def dedicated_sizing(tenant, shared):
    """Sizing of a tenant's own data stores: explicit overrides, else the right-sizing ladder by machines.

    A tenant whose ``databases_instance_class`` differs from the shared layer's has set it for itself: that is
    the class of its own instance.
    """
    ladder = tenant["dedicated_sizes"]
    step = next((s for s in ladder if tenant["machines"] <= s["max_machines"]), ladder[-1])
    sizing = {key: step[key] for key in LADDER_FIELDS}
    sizing["ladder_step"] = step["max_machines"]
    if tenant["rds_instance_class"] != shared["rds_instance_class"]:
        sizing["rds_instance_class"] = tenant["rds_instance_class"]
    for key in ("rds_instance_class", "msk_broker_type", "timescaledb_plan"):
        if tenant.get("dedicated_" + key):
            sizing[key] = tenant["dedicated_" + key]
    return sizing


def break_even_tenants(shared_total, dedicated_extra):
    """Smallest number N of equally sized shared-tier tenants for which a tenant's 1/N of the shared layer costs
    less than the data stores it would run as a dedicated tenant (None: never, e.g. nothing dedicated to save)."""
    if dedicated_extra <= 0:
        return None
    return max(1, math.floor(shared_total / dedicated_extra) + 1)


def shared_sizing(shared):
    return {
        "rds_instance_class": shared["rds_instance_class"],
        "rds_storage_gb": shared["rds_storage_gb"],
        "msk_broker_type": shared["msk_broker_type"],
        "msk_storage_gb_per_broker": shared["msk_storage_gb_per_broker"],
        "timescaledb_plan": shared["timescaledb_plan"],
    }


# ---------------------------------------------------------------------------------------------------------------
# The estimate


def _split_hosts(hosts, prices):
    problems = []
    if not isinstance(hosts, list) or not all(isinstance(h, dict) for h in hosts):
        raise CostModelError(["inputs: (root): must be a list of host mappings"])
    problems += validate_prices(prices)
    if problems:
        raise CostModelError(problems)
    shared = [h for h in hosts if h.get("shared_layer")]
    tenants = [h for h in hosts if not h.get("shared_layer") and h.get("is_tenant")]
    if len(shared) != 1:
        problems.append("inventory: platform_shared: needs exactly one shared-layer host, found %d" % len(shared))
    if not tenants:
        problems.append("inventory: tenants: the fleet has no tenant")
    for host in shared + tenants:
        problems += validate_host(host, prices)
    ids = [t.get("tenant_id") for t in tenants]
    for tenant_id in sorted({i for i in ids if ids.count(i) > 1 and i}):
        problems.append("inventory: tenant_id: %r is used by more than one host" % tenant_id)
    if problems:
        raise CostModelError(problems)
    return shared[0], sorted(tenants, key=lambda t: t["tenant_id"])


def _scaled(amounts, share):
    return {k: cents(v * share) for k, v in amounts.items()}


def _add(*dicts):
    out = dict.fromkeys(SERVICE_KEYS, 0.0)
    for d in dicts:
        for k, v in d.items():
            out[k] = cents(out[k] + v)
    return out


def estimate(hosts, prices, env, reference=None):
    """The cost report data of environment ``env`` (see module docstring and docs/cost.md)."""
    shared, tenants = _split_hosts(hosts, prices)
    reference = reference or {}
    base_sizing = shared_sizing(shared)
    shared_items = vpc_items("shared", shared, prices, "shared data VPC")
    shared_items += data_layer_items("shared", shared, base_sizing, prices, "shared")
    shared_by_service = by_service(shared_items)
    shared_total = total(shared_by_service)

    shared_tenants = [t for t in tenants if t["tier"] == "shared"]
    shared_machines = sum(t["machines"] for t in shared_tenants)
    # The shared layer, service by service, split over the shared-tier tenants by machines (exact cents).
    allocation = {t["tenant_id"]: dict.fromkeys(SERVICE_KEYS, 0.0) for t in tenants}
    for service in SERVICE_KEYS:
        parts = allocate(shared_by_service[service], [t["machines"] for t in shared_tenants])
        for tenant, part in zip(shared_tenants, parts, strict=True):
            allocation[tenant["tenant_id"]][service] = part

    line_items = list(shared_items)
    rows = []
    for tenant in tenants:
        tid = tenant["tenant_id"]
        common = tenant_items(tenant, prices)
        sizing = dedicated_sizing(tenant, shared)
        own_data = data_layer_items(tid, tenant, sizing, prices, "dedicated")
        common_by_service = by_service(common)
        extra_by_service = by_service(own_data)
        dedicated_by_service = _add(common_by_service, extra_by_service)
        # As a shared-tier tenant it would carry its machines' part of the shared layer (joining the pool).
        pool = shared_machines + (0 if tenant["tier"] == "shared" else tenant["machines"])
        if tenant["tier"] == "shared":
            shared_part = allocation[tid]
        else:
            shared_part = _scaled(shared_by_service, tenant["machines"] / pool)
        shared_by_tenant = _add(common_by_service, shared_part)
        own_items = common + (own_data if tenant["tier"] == "dedicated" else [])
        line_items += own_items
        own = by_service(own_items)
        allocated = allocation[tid]
        amount = _add(own, allocated)
        if_shared, if_dedicated = total(shared_by_tenant), total(dedicated_by_service)
        profile = s3_profile(tenant, prices)
        rows.append({
            "tenant_id": tid,
            "host": tenant["host"],
            "display_name": tenant.get("display_name") or tid,
            "tier": tenant["tier"],
            "machines": tenant["machines"],
            "common_by_service": common_by_service,
            "dedicated_extra_by_service": extra_by_service,
            "own_by_service": own,
            "own_total": total(own),
            "shared_share_by_service": allocated,
            "shared_share": total(allocated),
            "by_service": amount,
            "total": total(amount),
            "per_machine": cents(total(amount) / tenant["machines"]),
            "if_shared": {"by_service": shared_by_tenant, "total": if_shared},
            "if_dedicated": {"by_service": dedicated_by_service, "total": if_dedicated,
                             "sizing": sizing},
            "cheaper_tier": "shared" if if_shared <= if_dedicated else "dedicated",
            "break_even_tenants": break_even_tenants(shared_total, total(extra_by_service)),
            "dedicated_premium": cents(if_dedicated - if_shared),
            "shared_savings_pct": round(100 * (1 - if_shared / if_dedicated), 1) if if_dedicated else 0.0,
            "s3": {
                "gb_per_month": round(profile["gb_per_month"], 3),
                "classes": {k: round(v["gb"], 3) for k, v in profile["classes"].items()},
                "transitions": [dict(t) for t in tenant["s3_transitions"]],
                "data_age_days": tenant["s3_data_age_days"],
            },
            "timescaledb_gb": round(timescaledb_gb(tenant), 3),
        })

    fleet_by_service = _add(shared_by_service, *(r["own_by_service"] for r in rows))
    fleet_total = total(fleet_by_service)
    machines = sum(r["machines"] for r in rows)
    unallocated = shared_total if not shared_tenants else 0.0
    report = {
        "env": env,
        "prices": {k: prices["meta"].get(k)
                   for k in ("as_of", "region", "currency", "status", "source", "hours_per_month")},
        "services": [{"key": k, "label": v} for k, v in SERVICES],
        "shared_layer": {
            "host": shared["host"],
            "by_service": shared_by_service,
            "total": shared_total,
            "sizing": dict(base_sizing, rds_multi_az=shared["rds_multi_az"], az_count=shared["az_count"],
                           nat_gateways=shared["nat_gateways"],
                           msk_brokers=shared["az_count"] * shared["msk_brokers_per_az"],
                           timescaledb_nodes=1 + shared["timescaledb_ha_replicas"]),
            "allocated_to": [t["tenant_id"] for t in shared_tenants],
            "unallocated": unallocated,
        },
        "tenants": rows,
        "by_service": fleet_by_service,
        "total": fleet_total,
        "machines": machines,
        "per_machine": cents(fleet_total / machines) if machines else 0.0,
        "line_items": [asdict(line) for line in line_items],
        "assumptions": {field: shared[field] for field, _k, _l, _h in NUMBER_FIELDS
                        if field not in ("az_count", "nat_gateways", "rds_multi_az")},
    }
    report["assumptions"]["lambda_architecture"] = shared["lambda_architecture"]
    report["scenarios"] = _scenarios(shared_by_service, rows)
    report["savings"] = _savings(report["scenarios"], reference, len(rows))
    report["drivers"] = _drivers(line_items, fleet_by_service, fleet_total)
    report["reference"] = _reference(report, reference)
    return report


def _scenarios(shared_by_service, rows):
    """The fleet's tenants all on the shared tier, all dedicated, and all dedicated at the shared layer's size."""
    common = _add(*(r["common_by_service"] for r in rows))
    extra = _add(*(r["dedicated_extra_by_service"] for r in rows))
    all_shared = _add(common, shared_by_service)
    all_dedicated = _add(common, extra)
    # Like for like: every tenant with a data layer identical to the shared one (what "N instances instead of
    # one" means when nobody right-sizes).
    like = dict(all_dedicated)
    for service in DATA_STORE_SERVICES:
        like[service] = cents(common[service] + len(rows) * shared_by_service[service])
    return {
        "all_shared": {"by_service": all_shared, "total": total(all_shared)},
        "all_dedicated": {"by_service": all_dedicated, "total": total(all_dedicated)},
        "all_dedicated_like_for_like": {"by_service": like, "total": total(like)},
    }


def _savings(scenarios, reference, tenant_count):
    seed = (reference or {}).get("savings") or {}
    out = []
    for name, service in SEED_SAVINGS_SERVICES + (("timescaledb", "timescaledb"),):
        shared = scenarios["all_shared"]["by_service"][service]
        dedicated = scenarios["all_dedicated"]["by_service"][service]
        like = scenarios["all_dedicated_like_for_like"]["by_service"][service]
        out.append({
            "claim": name,
            "service": service,
            "label": SERVICE_LABELS[service],
            "all_shared": shared,
            "all_dedicated": dedicated,
            "all_dedicated_like_for_like": like,
            "savings_pct": round(100 * (1 - shared / dedicated), 1) if dedicated else 0.0,
            "like_for_like_pct": round(100 * (1 - shared / like), 1) if like else 0.0,
            "naive_pct": round(100 * (1 - 1 / tenant_count), 1) if tenant_count else 0.0,
            "seed_claim_pct": round(100 * seed[name], 1) if name in seed else None,
        })
    overall_shared = scenarios["all_shared"]["total"]
    overall_dedicated = scenarios["all_dedicated"]["total"]
    out.append({
        "claim": "total",
        "service": "total",
        "label": "Whole platform",
        "all_shared": overall_shared,
        "all_dedicated": overall_dedicated,
        "all_dedicated_like_for_like": scenarios["all_dedicated_like_for_like"]["total"],
        "savings_pct": round(100 * (1 - overall_shared / overall_dedicated), 1) if overall_dedicated else 0.0,
        "like_for_like_pct": round(100 * (1 - overall_shared / scenarios["all_dedicated_like_for_like"]["total"]), 1),
        "naive_pct": None,
        "seed_claim_pct": None,
    })
    return out


def _drivers(line_items, fleet_by_service, fleet_total):
    """The services sorted by cost with their share of the total, and the five largest line items."""
    ranked = sorted(SERVICE_KEYS, key=lambda s: (-fleet_by_service[s], s))
    services = [{"service": s, "label": SERVICE_LABELS[s], "monthly": fleet_by_service[s],
                 "share_pct": round(100 * fleet_by_service[s] / fleet_total, 1) if fleet_total else 0.0}
                for s in ranked]
    # Items of the same kind across scopes (e.g. every VPC's NAT gateways) are grouped by their text.
    grouped = {}
    for line in line_items:
        key = (line.service, line.item.split(": ", 1)[-1] if ": " in line.item else line.item)
        grouped[key] = cents(grouped.get(key, 0.0) + line.monthly)
    top = sorted(grouped.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    return {"services": services,
            "top_items": [{"service": s, "item": what, "monthly": amount} for (s, what), amount in top]}


def _reference(report, reference):
    """Compare with the seed's figure when this is the reference environment."""
    if not reference:
        return None
    expected = reference.get("monthly_usd")
    tolerance = reference.get("tolerance", 0.15)
    budget = reference.get("budget_monthly_usd")
    fleet = reference.get("fleet") or {}
    tenants = report["tenants"]
    fleet_matches = bool(fleet) and (
        len(tenants) == fleet.get("tenants")
        and all(t["machines"] == fleet.get("machines_per_tenant") for t in tenants)
        and sum(t["tier"] == "dedicated" for t in tenants) == fleet.get("dedicated"))
    out = {
        "env": reference.get("env"),
        "applies": report["env"] == reference.get("env"),
        "fleet_matches": fleet_matches,
        "expected": expected,
        "tolerance_pct": round(100 * tolerance, 1),
        "budget": budget,
        "budget_used_pct": round(100 * report["total"] / budget, 1) if budget else None,
        "budget_headroom": cents(budget - report["total"]) if budget else None,
    }
    if expected:
        out["delta"] = cents(report["total"] - expected)
        out["delta_pct"] = round(100 * (report["total"] - expected) / expected, 1)
        out["within_tolerance"] = abs(report["total"] - expected) <= tolerance * expected
    return out
