"""Unit tests of the CIDR plan (plugins/module_utils/network_cidr.py) and the VPC model helpers."""

from __future__ import annotations

import ipaddress

import pytest

from ansible_collections.manufacturing.platform.plugins.module_utils import network_cidr as nc
from ansible_collections.manufacturing.platform.plugins.module_utils import network_model as nm


@pytest.mark.parametrize("value", ["10.1.0.0/20", "10.0.0.0/16", "172.16.5.0/24"])
def test_valid_vpc_cidrs(value):
    assert str(nc.parse_vpc_cidr(value)) == value


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("10.1.300.0/20", "malformed"),
        ("10.1.0.0", "no prefix length"),
        ("10.1.17.0/20", "host bits"),
        ("10.0.0.0/8", "prefix length"),
        ("10.1.0.0/26", "prefix length"),
        ("", "not a CIDR"),
        (None, "not a CIDR"),
        ("fd00::/48", "IPv4"),
        ("ten/20", "malformed"),
    ],
)
def test_invalid_vpc_cidrs(value, reason):
    with pytest.raises(nc.CidrError, match=reason):
        nc.parse_vpc_cidr(value)


def test_plan_tiers_are_contiguous_quarters_with_one_subnet_per_az():
    plan = nc.subnet_plan("10.1.16.0/20", 3)
    assert plan["blocks"] == {"public": "10.1.16.0/22", "private": "10.1.20.0/22", "isolated": "10.1.24.0/22"}
    assert plan["public"] == ["10.1.16.0/24", "10.1.17.0/24", "10.1.18.0/24"]
    assert plan["private"] == ["10.1.20.0/24", "10.1.21.0/24", "10.1.22.0/24"]
    assert plan["isolated"] == ["10.1.24.0/24", "10.1.25.0/24", "10.1.26.0/24"]
    for tier in nc.TIERS:
        for subnet in plan[tier]:
            assert ipaddress.ip_network(subnet).subnet_of(ipaddress.ip_network(plan["blocks"][tier]))


def test_plan_is_stable_when_azs_are_added():
    two, three = nc.subnet_plan("10.1.0.0/20", 2), nc.subnet_plan("10.1.0.0/20", 3)
    for tier in nc.TIERS:
        assert three[tier][:2] == two[tier]


@pytest.mark.parametrize("azs", [0, 5])
def test_plan_az_limits(azs):
    with pytest.raises(nc.CidrError, match="AZs"):
        nc.subnet_plan("10.1.0.0/20", azs)


def test_smallest_vpc_still_gets_valid_subnets():
    plan = nc.subnet_plan("10.9.9.0/24", 4)
    assert plan["isolated"][-1] == "10.9.9.176/28"


def test_pool_allocation_depends_only_on_the_tenant_id():
    first = {t: nc.pool_cidr(t, "10.128.0.0/9", 20) for t in ("customer-1", "customer-2", "customer-3")}
    again = {t: nc.pool_cidr(t, "10.128.0.0/9", 20) for t in ("customer-3", "customer-9", "customer-1")}
    assert first["customer-1"] == again["customer-1"] and first["customer-3"] == again["customer-3"]
    for cidr in first.values():
        net = ipaddress.ip_network(cidr)
        assert net.prefixlen == 20 and net.subnet_of(ipaddress.ip_network("10.128.0.0/9"))


def test_pool_rejects_impossible_sizes():
    with pytest.raises(nc.CidrError):
        nc.pool_cidr("x", "10.128.0.0/9", 8)


def test_explicit_cidr_wins():
    assert nc.effective_cidr("10.1.0.0/20", "customer-1", "10.128.0.0/9", 20) == "10.1.0.0/20"
    assert nc.effective_cidr("", "customer-1", "10.128.0.0/9", 20) == nc.pool_cidr("customer-1", "10.128.0.0/9", 20)


def test_overlaps_name_both_sides_and_find_nested_networks():
    found = nc.find_overlaps(
        [("a", "10.1.0.0/20"), ("b", "10.1.16.0/20"), ("c", "10.1.0.0/19"), ("d", "10.2.0.0/20"), ("e", "10.1.4.0/24")]
    )
    pairs = {frozenset((x[0], x[2])) for x in found}
    assert pairs == {frozenset(p) for p in (("a", "c"), ("b", "c"), ("a", "e"), ("c", "e"))}


def test_no_overlap():
    assert nc.find_overlaps([("a", "10.1.0.0/20"), ("b", "10.1.16.0/20")]) == []


def test_inside_any():
    assert nc.inside_any("10.1.0.0/20", ["10.0.0.0/8"])
    assert not nc.inside_any("192.168.0.0/20", ["10.0.0.0/8", "172.16.0.0/12"])


# ------------------------------------------------------------------------------------------------- model
def test_rules_round_trip():
    perms = [
        {
            "IpProtocol": "tcp",
            "FromPort": 5432,
            "ToPort": 5432,
            "UserIdGroupPairs": [{"GroupId": "sg-1", "Description": "x"}],
            "IpRanges": [{"CidrIp": "10.0.0.0/20"}],
        },
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
    ]
    rules = nm.rules_from_permissions(nm.INGRESS, perms)
    assert rules == {
        ("ingress", "tcp", 5432, 5432, "sg", "sg-1"),
        ("ingress", "tcp", 5432, 5432, "cidr", "10.0.0.0/20"),
        ("ingress", "-1", -1, -1, "cidr", "0.0.0.0/0"),
    }
    for rule in rules:
        assert nm.rules_from_permissions(nm.INGRESS, [nm.permission_from_rule(rule)]) == {rule}
    assert nm.rule_descriptions({"IpPermissions": perms}) == {("ingress", "tcp", 5432, 5432, "sg", "sg-1"): "x"}


def test_diff_rules_leaves_foreign_rules():
    current = {("ingress", "tcp", 1, 1, "sg", "sg-mine"), ("ingress", "tcp", 1, 1, "sg", "sg-tenant")}
    add, remove = nm.diff_rules(current, {("ingress", "tcp", 2, 2, "sg", "sg-mine")}, lambda r: r[5] == "sg-mine")
    assert add == [("ingress", "tcp", 2, 2, "sg", "sg-mine")]
    assert remove == [("ingress", "tcp", 1, 1, "sg", "sg-mine")]


def test_diff_routes():
    current = nm.current_routes(
        {
            "Routes": [
                {"DestinationCidrBlock": "10.0.0.0/20", "GatewayId": "local"},
                {"DestinationPrefixListId": "pl-1", "GatewayId": "vpce-1"},
                {"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": "nat-old"},
                {"DestinationCidrBlock": "10.1.20.0/22", "VpcPeeringConnectionId": "pcx-other"},
                {"DestinationCidrBlock": "10.9.0.0/22", "VpcPeeringConnectionId": "pcx-gone"},
            ]
        }
    )
    desired = {"0.0.0.0/0": ("nat", "nat-new"), "10.0.8.0/22": ("pcx", "pcx-1")}
    create, replace, delete = nm.diff_routes(current, desired, lambda d, t: t[1] != "pcx-other")
    assert create == [("10.0.8.0/22", ("pcx", "pcx-1"))]
    assert replace == [("0.0.0.0/0", ("nat", "nat-new"))]
    assert delete == [("10.9.0.0/22", ("pcx", "pcx-gone"))]
    assert nm.route_args("10.0.8.0/22", ("pcx", "pcx-1")) == {
        "DestinationCidrBlock": "10.0.8.0/22",
        "VpcPeeringConnectionId": "pcx-1",
    }


def test_nacl_entries_have_no_internet():
    entries = nm.nacl_entries("10.0.0.0/20", ["10.0.0.0/8"], [5432, 5432, 9098])
    assert all(e["CidrBlock"] != "0.0.0.0/0" for e in entries.values())
    assert entries[(False, 200)]["PortRange"] == {"From": 5432, "To": 5432}
    assert entries[(False, 201)]["PortRange"] == {"From": 9098, "To": 9098}
    assert entries[(True, 200)]["PortRange"] == {"From": 1024, "To": 65535}
    assert nm.current_nacl_entries(
        {
            "Entries": [
                {
                    "RuleNumber": 100,
                    "Protocol": "-1",
                    "RuleAction": "allow",
                    "Egress": False,
                    "CidrBlock": "10.0.0.0/20",
                },
                {
                    "RuleNumber": 32767,
                    "Protocol": "-1",
                    "RuleAction": "deny",
                    "Egress": False,
                    "CidrBlock": "0.0.0.0/0",
                },
            ]
        }
    ) == {(False, 100): entries[(False, 100)]}
