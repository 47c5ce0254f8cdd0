# -*- coding: utf-8 -*-
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The CIDR plan of the platform's VPCs (pure functions, no AWS, unit tested).

Every VPC's CIDR is either explicit (``network_vpc_cidr`` on the tenant, ``network_shared_vpc_cidr`` for the
shared layer) or derived from the tenant id alone: ``sha256(tenant_id)`` picks a slot of the pool. The
allocation depends on nothing but the tenant's own id, so it never shifts when tenants come and go;
collisions are possible and are rejected by preflight (set an explicit CIDR for one of the two tenants).

Inside a VPC of prefix length N the plan is fixed::

    quarter 0 (/N+2)  public tier    one /N+4 per AZ (AZ index 0..3)
    quarter 1 (/N+2)  private tier   (Lambda, interface endpoints)
    quarter 2 (/N+2)  isolated tier  (data stores; no default route)
    quarter 3 (/N+2)  reserved

Each tier is one contiguous block, so a peering route to "the data subnets" of a VPC is a single route,
whatever the AZ count.
"""

from __future__ import annotations

import hashlib
import ipaddress

TIERS = ("public", "private", "isolated")
MAX_AZ_COUNT = 4
MIN_VPC_PREFIX = 16  # AWS: a VPC is /16 .. /28
MAX_VPC_PREFIX = 24  # the plan needs a /N+4 subnet per AZ and AWS subnets are at most /28


class CidrError(ValueError):
    """A CIDR that cannot be used (malformed, host bits set, wrong size)."""


def parse_vpc_cidr(value):
    """Parse ``value`` as a VPC CIDR; raise CidrError with a readable reason."""
    if not isinstance(value, str) or not value.strip():
        raise CidrError("%r is not a CIDR (expected e.g. 10.1.0.0/20)" % (value,))
    text = value.strip()
    if "/" not in text:
        raise CidrError("%r has no prefix length (expected e.g. 10.1.0.0/20)" % (value,))
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        raise CidrError("%r is malformed: %s" % (value, exc)) from None
    if network.version != 4:
        raise CidrError("%r is not an IPv4 CIDR" % (value,))
    if str(network) != text:
        raise CidrError("%r has host bits set (the network is %s)" % (value, network))
    if not MIN_VPC_PREFIX <= network.prefixlen <= MAX_VPC_PREFIX:
        raise CidrError("%r: the prefix length must be /%d to /%d" % (value, MIN_VPC_PREFIX, MAX_VPC_PREFIX))
    return network


def parse_supernet(value):
    try:
        return ipaddress.ip_network(str(value).strip(), strict=True)
    except ValueError as exc:
        raise CidrError("%r is not a network: %s" % (value, exc)) from None


def pool_cidr(tenant_id, pool, prefix):
    """The CIDR derived from ``tenant_id``: a slot of ``pool`` (a network) of size ``/prefix``."""
    pool_net = parse_supernet(pool)
    prefix = int(prefix)
    if not pool_net.prefixlen <= prefix <= MAX_VPC_PREFIX or prefix < MIN_VPC_PREFIX:
        raise CidrError("pool %s cannot hold /%d VPCs" % (pool_net, prefix))
    slots = 1 << (prefix - pool_net.prefixlen)
    digest = hashlib.sha256(str(tenant_id).encode("utf-8")).digest()
    slot = int.from_bytes(digest[:8], "big") % slots
    base = int(pool_net.network_address) + slot * (1 << (32 - prefix))
    return str(ipaddress.ip_network((base, prefix)))


def effective_cidr(explicit, tenant_id, pool, prefix):
    """``explicit`` when set, else the pool slot of ``tenant_id``."""
    if explicit not in (None, ""):
        return str(explicit).strip()
    return pool_cidr(tenant_id, pool, prefix)


def tier_block(cidr, tier):
    """The contiguous block (a quarter of the VPC) holding every subnet of ``tier``."""
    network = parse_vpc_cidr(cidr) if isinstance(cidr, str) else cidr
    return str(list(network.subnets(prefixlen_diff=2))[TIERS.index(tier)])


def subnet_plan(cidr, az_count):
    """``{tier: [subnet CIDR of AZ 0, AZ 1, ...]}`` plus ``blocks: {tier: block}``."""
    network = parse_vpc_cidr(cidr)
    az_count = int(az_count)
    if not 1 <= az_count <= MAX_AZ_COUNT:
        raise CidrError("the plan supports 1 to %d AZs, not %d" % (MAX_AZ_COUNT, az_count))
    quarters = list(network.subnets(prefixlen_diff=2))
    plan = {"blocks": {}}
    for index, tier in enumerate(TIERS):
        plan["blocks"][tier] = str(quarters[index])
        plan[tier] = [str(s) for s in list(quarters[index].subnets(prefixlen_diff=2))[:az_count]]
    return plan


def overlaps(a, b):
    return ipaddress.ip_network(a).overlaps(ipaddress.ip_network(b))


def inside_any(cidr, supernets):
    network = ipaddress.ip_network(cidr)
    return any(network.subnet_of(parse_supernet(s)) for s in supernets)


def find_overlaps(named_cidrs):
    """``named_cidrs``: list of (name, cidr). Returns [(name_a, cidr_a, name_b, cidr_b)] for each overlapping pair."""
    items = sorted(named_cidrs, key=lambda item: (int(ipaddress.ip_network(item[1]).network_address), item[0]))
    result = []
    for i, (name_a, cidr_a) in enumerate(items):
        net_a = ipaddress.ip_network(cidr_a)
        for name_b, cidr_b in items[i + 1 :]:
            net_b = ipaddress.ip_network(cidr_b)
            if net_b.network_address > net_a.broadcast_address:
                break  # sorted by start: nothing further can overlap a
            result.append((name_a, cidr_a, name_b, cidr_b))
    return result


def collapse(cidrs):
    """Collapse a list of CIDRs into the fewest covering networks (as strings, sorted)."""
    return [str(n) for n in ipaddress.collapse_addresses(ipaddress.ip_network(c) for c in cidrs)]
