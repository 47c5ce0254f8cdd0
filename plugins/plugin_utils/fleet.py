# -*- coding: utf-8 -*-
# Copyright: contributors to manufacturing.platform
# Apache License 2.0 (see LICENSE)
"""Validation of the environment, the tenant fleet and role variables (the preflight checks).

Pure functions over plain data so they can be unit tested without Ansible. Every error is a
``PreflightError`` that names the host (or the environment) and the field, so a careless edit of the
inventory is reported precisely before any AWS call is made.
"""

from __future__ import annotations

import difflib
import importlib
import re
from dataclasses import dataclass

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

TENANT_ID_RE = re.compile(r"^[a-z](?:[a-z0-9]|-(?!-)){1,30}[a-z0-9]$")
EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
HTTPS_RE = re.compile(r"^https://[A-Za-z0-9.-]+(?::\d{1,5})?(?:/[^\s]*)?$")

TIERS = ("shared", "dedicated")
ALERT_PROTOCOLS = ("email", "https")
MACHINES_RANGE = (1, 10000)
MAX_ALERT_CONTACTS = 20
MAX_DISPLAY_NAME = 64
# Names that would collide with the shared layer's resource names or read ambiguously in them.
RESERVED_TENANT_IDS = frozenset({"shared", "platform", "platform-shared", "admin", "root", "ops", "all", "default"})

# Fields a tenant host may carry. Anything else starting with these prefixes is a typo until proven otherwise.
TENANT_FIELDS = frozenset({
    "tenant_id", "tenancy_tier", "tenant_machines", "tenant_display_name", "tenant_alert_contacts",
})
TENANT_FIELD_PREFIXES = ("tenant_", "tenancy_")


@dataclass(frozen=True, order=True)
class PreflightError:
    """One problem: where it is (host or environment), which field, and what is wrong."""

    where: str
    field: str
    problem: str

    def __str__(self):
        return f"{self.where}: {self.field}: {self.problem}"


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def validate_env(env, known_envs):
    """The ``env`` extra var must be given and known."""
    if env is None or env == "":
        return [PreflightError("env", "env", "is required: run with -e env=<%s>" % "|".join(known_envs))]
    if not isinstance(env, str) or env not in known_envs:
        return [PreflightError("env", "env", "unknown environment %r; known: %s" % (env, ", ".join(known_envs)))]
    return []


# Environments on real AWS: each must be pinned to its account, so credentials of another account never converge.
ACCOUNT_REQUIRED_ENVS = ("dev", "prod")
ACCOUNT_ID_RE = re.compile(r"[0-9]{12}")


def validate_account(env, host, hvars):
    """``platform_aws_account_id``: 12 digits when set, and required for dev and prod."""
    account = hvars.get("platform_aws_account_id")
    account = "" if account is None else str(account)
    if account and not ACCOUNT_ID_RE.fullmatch(account):
        return [PreflightError(host, "platform_aws_account_id", "%r is not a 12-digit AWS account id" % account)]
    if not account and env in ACCOUNT_REQUIRED_ENVS:
        return [PreflightError(host, "platform_aws_account_id", "is required for env=%s: pin the environment to its "
                               "AWS account in group_vars/env_%s.yml" % (env, env))]
    return []


def validate_tenant(host, tvars):
    """Check one tenant host's own fields. ``tvars`` is a mapping of the host's variables."""
    errors = []

    def err(field, problem):
        errors.append(PreflightError(host, field, problem))

    for field in sorted(k for k in tvars if k.startswith(TENANT_FIELD_PREFIXES) and k not in TENANT_FIELDS):
        close = difflib.get_close_matches(field, sorted(TENANT_FIELDS), n=1, cutoff=0.8)
        hint = "; did you mean %s?" % close[0] if close else ""
        err(field, "unknown tenant field%s (known: %s)" % (hint, ", ".join(sorted(TENANT_FIELDS))))

    tenant_id = tvars.get("tenant_id")
    if tenant_id is None:
        err("tenant_id", "is required")
    elif not isinstance(tenant_id, str) or not TENANT_ID_RE.fullmatch(tenant_id):
        err("tenant_id", "%r is not a DNS-safe id: 3-32 characters, lowercase letters, digits and single "
            "hyphens, starting with a letter and not ending with a hyphen" % (tenant_id,))
    elif tenant_id in RESERVED_TENANT_IDS:
        err("tenant_id", "%r is reserved" % tenant_id)

    tier = tvars.get("tenancy_tier")
    if tier is None:
        err("tenancy_tier", "is required (one of: %s)" % ", ".join(TIERS))
    elif tier not in TIERS:
        err("tenancy_tier", "%r is not a known tier (one of: %s)" % (tier, ", ".join(TIERS)))

    machines = tvars.get("tenant_machines")
    if machines is None:
        err("tenant_machines", "is required (an integer from %d to %d)" % MACHINES_RANGE)
    elif not _is_int(machines):
        err("tenant_machines", "%r is not an integer" % (machines,))
    elif not MACHINES_RANGE[0] <= machines <= MACHINES_RANGE[1]:
        err("tenant_machines", "%d is out of range %d-%d" % ((machines,) + MACHINES_RANGE))

    name = tvars.get("tenant_display_name")
    if name is not None and (not isinstance(name, str) or not name.strip() or len(name) > MAX_DISPLAY_NAME):
        err("tenant_display_name", "must be a non-empty string of at most %d characters" % MAX_DISPLAY_NAME)

    contacts = tvars.get("tenant_alert_contacts", [])
    if contacts is None:
        contacts = []
    if not isinstance(contacts, (list, tuple)):
        err("tenant_alert_contacts", "must be a list of {protocol, endpoint}")
        contacts = []
    elif len(contacts) > MAX_ALERT_CONTACTS:
        err("tenant_alert_contacts", "has %d entries; at most %d" % (len(contacts), MAX_ALERT_CONTACTS))
    for index, contact in enumerate(contacts):
        field = "tenant_alert_contacts[%d]" % index
        if not isinstance(contact, dict):
            err(field, "must be a mapping with protocol and endpoint")
            continue
        unknown = sorted(set(contact) - {"protocol", "endpoint"})
        if unknown:
            err(field, "unknown keys: %s" % ", ".join(unknown))
        protocol = contact.get("protocol")
        endpoint = contact.get("endpoint")
        if protocol not in ALERT_PROTOCOLS:
            err(field + ".protocol", "%r is not one of: %s" % (protocol, ", ".join(ALERT_PROTOCOLS)))
        elif not isinstance(endpoint, str):
            err(field + ".endpoint", "is required")
        elif protocol == "email" and not EMAIL_RE.fullmatch(endpoint):
            err(field + ".endpoint", "%r is not an e-mail address" % endpoint)
        elif protocol == "https" and not HTTPS_RE.fullmatch(endpoint):
            err(field + ".endpoint", "%r is not an https:// URL" % endpoint)
    return errors


def validate_fleet(tenants):
    """Checks across tenants. ``tenants`` maps host name -> variables."""
    errors = []
    seen = {}
    for host in sorted(tenants):
        tenant_id = tenants[host].get("tenant_id")
        if not isinstance(tenant_id, str):
            continue
        key = tenant_id.strip().lower()  # "customer-1\n" is not a new tenant (the id check rejects it too)
        if key in seen:
            errors.append(PreflightError(host, "tenant_id", "%r is already used by host %s" % (tenant_id, seen[key])))
        else:
            seen[key] = host
    return errors


def plain(value):
    """``value`` as plain Python data (dict, list, str, int, float, bool, None).

    Values read from hostvars and role YAML are Ansible's lazy templating containers and tagged strings: correct,
    but copying them is slow (ArgumentSpecValidator deep-copies its spec and the parameters: with the lazy
    containers, preflight of a 4-host fleet spent ~20 s in copy.deepcopy). Anything else is returned unchanged.
    """
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return value


def role_validators(role_specs):
    """Role name -> (its option names, an ArgumentSpecValidator of its options as per-host checks), built once."""
    validators = {}
    for role in sorted(role_specs):
        options = plain(role_specs[role] or {})
        spec = {}
        for name, option in options.items():
            option = dict(option)
            option.pop("description", None)
            option.pop("required", None)  # presence of role-wide variables is not a per-host concern
            option.pop("default", None)
            if "options" in option:
                option["options"] = {k: {kk: vv for kk, vv in v.items() if kk != "description"}
                                     for k, v in option["options"].items()}
            spec[name] = option
        validators[role] = (list(options), ArgumentSpecValidator(spec))
    return validators


def validate_role_vars(host, hvars, role_specs, validators=None):
    """Validate the host's values of each role's variables against the role's argument spec.

    ``role_specs`` maps role name -> the ``options`` of its ``main`` entry point. Only variables the host
    actually has are checked (role defaults are the role's own business and covered by its tests).
    ``validators``: ``role_validators(role_specs)``, to build them once for many hosts.
    """
    errors = []
    validators = validators if validators is not None else role_validators(role_specs)
    for role in sorted(validators):
        names, validator = validators[role]
        provided = {name: plain(hvars[name]) for name in names if name in hvars}
        if not provided:
            continue
        result = validator.validate(provided)
        for error in result.errors:
            message = getattr(error, "message", str(error))
            field = next((name for name in provided if name in message), "role " + role)
            errors.append(PreflightError(host, field, "%s (role %s)" % (message, role)))
    return errors


def collapse(errors, hosts):
    """The same field/problem on every host comes from group_vars: report it once for the environment."""
    by_problem = {}
    for error in errors:
        by_problem.setdefault((error.field, error.problem), set()).add(error.where)
    result = []
    for (field, problem), wheres in by_problem.items():
        if len(hosts) > 1 and set(hosts) <= wheres:
            result.append(PreflightError("all hosts (group_vars)", field, problem))
        else:
            result.extend(PreflightError(where, field, problem) for where in wheres)
    return sorted(result)


def role_checks(roles):
    """Fleet-wide checks contributed by roles: ``plugin_utils/preflight_<role>.py`` modules.

    Each such module defines ``VARS`` (the variable names it needs evaluated on every host) and
    ``check(env, hosts, tenants, shared)`` returning PreflightErrors, where ``hosts`` maps host name to its
    evaluated variables and ``tenants`` / ``shared`` are the host names of those groups. A role without such a
    module simply contributes nothing.
    """
    checks = []
    for role in roles:
        name = "ansible_collections.manufacturing.platform.plugins.plugin_utils.preflight_%s" % role
        try:
            checks.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return checks
