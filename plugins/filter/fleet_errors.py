# -*- coding: utf-8 -*-
# Copyright: contributors to manufacturing.platform
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
name: fleet_errors
short_description: Validate the environment, every tenant and the role variables of every host (preflight)
version_added: 1.0.0
description:
  - Returns the list of preflight problems, each naming the host (or the environment) and the field.
  - An empty list means the inventory is fit to converge.
  - Used by C(playbooks/preflight.yml) before any mutating AWS call.
positional: groups, env, known_envs, role_specs
options:
  _input:
    description: C(hostvars).
    type: dict
    required: true
  groups:
    description: C(groups); tenants are the hosts of group C(tenants).
    type: dict
    required: true
  env:
    description: The C(env) extra var (may be undefined/None).
    type: str
  known_envs:
    description: Known environment names.
    type: list
    elements: str
    required: true
  role_specs:
    description: Role name -> the C(options) of the role's C(main) entry point argument spec.
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Collect preflight problems
  ansible.builtin.set_fact:
    problems: "{{ hostvars | manufacturing.platform.fleet_errors(groups, env | default(none), platform_known_envs) }}"
"""

RETURN = r"""
_value:
  description:
    - "Problems, sorted, each as C(<host>: <field>: <problem>); empty when all is well."
  type: list
  elements: str
"""

from ansible.errors import AnsibleError

from ansible_collections.manufacturing.platform.plugins.plugin_utils import fleet, preflight_limits


def _host_vars(hostvars, host, names):
    """Evaluate only the variables we check; a variable whose template fails becomes an error."""
    hvars = hostvars[host]
    values, errors = {}, []
    for name in names:
        if name not in hvars:
            continue
        try:
            values[name] = hvars[name]
        except AnsibleError as exc:  # an undefined variable inside a template, a bad lookup, ...
            errors.append(fleet.PreflightError(host, name, "cannot be evaluated: %s" % exc.message))
    return values, errors


def fleet_errors(hostvars, groups, env=None, known_envs=(), role_specs=None):
    role_specs = role_specs or {}
    errors = list(fleet.validate_env(env, list(known_envs)))
    if errors:
        return [str(e) for e in errors]  # without a valid env the group_vars are not the ones intended

    validators = fleet.role_validators(role_specs)
    checks = fleet.role_checks(list(role_specs))
    role_var_names = {name for options in role_specs.values() for name in (options or {})}
    role_var_names.update(name for check in checks for name in getattr(check, "VARS", ()))
    role_var_names.update(preflight_limits.LIMITS)
    # Without role specs there is nothing to tell a typo from a role variable.
    known = (preflight_limits.known_variables(sorted(set(role_specs) | set(preflight_limits.ROLE_PREFIXES)))
             if role_specs else None)
    hosts, tenants = {}, {}
    role_errors, unknown_errors = [], []
    all_hosts = list(groups.get("all", []))
    for host in all_hosts:
        names = list(hostvars[host])
        keys = [k for k in names if k.startswith(fleet.TENANT_FIELD_PREFIXES)]
        if known is not None:
            unknown_errors.extend(preflight_limits.unknown_var_errors(host, names, known))
        values, eval_errors = _host_vars(hostvars, host, set(keys) | role_var_names | {"platform_aws_account_id"})
        hosts[host] = values
        errors.extend(eval_errors)
        if host in groups.get("tenants", []):
            tenants[host] = values
            errors.extend(fleet.validate_tenant(host, values))
        role_errors.extend(fleet.validate_role_vars(host, values, role_specs, validators))
        role_errors.extend(fleet.validate_account(env, host, values))
    errors.extend(fleet.validate_fleet(tenants))
    shared = list(groups.get("platform_shared", []))
    for check in checks:
        errors.extend(check.check(env, hosts, list(tenants), shared))
    errors.extend(fleet.collapse(role_errors, all_hosts))
    errors.extend(fleet.collapse(unknown_errors, all_hosts))
    errors.extend(preflight_limits.limit_errors(hosts))
    return [str(e) for e in sorted(set(errors))]


class FilterModule(object):
    def filters(self):
        return {"fleet_errors": fleet_errors}
