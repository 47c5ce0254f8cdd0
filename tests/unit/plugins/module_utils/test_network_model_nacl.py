"""Unit tests of the network ACL entries (plugins/module_utils/network_model.py): what the public and private tiers
admit, judged by evaluating the entries the way EC2 does (lowest rule number first, final deny), and the
comparison with what EC2 lists."""

from __future__ import annotations

import ipaddress

import pytest

from ansible_collections.manufacturing.platform.plugins.module_utils import network_model as nm

VPC = "10.1.16.0/20"
INTERNET = "198.51.100.7"
PROTOCOLS = {"tcp": "6", "udp": "17", "icmp": "1"}


def evaluate(entries, egress, peer, protocol, port=None, icmp=None):
    """The action of the first entry (by rule number) of one direction that matches; EC2's final deny otherwise."""
    for (is_egress, _number), entry in sorted(entries.items(), key=lambda item: item[0][1]):
        if is_egress != egress or ipaddress.ip_address(peer) not in ipaddress.ip_network(entry["CidrBlock"]):
            continue
        if entry["Protocol"] != "-1":
            if entry["Protocol"] != PROTOCOLS[protocol]:
                continue
            if "PortRange" in entry and not entry["PortRange"]["From"] <= port <= entry["PortRange"]["To"]:
                continue
            if "IcmpTypeCode" in entry and icmp not in (
                (entry["IcmpTypeCode"]["Type"], entry["IcmpTypeCode"]["Code"]),
                (entry["IcmpTypeCode"]["Type"], -1),
            ):
                continue
        return entry["RuleAction"]
    return "deny"


def prowler_open(entries, protocol, port):
    """Prowler 5's check_network_acl (ec2/lib/network_acls.py) for IPv4: the first inbound 0.0.0.0/0 entry, by rule
    number, that matches the protocol (or is -1) and the port decides; an allow is a FAIL."""
    for (egress, _number), entry in sorted(entries.items(), key=lambda item: item[0][1]):
        if egress or entry.get("CidrBlock") != "0.0.0.0/0":
            continue
        if entry["Protocol"] == "-1" or (
            entry["Protocol"] == protocol and entry["PortRange"]["From"] <= port <= entry["PortRange"]["To"]
        ):
            return entry["RuleAction"] == "allow"
    return False


@pytest.fixture
def tier():
    return nm.tier_nacl_entries(VPC)


@pytest.mark.parametrize(("protocol", "port"), [("-1", 0), ("6", 22), ("6", 3389)])
def test_tier_entries_pass_the_scanners_networkacl_checks(tier, protocol, port):
    assert prowler_open(tier, protocol, port) is False
    # and the default ACL EC2 creates fails all three (what the scan found)
    assert prowler_open(nm.default_nacl_entries(), protocol, port) is True


@pytest.mark.parametrize(
    ("protocol", "port"),
    [("tcp", 22), ("tcp", 3389), ("tcp", 443), ("tcp", 80), ("tcp", 1023), ("udp", 53), ("udp", 123)],
)
def test_nothing_below_1024_and_no_rdp_from_the_internet(tier, protocol, port):
    assert evaluate(tier, False, INTERNET, protocol, port) == "deny"


@pytest.mark.parametrize(("protocol", "port"), [("tcp", 1024), ("tcp", 33000), ("tcp", 65535), ("udp", 40000)])
def test_replies_from_the_internet_reach_ephemeral_ports(tier, protocol, port):
    assert evaluate(tier, False, INTERNET, protocol, port) == "allow"


def test_icmp_from_the_internet_only_fragmentation_needed(tier):
    assert evaluate(tier, False, INTERNET, "icmp", icmp=(3, 4)) == "allow"
    assert evaluate(tier, False, INTERNET, "icmp", icmp=(8, 0)) == "deny"  # echo request
    assert evaluate(tier, False, INTERNET, "icmp", icmp=(3, 3)) == "deny"


@pytest.mark.parametrize(("protocol", "port"), [("tcp", 22), ("tcp", 3389), ("tcp", 443), ("udp", 53)])
def test_everything_from_the_vpc_and_everything_out(tier, protocol, port):
    assert evaluate(tier, False, "10.1.20.9", protocol, port) == "allow"
    assert evaluate(tier, True, INTERNET, protocol, port) == "allow"
    assert evaluate(tier, True, "10.1.20.9", protocol, port) == "allow"


def test_another_platform_network_gets_only_what_the_internet_gets(tier):
    """The peered shared data VPC answers a tenant's Lambda from 10.0.x (outside this VPC): replies only."""
    assert evaluate(tier, False, "10.0.8.5", "tcp", 45000) == "allow"
    assert evaluate(tier, False, "10.0.8.5", "tcp", 22) == "deny"


def test_isolated_entries_open_nothing_to_the_internet():
    entries = nm.nacl_entries("10.0.0.0/20", ["10.0.0.0/8"], [5432, 9098])
    for protocol, port in (("tcp", 5432), ("tcp", 40000), ("udp", 40000), ("tcp", 22)):
        assert evaluate(entries, False, INTERNET, protocol, port) == "deny"
        assert evaluate(entries, True, INTERNET, protocol, port) == "deny"
    assert evaluate(entries, False, "10.1.20.9", "tcp", 5432) == "allow"
    assert evaluate(entries, False, "10.1.20.9", "tcp", 22) == "deny"


def api_form(entries):
    """Entries as DescribeNetworkAcls lists them, with the two final denies."""
    listed = [dict(entry, Egress=key[0], RuleNumber=key[1]) for key, entry in entries.items()]
    for egress in (False, True):
        listed.append({"Egress": egress, "RuleNumber": 32767, "Protocol": "-1", "RuleAction": "deny",
                       "CidrBlock": "0.0.0.0/0"})
    return {"Entries": listed}


def test_read_back_equals_desired(tier):
    assert nm.current_nacl_entries(api_form(tier)) == tier
    assert nm.diff_nacl_entries(nm.current_nacl_entries(api_form(tier)), tier) == ([], [], [])


def test_drift_is_created_replaced_and_deleted(tier):
    listed = api_form(tier)
    listed["Entries"] = [e for e in listed["Entries"] if (e["Egress"], e["RuleNumber"]) != (False, 110)]
    for entry in listed["Entries"]:
        if (entry["Egress"], entry["RuleNumber"]) == (False, 140):
            entry["IcmpTypeCode"] = {"Type": -1, "Code": -1}  # every ICMP type, opened by hand
    listed["Entries"] += [
        {"Egress": False, "RuleNumber": 90, "Protocol": "6", "RuleAction": "allow", "CidrBlock": "0.0.0.0/0",
         "PortRange": {"From": 22, "To": 22}},
        {"Egress": False, "RuleNumber": 101, "Protocol": "-1", "RuleAction": "allow", "Ipv6CidrBlock": "::/0"},
    ]
    current = nm.current_nacl_entries(listed)
    create, replace, delete = nm.diff_nacl_entries(current, tier)
    assert create == [((False, 110), tier[(False, 110)])]
    assert replace == [((False, 140), tier[(False, 140)])]
    assert delete == [(False, 90), (False, 101)]
    assert current[(False, 101)] == {"Protocol": "-1", "RuleAction": "allow", "Ipv6CidrBlock": "::/0"}


def test_closing_the_default_acl_deletes_its_entries():
    current = nm.current_nacl_entries(api_form(nm.default_nacl_entries()))
    assert nm.diff_nacl_entries(current, {}) == ([], [], [(False, 100), (True, 100)])


def test_entry_arguments_and_text(tier):
    assert nm.nacl_entry_args("acl-1", (False, 140), tier[(False, 140)]) == {
        "NetworkAclId": "acl-1", "Egress": False, "RuleNumber": 140, "Protocol": "1", "RuleAction": "allow",
        "CidrBlock": "0.0.0.0/0", "IcmpTypeCode": {"Type": 3, "Code": 4},
    }
    assert nm.nacl_entry_text((False, 110), tier[(False, 110)]) == "ingress 110: deny tcp 3389 from 0.0.0.0/0"
    assert nm.nacl_entry_text((False, 120), tier[(False, 120)]) == "ingress 120: allow tcp 1024-65535 from 0.0.0.0/0"
    assert nm.nacl_entry_text((True, 100), tier[(True, 100)]) == "egress 100: allow all to 0.0.0.0/0"
    assert nm.nacl_entries_diff({(True, 100): tier[(True, 100)]}) == {"egress 100": tier[(True, 100)]}
