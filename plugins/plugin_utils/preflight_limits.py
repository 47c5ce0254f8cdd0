# -*- coding: utf-8 -*-
# Copyright: contributors to manufacturing.platform
# Apache License 2.0 (see LICENSE)
"""AWS limits of the roles' sizing variables, and unknown role variables (part of the preflight filter pass).

``LIMITS`` is the one table of the numeric limits AWS (or the platform) puts on a role variable: every host's
value (inventory host vars, group_vars, extra vars) is checked against it, e.g.
``customer-789: databases_backup_retention_days: 40 is out of range 0-35``. Variables whose rules need more
than a range (lifecycle transitions, alarm periods, broker counts against AZs, topics, ...) are checked by the
role's own ``preflight_<role>.py``; ``CHECKED_BY_ROLE`` names them, and a unit test makes sure every numeric
option of every role's argument spec is in one of the two.

``unknown_var_errors`` reports a variable with a role prefix (``network_``, ..., ``platform_``) that no role
declares (argument specs of every entry point, defaults, vars) with a "did you mean" suggestion: a typo'd
``network_vpc_cidrr`` would otherwise be silently ignored and the tenant would get the default.
"""

from __future__ import annotations

import difflib
import functools
import numbers
from pathlib import Path

import yaml

from ansible_collections.manufacturing.platform.plugins.plugin_utils.fleet import PreflightError, collapse

ROOT = Path(__file__).resolve().parents[2]

# Retention values CloudWatch Logs accepts (PutRetentionPolicy retentionInDays).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
                      2922, 3288, 3653)
# RDS Performance Insights retention: 7 (free tier), or a number of months x 31, up to 731 (2 years).
PERFORMANCE_INSIGHTS_DAYS = (7,) + tuple(31 * months for months in range(1, 24)) + (731,)


def _int_range(low, high=None):
    return {"kind": "int", "min": low, "max": high}


def _number_range(low, high=None, low_exclusive=False):
    return {"kind": "number", "min": low, "max": high, "low_exclusive": low_exclusive}


def _one_of(values, what):
    return {"kind": "choice", "values": tuple(values), "what": what}


_LOG_RETENTION = _one_of(LOG_RETENTION_DAYS, "a retention CloudWatch Logs accepts")

LIMITS = {
    # platform (group_vars/all/platform.yml, env_<env>.yml): the default of every role's log retention
    "platform_log_retention_days": _LOG_RETENTION,
    # network
    "network_flow_log_retention_days": _LOG_RETENTION,
    "network_cidr_pool_prefix": _int_range(16, 28),  # VPC CIDR blocks are /16 to /28
    "network_wait_timeout": _int_range(1),
    "network_quota_read_attempts": _int_range(1, 20),
    # databases (RDS PostgreSQL, RDS Proxy, Secrets Manager)
    "databases_backup_retention_days": _int_range(0, 35),
    "databases_allocated_storage": _int_range(20, 65536),  # gp3
    "databases_max_allocated_storage": _int_range(20, 65536),
    "databases_performance_insights_retention_days": _one_of(
        PERFORMANCE_INSIGHTS_DAYS, "a Performance Insights retention (7, or a multiple of 31 up to 731)"),
    "databases_log_retention_days": _LOG_RETENTION,
    "databases_proxy_idle_client_timeout": _int_range(1, 28800),
    "databases_monitoring_interval": _one_of((0, 1, 5, 10, 15, 30, 60), "an Enhanced Monitoring interval"),
    "databases_tenant_connection_limit": _int_range(1),
    "databases_secret_recovery_window_days": _int_range(7, 30),
    "databases_wait_timeout": _int_range(1),
    # storage (KMS)
    "storage_kms_deletion_window_days": _int_range(7, 30),
    # streaming (MSK)
    "streaming_log_retention_days": _LOG_RETENTION,
    "streaming_wait_timeout": _int_range(1),
    # compute (Lambda, SQS, Lambda event source, API Gateway)
    "compute_memory_mb": _int_range(128, 10240),
    "compute_rotation_days": _int_range(1, 1000),
    "compute_waf_rate_limit": _int_range(100, 2000000000),
    "compute_rotation_memory_mb": _int_range(128, 10240),
    "compute_rotation_timeout_seconds": _int_range(1, 900),
    "compute_timeout_seconds": _int_range(1, 900),
    # MSK event source error handling: bounded on purpose (Lambda's -1, infinite, would let a bad batch block the
    # partition until its records expire)
    "compute_event_source_max_retries": _int_range(0, 10000),
    "compute_event_source_max_record_age_seconds": _int_range(60, 604800),
    "compute_event_source_min_pollers": _int_range(1, 200),
    "compute_event_source_max_pollers": _int_range(1, 2000),
    "compute_max_future_skew_seconds": _int_range(0, 86400),
    "compute_max_reading_age_seconds": _int_range(60, 316224000),
    "compute_reserved_concurrency": _int_range(0),
    "compute_log_retention_days": _LOG_RETENTION,
    "compute_rule_cache_ttl_seconds": _int_range(0),
    "compute_api_max_readings": _int_range(1),
    "compute_wait_timeout": _int_range(1),
    "compute_dlq_retention_seconds": _int_range(60, 1209600),
    "compute_batch_size": _int_range(1, 10000),
    "compute_batching_window_seconds": _int_range(0, 300),
    "compute_api_throttling_rate_limit": _number_range(0, low_exclusive=True),
    "compute_api_throttling_burst_limit": _int_range(1),
    "compute_api_quota_limit": _int_range(0),
    # monitoring (CloudWatch, Budgets, Cost Anomaly Detection)
    "monitoring_rds_max_connections": _int_range(0),
    "monitoring_cost_anomaly_threshold_usd": _number_range(0, low_exclusive=True),
}

# Numbers inside list or mapping variables: variable -> (suboption, limit) for a list of dicts, (None, limit) for
# the values of a mapping.
NESTED_LIMITS = {
    "monitoring_budget_notifications": ("threshold", _number_range(0, low_exclusive=True)),  # percent of the budget
    "network_data_ports": (None, _int_range(1, 65535)),  # TCP ports
}

# Numeric variables checked by a role's own preflight module (rules beyond a range), by module.
CHECKED_BY_ROLE = {
    "preflight_network": ("network_az_count", "network_nat_gateway_count"),
    "preflight_databases": ("databases_dedicated_sizing",),
    "preflight_storage": ("storage_noncurrent_version_expiration_days", "storage_abort_incomplete_multipart_days",
                          "storage_access_log_expiration_days", "storage_lifecycle_transitions"),
    "preflight_streaming": ("streaming_brokers_per_az", "streaming_broker_volume_size",
                            "streaming_topic_replication_factor", "streaming_topics", "streaming_topic_overrides"),
    "preflight_monitoring": (
        "monitoring_alarm_period", "monitoring_alarm_evaluation_periods", "monitoring_alarm_datapoints_to_alarm",
        "monitoring_lambda_p99_duration_ms", "monitoring_lambda_error_rate_percent", "monitoring_lambda_throttles",
        "monitoring_api_5xx_rate_percent", "monitoring_api_p99_latency_ms", "monitoring_processor_bad_records",
        "monitoring_processor_p99_latency_ms", "monitoring_rds_cpu_percent", "monitoring_rds_free_storage_ratio",
        "monitoring_rds_connections_ratio", "monitoring_msk_disk_used_percent", "monitoring_budget_monthly_usd"),
}

# Variables with a role prefix that are not role options: the platform's own settings (group_vars/all/platform.yml,
# group_vars/env_<env>.yml), documented in README.md and docs/inventory.md.
PLATFORM_VARS = frozenset({
    "platform_known_envs", "platform_name", "platform_prefix", "platform_aws_region", "platform_aws_account_id",
    "platform_aws_endpoint_url", "platform_aws_profile", "platform_aws_access_key", "platform_aws_secret_key",
    "platform_is_shared_layer", "platform_tags", "platform_tenant_tags", "platform_roles", "platform_project_dir",
    "platform_outputs_dir", "platform_output_facts", "platform_deletion_protection", "platform_log_retention_days",
    "platform_localcloud_dir", "platform_aws_max_attempts", "platform_aws_retry_mode",
})
ROLE_PREFIXES = ("network", "storage", "databases", "streaming", "compute", "monitoring")
CHECKED_PREFIXES = tuple(p + "_" for p in ROLE_PREFIXES) + ("platform_",)


def _load(path):
    try:
        return yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        return {}


@functools.lru_cache(maxsize=None)
def role_variables(role, root=ROOT):
    """Every variable the role declares: options of all its argument-spec entry points, defaults and vars."""
    base = Path(root) / "roles" / role
    names = set()
    specs = _load(base / "meta" / "argument_specs.yml").get("argument_specs") or {}
    for entry in specs.values():
        names.update((entry or {}).get("options") or {})
    names.update(_load(base / "defaults" / "main.yml"))
    names.update(_load(base / "vars" / "main.yml"))
    return frozenset(names)


def known_variables(roles, root=ROOT):
    known = set(PLATFORM_VARS)
    for role in roles:
        known.update(role_variables(role, root))
    return frozenset(known)


def _as_number(value, kind):
    """The value as int (kind int) or float; strings from -e are converted; None if it is not such a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if not isinstance(value, numbers.Real):
        return None
    if kind == "int":
        return int(value) if float(value).is_integer() else None
    return float(value)


def limit_problem(name, value):
    """The problem of ``value`` for variable ``name`` per ``LIMITS`` (None when it is fine or not limited)."""
    limit = LIMITS.get(name)
    if limit is None or value is None:
        return None
    return _problem(limit, value)


def _problem(limit, value):
    if limit["kind"] == "choice":
        number = _as_number(value, "int")
        if number not in limit["values"]:
            return "%r is not %s (%s)" % (value, limit["what"], ", ".join(str(v) for v in limit["values"]))
        return None
    number = _as_number(value, limit["kind"])
    if number is None:
        return "%r is not %s" % (value, "an integer" if limit["kind"] == "int" else "a number")
    low, high = limit["min"], limit["max"]
    too_low = number <= low if limit.get("low_exclusive") else number < low
    if too_low or (high is not None and number > high):
        shown = value if not isinstance(value, str) else value.strip()
        if high is not None:
            return "%s is out of range %s-%s" % (shown, low, high)
        return "%s is out of range: %s %s" % (shown, "greater than" if limit.get("low_exclusive") else "at least", low)
    return None


def _nested_errors(host, name, value):
    key, limit = NESTED_LIMITS[name]
    if key is None:
        items = [("%s.%s" % (name, k), v) for k, v in sorted(value.items(), key=str)] if isinstance(value, dict) else []
    else:
        items = [("%s[%d].%s" % (name, i, key), item.get(key)) for i, item in enumerate(value)
                 if isinstance(item, dict) and key in item] if isinstance(value, list) else []
    errors = []
    for field, item in items:  # the argument spec reports a variable of the wrong shape
        problem = _problem(limit, item)
        if problem:
            errors.append(PreflightError(host, field, problem))
    return errors


def _effective(hvars, defaults, name):
    value = hvars.get(name)
    return defaults.get(name) if value is None else value


# (low, high, role): high must not be below low (RDS storage autoscaling, Lambda event pollers); missing values come
# from the role's defaults.
ORDERED = (
    ("databases_allocated_storage", "databases_max_allocated_storage", "databases"),
    ("compute_event_source_min_pollers", "compute_event_source_max_pollers", "compute"),
)


@functools.lru_cache(maxsize=None)
def _role_defaults(role, root=ROOT):
    return _load(Path(root) / "roles" / role / "defaults" / "main.yml")


def host_limit_errors(host, hvars, defaults=None):
    """Range problems of one host's values (only the variables the host has; role defaults are unit tested)."""
    errors = [PreflightError(host, name, problem) for name in sorted(LIMITS) if name in hvars
              for problem in [limit_problem(name, hvars[name])] if problem]
    for name in sorted(NESTED_LIMITS):
        if hvars.get(name) is not None:
            errors.extend(_nested_errors(host, name, hvars[name]))
    bad = {e.field for e in errors}
    for low_name, high_name, role in ORDERED:
        if (low_name not in hvars and high_name not in hvars) or bad & {low_name, high_name}:
            continue
        role_defaults = _role_defaults(role) if defaults is None else defaults
        low = _as_number(_effective(hvars, role_defaults, low_name), "int")
        high = _as_number(_effective(hvars, role_defaults, high_name), "int")
        if low is not None and high is not None and high < low:
            errors.append(PreflightError(host, high_name, "%d is below %s (%d)" % (high, low_name, low)))
    return errors


def limit_errors(hosts):
    """Range problems of every host; the same problem on every host is reported once (group_vars)."""
    errors = []
    for host in sorted(hosts):
        errors.extend(host_limit_errors(host, hosts[host]))
    return collapse(errors, list(hosts))


def unknown_var_errors(host, names, known):
    """Variables of ``names`` with a checked prefix that are not in ``known``, with a suggestion."""
    errors = []
    for name in sorted(names):
        if not isinstance(name, str) or not name.startswith(CHECKED_PREFIXES) or name in known:
            continue
        prefix = name.split("_", 1)[0] + "_"
        candidates = sorted(k for k in known if k.startswith(prefix))
        close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.8)
        hint = ("; did you mean %s?" % close[0]) if close else ""
        errors.append(PreflightError(
            host, name, "unknown variable: not declared by any platform role or platform setting%s" % hint))
    return errors
