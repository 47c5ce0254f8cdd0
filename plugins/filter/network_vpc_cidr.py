# -*- coding: utf-8 -*-
# Copyright: contributors to manufacturing.platform
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
name: network_vpc_cidr
short_description: The VPC CIDR of a tenant - explicit, or derived from the tenant id alone
version_added: 1.0.0
description:
  - Returns O(explicit) when it is set, otherwise the slot of O(pool) (of size O(prefix)) picked by
    C(sha256(tenant_id)). The derived CIDR depends on nothing but the tenant id, so it never shifts when
    tenants are added or removed. Overlaps are rejected by the preflight play.
positional: explicit, pool, prefix
options:
  _input:
    description: The tenant id.
    type: str
    required: true
  explicit:
    description: The tenant's C(network_vpc_cidr) (empty for none).
    type: str
    default: ""
  pool:
    description: Network the derived CIDRs are taken from.
    type: str
    required: true
  prefix:
    description: Prefix length of a derived VPC CIDR.
    type: int
    required: true
"""

EXAMPLES = r"""
- name: CIDR of this tenant's VPC
  ansible.builtin.debug:
    msg: "{{ tenant_id | manufacturing.platform.network_vpc_cidr(network_vpc_cidr, '10.128.0.0/9', 20) }}"
"""

RETURN = r"""
_value:
  description: The VPC CIDR.
  type: str
  sample: 10.131.48.0/20
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.manufacturing.platform.plugins.module_utils import network_cidr


def network_vpc_cidr(tenant_id, explicit="", pool=None, prefix=None):
    try:
        return network_cidr.effective_cidr(explicit, tenant_id, pool, prefix)
    except network_cidr.CidrError as exc:
        raise AnsibleFilterError("network_vpc_cidr: %s" % exc) from exc


class FilterModule(object):
    def filters(self):
        return {"network_vpc_cidr": network_vpc_cidr}
