# -*- coding: utf-8 -*-
# Copyright: contributors to manufacturing.platform
# Apache License 2.0 (see LICENSE)
"""Fleet-wide preflight checks of the databases role (loaded by fleet.role_checks).

Pure data: instance classes RDS PostgreSQL offers, a resolvable instance class for every dedicated tenant
(an explicit ``databases_dedicated_instance_class`` or a ``databases_dedicated_sizing`` step covering its
``tenant_machines``), the TimescaleDB retention: a PostgreSQL interval of at least one day, and TLS towards
TimescaleDB: outside env=local only ``verify-full`` with a CA (``databases_timescale_ca_cert``).
"""

from __future__ import annotations

import re

from ansible_collections.manufacturing.platform.plugins.module_utils.rds_postgres import (
    instance_class_problem,
    resolve_instance_class,
    sizing_problems,
)
from ansible_collections.manufacturing.platform.plugins.plugin_utils.fleet import PreflightError, collapse

VARS = (
    "databases_instance_class",
    "databases_dedicated_instance_class",
    "databases_dedicated_sizing",
    "databases_timescale_retention",
    "databases_timescale_schedule_interval",
    "databases_timescale_ssl_mode",
    "databases_timescale_ca_cert",
)

# Seconds per unit, as PostgreSQL orders intervals (a month is 30 days, a year 360 days + ... : 12 months).
_UNITS = {
    "microsecond": 1e-6, "microseconds": 1e-6, "us": 1e-6, "usec": 1e-6, "usecs": 1e-6,
    "millisecond": 1e-3, "milliseconds": 1e-3, "ms": 1e-3, "msec": 1e-3, "msecs": 1e-3,
    "second": 1, "seconds": 1, "s": 1, "sec": 1, "secs": 1,
    "minute": 60, "minutes": 60, "m": 60, "min": 60, "mins": 60,
    "hour": 3600, "hours": 3600, "h": 3600, "hr": 3600, "hrs": 3600,
    "day": 86400, "days": 86400, "d": 86400,
    "week": 604800, "weeks": 604800, "w": 604800,
    "month": 2592000, "months": 2592000, "mon": 2592000, "mons": 2592000,
    "year": 31104000, "years": 31104000, "y": 31104000, "yr": 31104000, "yrs": 31104000,
}
_PAIR_RE = re.compile(r"([+-]?\d+(?:\.\d+)?)\s*([a-z]+)")
_ISO_RE = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
                     r"(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")
_CLOCK_RE = re.compile(r"^(\d+):(\d{2})(?::(\d{2}(?:\.\d+)?))?$")
DAY = 86400


def interval_seconds(value):
    """Seconds of a PostgreSQL interval literal (verbose units, ISO 8601 or hh:mm[:ss]); None if not one."""
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    if not text:
        return None
    iso = _ISO_RE.fullmatch(value.strip().upper())
    if iso and value.strip().upper() not in ("P", "PT"):
        y, mo, w, d, h, mi, s = (float(g) if g else 0.0 for g in iso.groups())
        return y * _UNITS["year"] + mo * _UNITS["month"] + w * _UNITS["week"] + d * DAY + h * 3600 + mi * 60 + s
    if text.startswith("@"):
        text = text[1:].strip()
    total, rest = 0.0, text
    clock = None
    parts = text.split()
    if parts and _CLOCK_RE.fullmatch(parts[-1]):
        clock = _CLOCK_RE.fullmatch(parts[-1])
        rest = " ".join(parts[:-1])
    position = 0
    for match in _PAIR_RE.finditer(rest):
        if rest[position:match.start()].strip():
            return None
        unit = _UNITS.get(match.group(2))
        if unit is None:
            return None
        total += float(match.group(1)) * unit
        position = match.end()
    if rest[position:].strip():
        return None
    if position == 0 and clock is None:
        return None
    if clock:
        total += int(clock.group(1)) * 3600 + int(clock.group(2)) * 60 + float(clock.group(3) or 0)
    return total


def retention_problem(value, minimum=DAY):
    seconds = interval_seconds(value)
    if seconds is None:
        return "%r is not a PostgreSQL interval (e.g. '30 days', '6 months', 'P30D')" % (value,)
    if seconds < minimum:
        return "%r is shorter than 1 day" % value
    return None


def check(env, hosts, tenants, shared):
    errors = []
    for host in sorted(hosts):
        hvars = hosts[host]
        is_tenant = host in tenants
        if not is_tenant and host not in shared:
            continue
        dedicated = is_tenant and hvars.get("tenancy_tier") == "dedicated"

        if not is_tenant or "databases_instance_class" in hvars and not dedicated:
            value = hvars.get("databases_instance_class")
            if value is not None:
                problem = instance_class_problem(value)
                if problem:
                    errors.append(PreflightError(host, "databases_instance_class", problem))

        if dedicated:
            explicit = hvars.get("databases_dedicated_instance_class") or ""
            ladder = hvars.get("databases_dedicated_sizing") or []
            if explicit:
                problem = instance_class_problem(explicit)
                if problem:
                    errors.append(PreflightError(host, "databases_dedicated_instance_class", problem))
            else:
                ladder_problems = sizing_problems(ladder)
                for field, problem in ladder_problems:
                    errors.append(PreflightError(host, field, problem))
                machines = hvars.get("tenant_machines")
                if not ladder_problems and isinstance(machines, int) and not isinstance(machines, bool) \
                        and resolve_instance_class("", machines, ladder) is None:
                    largest = max((s["max_machines"] for s in ladder), default=0)
                    errors.append(PreflightError(
                        host, "databases_dedicated_instance_class",
                        "dedicated tenant without sizing: no databases_dedicated_instance_class and no "
                        "databases_dedicated_sizing step covers %d machines (largest step: %d); set one" % (
                            machines, largest)))

        if env != "local":
            mode = hvars.get("databases_timescale_ssl_mode", "verify-full")
            if mode != "verify-full":
                errors.append(PreflightError(
                    host, "databases_timescale_ssl_mode",
                    "%r does not verify the TimescaleDB server: outside env=local only 'verify-full' is accepted"
                    % (mode,)))
            ca = hvars.get("databases_timescale_ca_cert", "system")
            if not isinstance(ca, str) or not ca.strip():
                errors.append(PreflightError(
                    host, "databases_timescale_ca_cert",
                    "empty: verify-full needs a CA ('system' for the OS trust store, or a PEM file)"))

        if is_tenant:
            if "databases_timescale_retention" in hvars:
                problem = retention_problem(hvars["databases_timescale_retention"])
                if problem:
                    errors.append(PreflightError(host, "databases_timescale_retention", problem))
            if "databases_timescale_schedule_interval" in hvars:
                value = hvars["databases_timescale_schedule_interval"]
                seconds = interval_seconds(value)
                if seconds is None or seconds <= 0:
                    errors.append(PreflightError(host, "databases_timescale_schedule_interval",
                                                 "%r is not a positive PostgreSQL interval" % (value,)))
    return collapse(errors, list(hosts))
