# -*- coding: utf-8 -*-
# Copyright: contributors to manufacturing.platform
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
name: shared_usage_items
short_description: Name the tenant each database, schema or topic of a shared resource belongs to
version_added: 0.1.0
description:
  - "Turns names found on a shared resource into items C({kind, name, tenant}) for the destroy guard
    (C(playbooks/destroy.yml)): C(tenant) is the tenant id the platform's naming gives the name, or C('') when the
    name does not follow it (something the platform did not make: it belongs to nobody the guard may ignore)."
  - "Naming: a tenant's PostgreSQL database and TimescaleDB schema are C(t_<tenant_id with - as _>) (tenant ids have
    no C(_)); its topics are C(<tenant_id>.<name>) (tenant ids have no C(.))."
  - "For O(kind=vpc) the input is the C(vpcs) of M(amazon.aws.ec2_vpc_net_info): only VPCs with a C(Tenant) tag are
    items (a tenant's VPC). For O(kind=peering) it is the C(vpc_peering_connections) of
    M(amazon.aws.ec2_vpc_peering_info): connections not deleted, rejected, failed or expired are items, their tenant
    the C(Tenant) tag of the requester VPC in O(vpcs)."
positional: kind
options:
  _input:
    description: The names (or VPCs, or peering connections).
    type: list
    elements: raw
    required: true
  kind:
    description: What the input is.
    type: str
    choices: [database, schema, topic, vpc, peering]
    required: true
  vpcs:
    description: With O(kind=peering), the VPCs that name the tenant of a requester VPC.
    type: list
    elements: dict
    default: []
"""

EXAMPLES = r"""
- name: Tenant databases on the shared instance
  ansible.builtin.set_fact:
    usage: "{{ ['t_customer_456', 'reporting'] | manufacturing.platform.shared_usage_items('database') }}"
    # [{kind: database, name: t_customer_456, tenant: customer-456}, {kind: database, name: reporting, tenant: ''}]
"""

RETURN = r"""
_value:
  description: One item per name, in the order given.
  type: list
  elements: dict
"""

import re

from ansible.errors import AnsibleFilterError

# A tenant id (DNS-safe: lowercase letters, digits, '-'), and the same with '_' for '-' (SQL names).
_TENANT_ID = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_SQL_TENANT_ID = r"[a-z0-9](?:[a-z0-9_]*[a-z0-9])?"
_RULES = {
    "database": re.compile(r"t_(" + _SQL_TENANT_ID + r")"),
    "schema": re.compile(r"t_(" + _SQL_TENANT_ID + r")"),
    "topic": re.compile(r"(" + _TENANT_ID + r")\..+"),
}


# Peering connections in these states are gone (or never were): they keep nothing in use.
_PEERING_GONE = frozenset(("deleted", "deleting", "rejected", "failed", "expired"))


def _tags(resource):
    tags = resource.get("tags") or {}
    if isinstance(tags, list):  # boto3 shape, if a caller did not snake-case
        tags = {t.get("Key"): t.get("Value") for t in tags}
    return tags


def shared_usage_items(names, kind, vpcs=None):
    if kind == "vpc":
        return [
            {"kind": "vpc", "name": "%s (%s)" % (v.get("vpc_id") or v.get("id"), _tags(v).get("Name", "")),
             "tenant": _tags(v)["Tenant"]}
            for v in names or []
            if _tags(v).get("Tenant")
        ]
    if kind == "peering":
        tenant_of = {v.get("vpc_id") or v.get("id"): _tags(v).get("Tenant", "") for v in vpcs or []}
        return [
            {"kind": "peering", "name": p.get("vpc_peering_connection_id", ""),
             "tenant": tenant_of.get((p.get("requester_vpc_info") or {}).get("vpc_id"), "")}
            for p in names or []
            if ((p.get("status") or {}).get("code") or "") not in _PEERING_GONE
        ]
    if kind not in _RULES:
        kinds = ", ".join(sorted(_RULES) + ["peering", "vpc"])
        raise AnsibleFilterError("shared_usage_items: kind must be one of %s, got %r" % (kinds, kind))
    items = []
    for name in names or []:
        found = _RULES[kind].fullmatch(str(name))
        tenant = found.group(1).replace("_", "-") if found else ""
        items.append({"kind": kind, "name": str(name), "tenant": tenant})
    return items


class FilterModule(object):
    def filters(self):
        return {"shared_usage_items": shared_usage_items}
