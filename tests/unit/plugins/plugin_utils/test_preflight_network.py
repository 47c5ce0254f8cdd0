"""Unit tests of the network preflight (plugins/plugin_utils/preflight_network.py)."""

from __future__ import annotations

from ansible_collections.manufacturing.platform.plugins.plugin_utils import preflight_network as pn


def fleet(**cidrs):
    hosts = {"platform-shared": {}}
    for name, cidr in cidrs.items():
        host = name.replace("_", "-")
        hosts[host] = {"tenant_id": host, "tenancy_tier": "shared", "network_vpc_cidr": cidr}
    return hosts, [h for h in hosts if h != "platform-shared"], ["platform-shared"]


def messages(errors):
    return [str(e) for e in errors]


def test_reference_plan_is_clean():
    assert pn.check("local", *fleet(a_1="10.1.0.0/20", b_2="10.1.16.0/20")) == []


def test_overlap_names_both_tenants():
    out = messages(pn.check("local", *fleet(aaa="10.1.0.0/20", bbb="10.1.0.0/20")))
    assert any(m.startswith("aaa: network_vpc_cidr: 10.1.0.0/20 overlaps 10.1.0.0/20 of bbb") for m in out), out
    assert any(m.startswith("bbb: network_vpc_cidr: 10.1.0.0/20 overlaps 10.1.0.0/20 of aaa") for m in out), out


def test_overlap_with_the_shared_vpc():
    out = messages(pn.check("local", *fleet(aaa="10.0.0.0/16")))
    assert any("of platform-shared (network_shared_vpc_cidr)" in m for m in out), out


def test_malformed_and_outside_supernet():
    out = messages(pn.check("local", *fleet(aaa="10.1.0.0/33", bbb="192.168.0.0/20")))
    assert any(m.startswith("aaa: network_vpc_cidr: '10.1.0.0/33' is malformed") for m in out), out
    assert any(m.startswith("bbb: network_vpc_cidr: 192.168.0.0/20 is outside the allowed supernets") for m in out)


def test_derived_cidrs_are_checked_too():
    hosts, tenants, shared = fleet(aaa="")
    hosts["aaa"]["network_cidr_pool"] = "192.168.0.0/16"
    out = messages(pn.check("local", hosts, tenants, shared))
    assert any("aaa: network_vpc_cidr: " in m and "(derived from tenant_id)" in m for m in out), out


def test_az_and_nat_counts():
    hosts, tenants, shared = fleet(aaa="10.1.0.0/20")
    hosts["aaa"]["network_az_count"] = 5
    hosts["platform-shared"]["network_az_count"] = "2"
    hosts["platform-shared"]["network_nat_gateway_count"] = 3
    out = messages(pn.check("local", hosts, tenants, shared))
    assert any(m.startswith("aaa: network_az_count: 5") for m in out), out
    assert any(m.startswith("platform-shared: network_nat_gateway_count: 3") for m in out), out


CAPACITY = {
    "region": "r",
    "availability_zones": ["r-a", "r-b"],
    "existing_scopes": ["shared"],
    "usage": {"vpcs": 2, "internet_gateways": 2, "elastic_ips": 1, "nat_gateways_per_az": {"r-a": 1}},
    "quotas": {"L-F678F1CE": {"value": 5.0}, "L-0263D0A3": {"value": None}},
}


def plan(n, az=2, nat=1):
    hosts, tenants, shared = fleet(**{"t%02d" % i: "10.1.%d.0/20" % (16 * i) for i in range(n)})
    for h in hosts.values():
        h["network_az_count"], h["network_nat_gateway_count"] = az, nat
    return pn.vpc_plan(hosts, tenants, shared, {"network_shared_vpc_cidr": "10.0.0.0/20"})


def test_capacity_fits():
    assert pn.capacity_errors("dev", plan(3), CAPACITY) == []


def test_vpc_quota_exceeded_names_the_numbers_and_the_code():
    out = messages(pn.capacity_errors("dev", plan(5), CAPACITY))
    vpc = [m for m in out if "L-F678F1CE" in m]
    assert vpc and vpc[0].startswith(
        "env=dev: quota L-F678F1CE: VPCs per Region (service vpc) is 5 (Service Quotas); 2 in use + 5 needed"
    ), out
    assert any("L-0263D0A3" in m and "AWS default" in m for m in out), out  # EIPs: 1 + 5 > 5 (default)


def test_override_raises_the_assumed_quota():
    overrides = {"L-F678F1CE": 40, "L-A4707A72": 40, "L-0263D0A3": 40, "L-FE5A380F": 40}
    assert pn.capacity_errors("dev", plan(30), CAPACITY, overrides) == []


def test_az_count_above_the_region():
    out = messages(pn.capacity_errors("dev", plan(1, az=3), CAPACITY))
    assert any("network_az_count: 3 availability zones wanted, region r has 2" in m for m in out), out
