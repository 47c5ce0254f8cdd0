# -*- coding: utf-8 -*-
# Copyright: contributors to manufacturing.platform
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
name: cost_estimate
short_description: Estimate the monthly AWS cost of an environment, per tenant and per service
version_added: 1.0.0
description:
  - Prices the platform's resources (RDS PostgreSQL, MSK, TimescaleDB, NAT gateways, VPC interface endpoints,
    Lambda, API Gateway, S3 by storage class, CloudWatch, KMS, Secrets Manager) from a dated price table and
    the sizing and usage assumptions of every inventory host.
  - The shared layer (the host of group C(platform_shared)) is split over the shared-tier tenants by machines;
    every tenant is also priced as a shared-tier and as a dedicated-tier tenant.
  - Pure arithmetic, no AWS call. The model is described in C(docs/cost.md).
positional: prices, env, reference
options:
  _input:
    description:
      - One C(cost_inputs) mapping per inventory host (see C(group_vars/all/cost.yml)), for example
        C(groups['all'] | map('extract', hostvars, 'cost_inputs') | list).
    type: list
    elements: dict
    required: true
  prices:
    description: The parsed price table (C(docs/pricing/*.yml)).
    type: dict
    required: true
  env:
    description: The environment name, copied into the result.
    type: str
    required: true
  reference:
    description:
      - The seed's figures to compare with (C(cost_reference)) - C(env), C(monthly_usd), C(tolerance),
        C(budget_monthly_usd), C(fleet), C(savings).
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Estimate the environment's monthly cost
  ansible.builtin.set_fact:
    estimate: >-
      {{ groups['all'] | map('extract', hostvars, 'cost_inputs') | list
         | manufacturing.platform.cost_estimate(lookup('ansible.builtin.file', cost_price_table) | from_yaml,
           env, cost_reference) }}
"""

RETURN = r"""
_value:
  description:
    - "The estimate: C(total), C(by_service), C(tenants) (each with C(own_by_service), C(shared_share),
      C(total), C(if_shared), C(if_dedicated)), C(shared_layer), C(scenarios), C(savings), C(reference),
      C(drivers), C(line_items) and the C(prices) metadata. Amounts are USD per month, rounded to cents."
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.manufacturing.platform.plugins.plugin_utils import cost_model


def cost_estimate(hosts, prices, env, reference=None):
    try:
        return cost_model.estimate(hosts, prices, env, reference or {})
    except cost_model.CostModelError as exc:
        raise AnsibleFilterError("cost_estimate: %d problem(s):\n%s"
                                 % (len(exc.problems), "\n".join("- " + p for p in exc.problems))) from exc


class FilterModule(object):
    def filters(self):
        return {"cost_estimate": cost_estimate}
