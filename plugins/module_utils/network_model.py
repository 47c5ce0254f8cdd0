# -*- coding: utf-8 -*-
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Desired state of one platform VPC and the comparisons with what EC2 reports (pure, unit tested).

Used by the ``network_vpc`` module. Rules and routes are normalised to hashable tuples so that a whole
VPC is compared with set arithmetic and only the differences are sent to EC2.
"""

from __future__ import annotations

ROLE_TAG = "NetworkRole"

# A security group rule: (direction, protocol, from_port, to_port, kind, target) with kind one of
# "cidr" (an IPv4 CIDR), "cidr6", "sg" (a group id) or "pl" (a prefix list id).
INGRESS = "ingress"
EGRESS = "egress"


def rules_from_permissions(direction, permissions):
    """Expand EC2 ``IpPermissions`` into a set of rule tuples."""
    rules = set()
    for perm in permissions or []:
        proto = str(perm.get("IpProtocol", "-1"))
        if proto in ("-1", "all"):
            from_port, to_port = -1, -1
            proto = "-1"
        else:
            from_port, to_port = perm.get("FromPort", -1), perm.get("ToPort", -1)
        for item in perm.get("IpRanges") or []:
            rules.add((direction, proto, from_port, to_port, "cidr", item["CidrIp"]))
        for item in perm.get("Ipv6Ranges") or []:
            rules.add((direction, proto, from_port, to_port, "cidr6", item["CidrIpv6"]))
        for item in perm.get("UserIdGroupPairs") or []:
            rules.add((direction, proto, from_port, to_port, "sg", item["GroupId"]))
        for item in perm.get("PrefixListIds") or []:
            rules.add((direction, proto, from_port, to_port, "pl", item["PrefixListId"]))
    return rules


def rule_descriptions(group):
    """``{rule: description}`` of a described security group (both directions).

    Revoking sends the rule's description back: AWS ignores it, but some EC2 implementations (moto) only
    match a rule on revoke when the description is the same.
    """
    result = {}
    for direction, key in ((INGRESS, "IpPermissions"), (EGRESS, "IpPermissionsEgress")):
        for perm in group.get(key) or []:
            for rule in rules_from_permissions(direction, [perm]):
                kind, target = rule[4], rule[5]
                list_key, id_key = {
                    "cidr": ("IpRanges", "CidrIp"),
                    "cidr6": ("Ipv6Ranges", "CidrIpv6"),
                    "sg": ("UserIdGroupPairs", "GroupId"),
                    "pl": ("PrefixListIds", "PrefixListId"),
                }[kind]
                for item in perm.get(list_key) or []:
                    if item.get(id_key) == target and item.get("Description"):
                        result[rule] = item["Description"]
    return result


def permission_from_rule(rule, description=None):
    """One EC2 ``IpPermission`` for a rule tuple (for authorize/revoke)."""
    _direction, proto, from_port, to_port, kind, target = rule
    perm = {"IpProtocol": proto}
    if proto != "-1":
        perm["FromPort"] = from_port
        perm["ToPort"] = to_port
    extra = {"Description": description} if description else {}
    if kind == "cidr":
        perm["IpRanges"] = [dict(CidrIp=target, **extra)]
    elif kind == "cidr6":
        perm["Ipv6Ranges"] = [dict(CidrIpv6=target, **extra)]
    elif kind == "sg":
        perm["UserIdGroupPairs"] = [dict(GroupId=target, **extra)]
    elif kind == "pl":
        perm["PrefixListIds"] = [dict(PrefixListId=target, **extra)]
    else:
        raise ValueError("unknown rule target kind %r" % kind)
    return perm


def rule_text(rule, names=None):
    names = names or {}
    direction, proto, from_port, to_port, kind, target = rule
    ports = (
        "all traffic"
        if proto == "-1"
        else "%s %s" % (proto, from_port if from_port == to_port else "%s-%s" % (from_port, to_port))
    )
    where = names.get(target, target)
    return "%s %s %s %s" % (direction, ports, "from" if direction == INGRESS else "to", where)


def diff_rules(current, desired, owned):
    """Which rules to add and remove.

    ``owned(rule)`` tells whether a rule that is present but not desired belongs to this caller (and is
    therefore removed). Rules owned by someone else (a tenant's rule in a shared data group) are left alone.
    """
    add = sorted(desired - current, key=str)
    remove = sorted((r for r in current - desired if owned(r)), key=str)
    return add, remove


def route_target(route):
    """(kind, id) of an EC2 route's target; kind is one of local, igw, nat, pcx, vpce, other."""
    gateway = route.get("GatewayId") or ""
    if gateway == "local":
        return ("local", "local")
    if gateway.startswith("igw-"):
        return ("igw", gateway)
    if gateway.startswith("vpce-"):
        return ("vpce", gateway)
    if route.get("NatGatewayId"):
        return ("nat", route["NatGatewayId"])
    if route.get("VpcPeeringConnectionId"):
        return ("pcx", route["VpcPeeringConnectionId"])
    for key in (
        "TransitGatewayId",
        "NetworkInterfaceId",
        "InstanceId",
        "EgressOnlyInternetGatewayId",
        "CarrierGatewayId",
        "LocalGatewayId",
        "CoreNetworkArn",
    ):
        if route.get(key):
            return ("other", route[key])
    return ("other", gateway or "unknown")


def route_destination(route):
    return (
        route.get("DestinationCidrBlock")
        or route.get("DestinationPrefixListId")
        or route.get("DestinationIpv6CidrBlock")
    )


def current_routes(route_table):
    """``{destination: (kind, target)}`` of a described route table."""
    return {route_destination(r): route_target(r) for r in route_table.get("Routes", []) if route_destination(r)}


def diff_routes(current, desired, owned):
    """Routes to create, replace and delete. ``owned(destination, target)`` decides deletion of extras.

    ``current``/``desired``: ``{destination: (kind, target)}``. Local and gateway-endpoint routes are never
    touched (EC2 manages them).
    """
    create, replace, delete = [], [], []
    for dest, target in sorted(desired.items()):
        have = current.get(dest)
        if have is None:
            create.append((dest, target))
        elif have != target:
            replace.append((dest, target))
    for dest, target in sorted(current.items()):
        if dest in desired or target[0] in ("local", "vpce"):
            continue
        if owned(dest, target):
            delete.append((dest, target))
    return create, replace, delete


def route_args(destination, target):
    kind, target_id = target
    args = {}
    if destination.startswith("pl-"):
        args["DestinationPrefixListId"] = destination
    else:
        args["DestinationCidrBlock"] = destination
    key = {"igw": "GatewayId", "nat": "NatGatewayId", "pcx": "VpcPeeringConnectionId"}.get(kind)
    if key is None:
        raise ValueError("cannot manage a route to a %s target" % kind)
    args[key] = target_id
    return args


def nacl_entries(vpc_cidr, peer_supernets, data_ports):
    """Entries of the isolated tier's network ACL: ``{(egress, rule_number): entry}``.

    Inbound: everything from the VPC itself, and the data ports from the platform's peered supernets.
    Outbound: everything to the VPC, and TCP ephemeral ports (replies) to the peered supernets.
    Nothing else (the implicit final deny): no internet in either direction.
    """
    entries = {
        (False, 100): {"Protocol": "-1", "RuleAction": "allow", "CidrBlock": vpc_cidr},
        (True, 100): {"Protocol": "-1", "RuleAction": "allow", "CidrBlock": vpc_cidr},
    }
    ports = sorted(set(int(p) for p in data_ports))
    for i, supernet in enumerate(peer_supernets):
        for j, port in enumerate(ports):
            entries[(False, 200 + i * 10 + j)] = {
                "Protocol": "6",
                "RuleAction": "allow",
                "CidrBlock": supernet,
                "PortRange": {"From": port, "To": port},
            }
        entries[(True, 200 + i * 10)] = {
            "Protocol": "6",
            "RuleAction": "allow",
            "CidrBlock": supernet,
            "PortRange": {"From": 1024, "To": 65535},
        }
    return entries


ANYWHERE = "0.0.0.0/0"
# Replies to connections opened from inside the VPC arrive on the client's ephemeral port: 1024-65535 covers every
# client (Linux picks 32768-60999; NAT gateways and Lambda's network interfaces translate to 1024-65535).
EPHEMERAL_PORTS = {"From": 1024, "To": 65535}
RDP_PORT = 3389
ICMP_FRAGMENTATION_NEEDED = {"Type": 3, "Code": 4}
# The rule numbers of the implicit final deny (IPv4 and IPv6): EC2 lists them, nobody can change them.
LAST_RULE = 32767


def tier_nacl_entries(vpc_cidr):
    """Entries of the public and of the private tier's network ACL: ``{(egress, rule_number): entry}``.

    Network ACLs are stateless, so inbound must admit the replies to everything the tiers open themselves (through
    the NAT gateway and the internet gateway, over the peering to the shared data VPC): TCP and UDP to the
    ephemeral ports from anywhere, but never TCP 3389 (RDP; it lies inside the ephemeral range, so an explicit deny
    comes first), and ICMP "fragmentation needed" (path MTU discovery). Everything from the VPC itself. Nothing
    listens on these tiers for the internet (the NAT gateway in the public tier, Lambda's network interfaces and
    the interface endpoints in the private tier), so no port below 1024, 22 included, is open from outside the VPC.
    Outbound: everything (the security groups restrict egress per resource).
    """
    return {
        (False, 100): {"Protocol": "-1", "RuleAction": "allow", "CidrBlock": vpc_cidr},
        (False, 110): {
            "Protocol": "6",
            "RuleAction": "deny",
            "CidrBlock": ANYWHERE,
            "PortRange": {"From": RDP_PORT, "To": RDP_PORT},
        },
        (False, 120): {
            "Protocol": "6",
            "RuleAction": "allow",
            "CidrBlock": ANYWHERE,
            "PortRange": dict(EPHEMERAL_PORTS),
        },
        (False, 130): {
            "Protocol": "17",
            "RuleAction": "allow",
            "CidrBlock": ANYWHERE,
            "PortRange": dict(EPHEMERAL_PORTS),
        },
        (False, 140): {
            "Protocol": "1",
            "RuleAction": "allow",
            "CidrBlock": ANYWHERE,
            "IcmpTypeCode": dict(ICMP_FRAGMENTATION_NEEDED),
        },
        (True, 100): {"Protocol": "-1", "RuleAction": "allow", "CidrBlock": ANYWHERE},
    }


def default_nacl_entries():
    """The entries EC2 gives a VPC's default network ACL (an IPv4-only VPC): all traffic in and out."""
    return {
        (False, 100): {"Protocol": "-1", "RuleAction": "allow", "CidrBlock": ANYWHERE},
        (True, 100): {"Protocol": "-1", "RuleAction": "allow", "CidrBlock": ANYWHERE},
    }


def current_nacl_entries(nacl):
    """A network ACL's entries as EC2 lists them, in the form of the builders above, without the final deny.

    IPv6 entries come with ``Ipv6CidrBlock`` instead of ``CidrBlock`` (the platform sets none: one found is drift).
    """
    result = {}
    for entry in nacl.get("Entries", []):
        if entry.get("RuleNumber", LAST_RULE) >= LAST_RULE:
            continue
        item = {"Protocol": str(entry.get("Protocol")), "RuleAction": entry.get("RuleAction")}
        if "CidrBlock" in entry:
            item["CidrBlock"] = entry["CidrBlock"]
        else:
            item["Ipv6CidrBlock"] = entry.get("Ipv6CidrBlock")
        if item["Protocol"] in ("1", "58"):
            icmp = entry.get("IcmpTypeCode")
            if icmp:
                item["IcmpTypeCode"] = {"Type": icmp.get("Type"), "Code": icmp.get("Code")}
        elif entry.get("PortRange") and item["Protocol"] != "-1":
            item["PortRange"] = {"From": entry["PortRange"].get("From"), "To": entry["PortRange"].get("To")}
        result[(bool(entry.get("Egress")), entry["RuleNumber"])] = item
    return result


def diff_nacl_entries(current, desired):
    """``(create, replace, delete)``: keys ``(egress, rule_number)`` in order; create and replace with the entry."""
    create, replace = [], []
    for key, entry in sorted(desired.items()):
        have = current.get(key)
        if have is None:
            create.append((key, entry))
        elif have != entry:
            replace.append((key, entry))
    delete = sorted(set(current) - set(desired))
    return create, replace, delete


def nacl_entries_diff(entries):
    """Entries keyed ``ingress 100`` / ``egress 100`` (the module's diff)."""
    return {nacl_entry_text(key): entry for key, entry in sorted(entries.items())}


def nacl_entry_args(acl_id, key, entry):
    """Arguments of CreateNetworkAclEntry / ReplaceNetworkAclEntry for one entry."""
    args = {"NetworkAclId": acl_id, "Egress": key[0], "RuleNumber": key[1]}
    args.update(entry)
    return args


def nacl_entry_text(key, entry=None):
    """``ingress 120: allow tcp 1024-65535 from 0.0.0.0/0`` (for actions and diffs)."""
    direction = "egress" if key[0] else "ingress"
    if entry is None:
        return "%s %d" % (direction, key[1])
    names = {"-1": "all", "6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}
    proto = names.get(entry["Protocol"], entry["Protocol"])
    if "PortRange" in entry:
        ports = entry["PortRange"]
        proto += " %s" % ports["From"] if ports["From"] == ports["To"] else " %s-%s" % (ports["From"], ports["To"])
    elif "IcmpTypeCode" in entry:
        proto += " type %s code %s" % (entry["IcmpTypeCode"]["Type"], entry["IcmpTypeCode"]["Code"])
    cidr = entry.get("CidrBlock") or entry.get("Ipv6CidrBlock")
    return "%s %d: %s %s %s %s" % (direction, key[1], entry["RuleAction"], proto, "to" if key[0] else "from", cidr)


def tags_to_set(current, desired):
    """Tags that must be (re)set: desired keys missing or with another value. Extra tags are kept."""
    return {k: v for k, v in desired.items() if current.get(k) != v}
