# -*- coding: utf-8 -*-
# Copyright: contributors to manufacturing.platform
# Apache License 2.0 (see LICENSE)
"""Fleet-wide preflight checks of the monitoring role (pure data; loaded by fleet.role_checks).

* ops contacts (``monitoring_ops_contacts``): e-mail addresses and https:// URLs, like tenant contacts;
* thresholds are numbers in range (percentages 0-100, ratios in (0, 1], durations > 0);
* alarm evaluation: datapoints_to_alarm between 1 and evaluation_periods, periods CloudWatch accepts;
* alarm routes name known alarms and only the ``ops`` / ``tenant`` topics;
* the budget is a positive amount; dashboard names use only letters, digits, '-' and '_';
* the PostgreSQL instance classes the connections alarm watches have a known memory size (or
  ``monitoring_rds_max_connections`` is set), so "near the instance's limit" is a real number.
"""

from __future__ import annotations

import numbers
import re

from ansible_collections.manufacturing.platform.plugins.plugin_utils.fleet import (
    EMAIL_RE,
    HTTPS_RE,
    PreflightError,
    collapse,
)

VARS = (
    "platform_prefix",
    "tenant_id",
    "tenancy_tier",
    "tenant_machines",
    "monitoring_ops_contacts",
    "monitoring_lambda_p99_duration_ms",
    "monitoring_lambda_error_rate_percent",
    "monitoring_lambda_throttles",
    "monitoring_api_5xx_rate_percent",
    "monitoring_api_p99_latency_ms",
    "monitoring_processor_bad_records",
    "monitoring_processor_p99_latency_ms",
    "monitoring_rds_cpu_percent",
    "monitoring_rds_free_storage_ratio",
    "monitoring_rds_connections_ratio",
    "monitoring_rds_max_connections",
    "monitoring_rds_class_memory_gib",
    "monitoring_msk_disk_used_percent",
    "monitoring_alarm_period",
    "monitoring_alarm_evaluation_periods",
    "monitoring_alarm_datapoints_to_alarm",
    "monitoring_alarm_routes",
    "monitoring_budget_monthly_usd",
    "monitoring_env_dashboard_name",
    "monitoring_tenant_dashboard_name",
    "databases_instance_class",
    "databases_dedicated_instance_class",
    "databases_dedicated_sizing",
)
PERCENT_FIELDS = (
    "monitoring_lambda_error_rate_percent",
    "monitoring_api_5xx_rate_percent",
    "monitoring_rds_cpu_percent",
    "monitoring_msk_disk_used_percent",
)
RATIO_FIELDS = ("monitoring_rds_free_storage_ratio", "monitoring_rds_connections_ratio")
POSITIVE_FIELDS = (
    "monitoring_lambda_p99_duration_ms",
    "monitoring_api_p99_latency_ms",
    "monitoring_processor_p99_latency_ms",
)
NON_NEGATIVE_FIELDS = ("monitoring_lambda_throttles", "monitoring_processor_bad_records")
ALARMS = (
    "lambda_p99_duration",
    "lambda_error_rate",
    "lambda_throttles",
    "api_5xx_rate",
    "api_p99_latency",
    "processor_bad_records",
    "processor_p99_latency",
    "rds_cpu",
    "rds_free_storage",
    "rds_connections",
    "msk_disk_used",
)
ROUTES = ("ops", "tenant")
# CloudWatch periods: 10, 30 or a multiple of 60 seconds.
DASHBOARD_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
MAX_OPS_CONTACTS = 20


def _number(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Number):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)  # -e monitoring_...=5 arrives as a string
        except ValueError:
            return None
    return None


def contact_errors(host, contacts, field="monitoring_ops_contacts"):
    errors = []
    if contacts in (None, ""):
        return errors
    if not isinstance(contacts, (list, tuple)):
        return [PreflightError(host, field, "must be a list of {protocol, endpoint}")]
    if len(contacts) > MAX_OPS_CONTACTS:
        errors.append(PreflightError(host, field, "has %d entries; at most %d" % (len(contacts), MAX_OPS_CONTACTS)))
    for index, contact in enumerate(contacts):
        where = "%s[%d]" % (field, index)
        if not isinstance(contact, dict):
            errors.append(PreflightError(host, where, "must be a dict {protocol, endpoint}"))
            continue
        unknown = sorted(set(contact) - {"protocol", "endpoint"})
        if unknown:
            errors.append(PreflightError(host, where, "unknown keys %s" % ", ".join(unknown)))
        protocol, endpoint = contact.get("protocol"), contact.get("endpoint")
        if protocol not in ("email", "https"):
            errors.append(PreflightError(host, where + ".protocol", "%r is not email or https" % (protocol,)))
        elif not isinstance(endpoint, str):
            errors.append(PreflightError(host, where + ".endpoint", "is missing"))
        elif protocol == "email" and not EMAIL_RE.fullmatch(endpoint):
            errors.append(PreflightError(host, where + ".endpoint", "%r is not an e-mail address" % endpoint))
        elif protocol == "https" and not HTTPS_RE.fullmatch(endpoint):
            errors.append(PreflightError(host, where + ".endpoint", "%r is not an https:// URL" % endpoint))
    return errors


def threshold_errors(host, hvars):
    errors = []

    def bad(field, problem):
        errors.append(PreflightError(host, field, problem))

    for field in PERCENT_FIELDS + RATIO_FIELDS + POSITIVE_FIELDS + NON_NEGATIVE_FIELDS:
        if field not in hvars:
            continue
        value = _number(hvars[field])
        if value is None:
            bad(field, "%r is not a number" % (hvars[field],))
        elif field in PERCENT_FIELDS and not 0 < value <= 100:
            bad(field, "%s is not a percentage in (0, 100]" % hvars[field])
        elif field in RATIO_FIELDS and not 0 < value <= 1:
            bad(field, "%s is not a ratio in (0, 1]" % hvars[field])
        elif field in POSITIVE_FIELDS and value <= 0:
            bad(field, "%s must be greater than 0" % hvars[field])
        elif field in NON_NEGATIVE_FIELDS and value < 0:
            bad(field, "%s must not be negative" % hvars[field])
    period = _number(hvars.get("monitoring_alarm_period", 60))
    if period is None or not (period in (10, 30) or (period >= 60 and period % 60 == 0)):
        bad(
            "monitoring_alarm_period",
            "%r: CloudWatch takes 10, 30 or a multiple of 60 seconds" % (hvars.get("monitoring_alarm_period"),),
        )
    evaluation = _number(hvars.get("monitoring_alarm_evaluation_periods", 5))
    datapoints = _number(hvars.get("monitoring_alarm_datapoints_to_alarm", 3))
    if evaluation is None or evaluation < 1 or evaluation != int(evaluation):
        bad(
            "monitoring_alarm_evaluation_periods",
            "%r is not a whole number of at least 1" % (hvars.get("monitoring_alarm_evaluation_periods"),),
        )
    elif datapoints is None or not 1 <= datapoints <= evaluation or datapoints != int(datapoints):
        bad(
            "monitoring_alarm_datapoints_to_alarm",
            "%r must be a whole number between 1 and %d "
            "(monitoring_alarm_evaluation_periods)" % (hvars.get("monitoring_alarm_datapoints_to_alarm"), evaluation),
        )
    routes = hvars.get("monitoring_alarm_routes")
    if routes is not None:
        if not isinstance(routes, dict):
            bad("monitoring_alarm_routes", "must map alarm names to a list of ops/tenant")
        else:
            for alarm, targets in sorted(routes.items()):
                if alarm not in ALARMS:
                    bad("monitoring_alarm_routes." + str(alarm), "unknown alarm (known: %s)" % ", ".join(ALARMS))
                elif not isinstance(targets, (list, tuple)) or not set(targets) <= set(ROUTES):
                    bad("monitoring_alarm_routes." + alarm, "%r: a list of ops and/or tenant" % (targets,))
    return errors


def instance_classes(hvars, dedicated):
    """The PostgreSQL classes this host's connections alarm may watch."""
    if not dedicated:
        return [hvars.get("databases_instance_class")]
    explicit = hvars.get("databases_dedicated_instance_class")
    if explicit:
        return [explicit]
    sizing = hvars.get("databases_dedicated_sizing") or []
    machines = hvars.get("tenant_machines")
    classes = [
        step.get("instance_class")
        for step in sizing
        if isinstance(step, dict)
        and isinstance(machines, int)
        and isinstance(step.get("max_machines"), int)
        and step["max_machines"] >= machines
    ]
    return classes[:1]


def check(env, hosts, tenants, shared):
    errors = []
    for host in sorted(hosts):
        hvars = hosts[host]
        is_tenant, is_shared = host in tenants, host in shared
        if not (is_tenant or is_shared):
            continue
        if is_shared:
            errors.extend(contact_errors(host, hvars.get("monitoring_ops_contacts")))
            budget = hvars.get("monitoring_budget_monthly_usd")
            if budget is not None and (_number(budget) is None or _number(budget) <= 0):
                errors.append(
                    PreflightError(
                        host, "monitoring_budget_monthly_usd", "%r is not a positive amount (USD per month)" % (budget,)
                    )
                )
        errors.extend(threshold_errors(host, hvars))
        prefix = hvars.get("platform_prefix")
        dedicated = is_tenant and hvars.get("tenancy_tier") == "dedicated"
        for field in ("monitoring_env_dashboard_name", "monitoring_tenant_dashboard_name"):
            name = hvars.get(field)
            if field == "monitoring_tenant_dashboard_name" and not dedicated:
                continue
            if field == "monitoring_env_dashboard_name" and not is_shared:
                continue
            if name is None and isinstance(prefix, str):
                tenant_id = hvars.get("tenant_id") or ""
                name = prefix + ("-overview" if is_shared else "-" + str(tenant_id))
            if isinstance(name, str) and not DASHBOARD_RE.fullmatch(name):
                errors.append(
                    PreflightError(host, field, "dashboard name %r: only letters, digits, '-' and '_'" % name)
                )
        max_connections = _number(hvars.get("monitoring_rds_max_connections", 0)) or 0
        memory = hvars.get("monitoring_rds_class_memory_gib")
        if (is_shared or dedicated) and max_connections <= 0 and isinstance(memory, dict):
            for instance_class in instance_classes(hvars, dedicated):
                if instance_class and instance_class not in memory:
                    errors.append(
                        PreflightError(
                            host,
                            "monitoring_rds_class_memory_gib",
                            "no memory size for instance class %s: add it (GiB) or set monitoring_rds_max_connections"
                            % instance_class,
                        )
                    )
    return collapse(errors, list(hosts))
