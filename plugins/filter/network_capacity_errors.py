# -*- coding: utf-8 -*-
# Copyright: contributors to manufacturing.platform
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
name: network_capacity_errors
short_description: Compare what the fleet's networks need with the region's AZs and the account's quotas
version_added: 1.0.0
description:
  - Returns the network preflight problems that need AWS data (from C(manufacturing.platform.network_capacity_info)),
    each naming the host or the environment, the field or the quota code, and the numbers.
  - An empty list means the converge fits.
positional: groups, env, capacity, overrides
options:
  _input:
    description: C(hostvars).
    type: dict
    required: true
  groups:
    description: C(groups).
    type: dict
    required: true
  env:
    description: The environment.
    type: str
    required: true
  capacity:
    description: The registered result of C(network_capacity_info).
    type: dict
    required: true
  overrides:
    description: C(network_quota_overrides) (quota code -> value).
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Network capacity problems
  ansible.builtin.set_fact:
    problems: >-
      {{ hostvars | manufacturing.platform.network_capacity_errors(groups, env, capacity, network_quota_overrides) }}
"""

RETURN = r"""
_value:
  description:
    - "Problems, sorted, each as C(<host or env>: <field>: <problem>)."
  type: list
  elements: str
"""

from ansible.errors import AnsibleError

from ansible_collections.manufacturing.platform.plugins.plugin_utils import preflight_network


def network_capacity_errors(hostvars, groups, env, capacity, overrides=None):
    hosts = {}
    for host in groups.get("all", []):
        values = {}
        for name in preflight_network.VARS:
            try:
                if name in hostvars[host]:
                    values[name] = hostvars[host][name]
            except AnsibleError:
                continue  # reported by fleet_errors
        hosts[host] = values
    defaults = preflight_network.role_defaults()
    plan = preflight_network.vpc_plan(hosts, groups.get("tenants", []), groups.get("platform_shared", []), defaults)
    endpoints = max(
        [
            len(h.get("network_interface_endpoints", defaults.get("network_interface_endpoints", [])))
            for h in hosts.values()
        ]
        or [0]
    )
    errors = preflight_network.capacity_errors(env, plan, capacity, overrides or {}, endpoints)
    return [str(e) for e in sorted(set(errors))]


class FilterModule(object):
    def filters(self):
        return {"network_capacity_errors": network_capacity_errors}
