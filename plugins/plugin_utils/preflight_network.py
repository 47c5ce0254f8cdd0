# -*- coding: utf-8 -*-
# Copyright: contributors to manufacturing.platform
# Apache License 2.0 (see LICENSE)
"""Fleet-wide preflight checks of the network role (pure data; loaded by fleet.role_checks).

* every VPC CIDR is well formed, /16../24, inside ``network_allowed_supernets``;
* no two VPCs of the environment overlap (the message names both hosts);
* AZ count within the CIDR plan (1..4) and NAT gateway count within 0..AZ count.

Checks that need AWS (the region's AZs, Service Quotas) run in roles/network/tasks/preflight.yml through
``network_capacity_info`` and :func:`capacity_errors` below (still read-only).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from ansible_collections.manufacturing.platform.plugins.module_utils import network_cidr
from ansible_collections.manufacturing.platform.plugins.plugin_utils.fleet import PreflightError

VARS = (
    "tenant_id",
    "tenancy_tier",
    "network_state",
    "network_vpc_cidr",
    "network_shared_vpc_cidr",
    "network_cidr_pool",
    "network_cidr_pool_prefix",
    "network_allowed_supernets",
    "network_az_count",
    "network_nat_gateway_count",
    "network_interface_endpoints",
)

_DEFAULTS_FILE = Path(__file__).resolve().parents[2] / "roles" / "network" / "defaults" / "main.yml"


def role_defaults():
    """The role's literal defaults (the ones a host does not override), read from defaults/main.yml."""
    try:
        data = yaml.safe_load(_DEFAULTS_FILE.read_text()) or {}
    except OSError:
        data = {}
    return {k: v for k, v in data.items() if not (isinstance(v, str) and "{{" in v)}


def _value(hvars, defaults, name):
    value = hvars.get(name)
    value = defaults.get(name) if value is None else value
    if name in ("network_az_count", "network_nat_gateway_count", "network_cidr_pool_prefix") and isinstance(value, str):
        try:
            return int(value)  # -e network_az_count=3 arrives as a string
        except ValueError:
            return value
    return value


def vpc_plan(hosts, tenants, shared, defaults=None):
    """One dict per VPC of the fleet: host, field, cidr (or the CidrError), az_count, nat_count, tier, scope."""
    defaults = role_defaults() if defaults is None else defaults
    plan = []
    for host in list(shared) + list(tenants):
        hvars = hosts.get(host, {})
        if host in shared:
            field, explicit = "network_shared_vpc_cidr", _value(hvars, defaults, "network_shared_vpc_cidr")
        else:
            field, explicit = "network_vpc_cidr", _value(hvars, defaults, "network_vpc_cidr")
            if explicit in (None, ""):
                field = "network_vpc_cidr (derived from tenant_id)"
        try:
            if host in shared:
                cidr = network_cidr.parse_vpc_cidr(explicit)
            else:
                tenant_id = hvars.get("tenant_id") or host
                cidr = network_cidr.parse_vpc_cidr(
                    network_cidr.effective_cidr(
                        explicit,
                        tenant_id,
                        _value(hvars, defaults, "network_cidr_pool"),
                        _value(hvars, defaults, "network_cidr_pool_prefix"),
                    )
                )
            cidr = str(cidr)
        except network_cidr.CidrError as exc:
            cidr = exc
        plan.append(
            {
                "host": host,
                "field": field,
                "cidr": cidr,
                "az_count": _value(hvars, defaults, "network_az_count"),
                "nat_count": _value(hvars, defaults, "network_nat_gateway_count"),
                "tier": "shared-layer" if host in shared else hvars.get("tenancy_tier"),
                "scope": "shared" if host in shared else (hvars.get("tenant_id") or host),
            }
        )
    return plan


def check(env, hosts, tenants, shared):
    defaults = role_defaults()
    errors = []
    valid = []
    for item in vpc_plan(hosts, tenants, shared, defaults):
        host, field, cidr, az_count, nat_count = (item[k] for k in ("host", "field", "cidr", "az_count", "nat_count"))
        hvars = hosts.get(host, {})
        if isinstance(cidr, Exception):
            errors.append(PreflightError(host, field.split(" ")[0], str(cidr)))
        else:
            supernets = _value(hvars, defaults, "network_allowed_supernets") or []
            try:
                inside = network_cidr.inside_any(cidr, supernets)
            except network_cidr.CidrError as exc:
                errors.append(PreflightError(host, "network_allowed_supernets", str(exc)))
                inside = True
            if not inside:
                errors.append(
                    PreflightError(
                        host,
                        field.split(" ")[0],
                        "%s%s is outside the allowed supernets (%s)"
                        % (
                            cidr,
                            " (derived from tenant_id)" if "derived" in field else "",
                            ", ".join(map(str, supernets)) or "none",
                        ),
                    )
                )
            valid.append((host, field, cidr))
        if (
            not isinstance(az_count, int)
            or isinstance(az_count, bool)
            or not 1 <= az_count <= network_cidr.MAX_AZ_COUNT
        ):
            errors.append(
                PreflightError(
                    host,
                    "network_az_count",
                    "%r: the CIDR plan supports 1 to %d availability zones" % (az_count, network_cidr.MAX_AZ_COUNT),
                )
            )
        elif not isinstance(nat_count, int) or isinstance(nat_count, bool) or not 0 <= nat_count <= az_count:
            errors.append(
                PreflightError(
                    host, "network_nat_gateway_count", "%r: must be 0 to network_az_count (%d)" % (nat_count, az_count)
                )
            )
    fields = {host: field for host, field, _cidr in valid}
    for host_a, cidr_a, host_b, cidr_b in network_cidr.find_overlaps([(h, c) for h, _f, c in valid]):
        for me, mine, other, theirs in ((host_a, cidr_a, host_b, cidr_b), (host_b, cidr_b, host_a, cidr_a)):
            errors.append(
                PreflightError(
                    me,
                    fields[me].split(" ")[0],
                    "%s overlaps %s of %s (%s): every VPC of env=%s "
                    "needs its own CIDR%s"
                    % (
                        mine,
                        theirs,
                        other,
                        fields[other],
                        env,
                        "; set network_vpc_cidr explicitly" if "derived" in fields[me] else "",
                    ),
                )
            )
    return errors


# ----------------------------------------------------------------------------------------------------------
# quotas and AZs (the data comes from the network_capacity_info module)
# ----------------------------------------------------------------------------------------------------------
QUOTAS = {
    # code: (service, name, AWS default used when Service Quotas cannot answer)
    "L-F678F1CE": ("vpc", "VPCs per Region", 5),
    "L-A4707A72": ("vpc", "Internet gateways per Region", 5),
    "L-0263D0A3": ("ec2", "EC2-VPC Elastic IPs", 5),
    "L-FE5A380F": ("vpc", "NAT gateways per Availability Zone", 5),
    "L-29B6F2EB": ("vpc", "Interface VPC endpoints per VPC", 50),
    "L-7E9ECCDB": ("vpc", "Active VPC peering connections per VPC", 50),
    "L-93826ACB": ("vpc", "Routes per route table", 50),
}


def quota_value(capacity, overrides, code):
    """(value, source) of a quota: override, Service Quotas, or the AWS default."""
    overrides = overrides or {}
    if code in overrides:
        return int(overrides[code]), "network_quota_overrides"
    found = (capacity.get("quotas") or {}).get(code) or {}
    if found.get("value") is not None:
        return int(found["value"]), found.get("source", "Service Quotas")
    return QUOTAS[code][2], "AWS default (Service Quotas did not answer)"


def capacity_errors(env, plan, capacity, overrides=None, interface_endpoints=5):
    """Problems with the region's AZs and the account's quotas for ``plan`` (from :func:`vpc_plan`)."""
    errors = []
    azs = capacity.get("availability_zones") or []
    for item in plan:
        if isinstance(item["az_count"], int) and item["az_count"] > len(azs):
            errors.append(
                PreflightError(
                    item["host"],
                    "network_az_count",
                    "%d availability zones wanted, region %s "
                    "has %d (%s)" % (item["az_count"], capacity.get("region"), len(azs), ", ".join(azs)),
                )
            )
    existing = set(capacity.get("existing_scopes") or [])
    new = [
        i
        for i in plan
        if i["scope"] not in existing and isinstance(i["az_count"], int) and isinstance(i["nat_count"], int)
    ]
    usage = capacity.get("usage") or {}
    where = "env=%s" % env

    def over(code, in_use, needed, what):
        value, source = quota_value(capacity, overrides, code)
        if in_use + needed > value:
            errors.append(
                PreflightError(
                    where,
                    "quota %s" % code,
                    "%s (service %s) is %d (%s); %d in use + %d needed "
                    "for %s = %d: request an increase of %s to at least %d, or set "
                    "network_quota_overrides.%s if the account's quota is already higher"
                    % (
                        QUOTAS[code][1],
                        QUOTAS[code][0],
                        value,
                        source,
                        in_use,
                        needed,
                        what,
                        in_use + needed,
                        code,
                        in_use + needed,
                        code,
                    ),
                )
            )

    hosts_new = ", ".join(sorted(i["host"] for i in new))
    if new:
        over("L-F678F1CE", usage.get("vpcs", 0), len(new), "the new VPCs of %s" % hosts_new)
        over("L-A4707A72", usage.get("internet_gateways", 0), len(new), "the new VPCs of %s" % hosts_new)
        eips = sum(min(i["nat_count"], i["az_count"]) for i in new)
        if eips:
            over("L-0263D0A3", usage.get("elastic_ips", 0), eips, "the NAT gateways of %s" % hosts_new)
        per_az = usage.get("nat_gateways_per_az") or {}
        for index, az in enumerate(azs):
            needed = sum(1 for i in new if index < min(i["nat_count"], i["az_count"]))
            if needed:
                over("L-FE5A380F", per_az.get(az, 0), needed, "the NAT gateways in %s of %s" % (az, hosts_new))
    over("L-29B6F2EB", 0, int(interface_endpoints), "the interface endpoints of each VPC")
    shared_tenants = sorted(i["host"] for i in plan if i["tier"] == "shared")
    if shared_tenants:
        over(
            "L-7E9ECCDB",
            0,
            len(shared_tenants),
            "the peering connections of the shared data VPC (one per shared-tier tenant)",
        )
        over(
            "L-93826ACB",
            1,
            len(shared_tenants),
            "the routes of the shared isolated route table (local + one per shared-tier tenant)",
        )
    return errors
