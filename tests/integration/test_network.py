"""The network role, converged into the local cloud and read back with boto3 (issue 3).

Uses the session's `converged` fixture (site.yml -e env=local, twice) for the reference fleet, then:
--check --diff (zero mutating requests), the session's onboarding of a fourth tenant with --limit (conftest.onboarded:
only its resources and the shared-side peering route/rules change), its deletion (destroy.yml --limit, then the
network role's delete finds nothing left), and preflight rejections.
"""

from __future__ import annotations

import copy
import ipaddress
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from support.network_state import env_filters, platform_vpcs, snapshot, tags
from support.onboarding import NEW_CIDR, NEW_TENANT
from support.playbook import ROOT, SHARED_HOST_PLAY_HEADER, load_fleet, run_playbook, write_inventory

from ansible_collections.manufacturing.platform.plugins.module_utils import network_cidr

ENV = "local"
AZ_COUNT = 2  # group_vars/env_local.yml
NAT_COUNT = 1
INTERFACE_SERVICES = {"secretsmanager", "kms", "sns", "logs", "sts"}
DATA_PORTS = {"postgres": 5432, "timescaledb": 5432, "msk": 9098}
BASE_TAGS = {"Platform": "manufacturing", "Environment": ENV, "ManagedBy": "ansible-manufacturing.platform"}


def tenants_of(fleet):
    return fleet["all"]["children"]["tenants"]["hosts"]


@pytest.fixture(scope="module")
def fleet():
    return load_fleet()


@pytest.fixture(scope="module")
def state(converged, aws):
    ec2 = aws("ec2")
    return {"ec2": ec2, "vpcs": platform_vpcs(ec2), "snapshot": snapshot(ec2)}


def vpc_of(state, scope):
    return state["vpcs"][scope]


def items(state, kind, vpc_id=None):
    return [
        v
        for k, v in state["snapshot"].items()
        if k.startswith(kind + "/") and (vpc_id is None or v.get("VpcId") == vpc_id)
    ]


def scopes(fleet):
    return ["shared"] + sorted(tenants_of(fleet))


# ---------------------------------------------------------------------------------------------- structure
def test_one_vpc_per_tenant_plus_the_shared_vpc(state, fleet):
    for scope in scopes(fleet):
        assert scope in state["vpcs"], scope
    ec2 = state["ec2"]
    for scope in scopes(fleet):
        flt = env_filters() + [{"Name": "tag:NetworkRole", "Values": ["vpc"]}]
        if scope != "shared":
            flt.append({"Name": "tag:Tenant", "Values": [scope]})
        found = [v for v in ec2.describe_vpcs(Filters=flt)["Vpcs"] if tags(v).get("Tenant", "shared") == scope]
        assert len(found) == 1, (scope, found)
    reference = [s for s in state["vpcs"] if s in scopes(fleet)]
    assert len(reference) == len(tenants_of(fleet)) + 1


def test_vpc_cidrs_follow_the_inventory_and_do_not_overlap(state, fleet):
    assert vpc_of(state, "shared")["CidrBlock"] == "10.0.0.0/20"
    for name, host in tenants_of(fleet).items():
        assert vpc_of(state, name)["CidrBlock"] == host["network_vpc_cidr"]
    cidrs = [(s, v["CidrBlock"]) for s, v in state["vpcs"].items()]
    assert network_cidr.find_overlaps(cidrs) == []


@pytest.mark.parametrize("scope", ["shared", "customer-123", "customer-456", "customer-789"])
def test_subnets_per_tier_per_az(state, scope):
    vpc = vpc_of(state, scope)
    plan = network_cidr.subnet_plan(vpc["CidrBlock"], AZ_COUNT)
    subnets = items(state, "subnet", vpc["VpcId"])
    by_role = {tags(s)["NetworkRole"]: s for s in subnets}
    assert len(subnets) == 3 * AZ_COUNT
    azs = sorted({s["AvailabilityZone"] for s in subnets})
    assert len(azs) == AZ_COUNT
    for tier in network_cidr.TIERS:
        for index, az in enumerate(azs):
            subnet = by_role["subnet:%s:%s" % (tier, az)]
            assert subnet["CidrBlock"] == plan[tier][index]
            assert not subnet.get("MapPublicIpOnLaunch")


@pytest.mark.parametrize("scope", ["shared", "customer-123", "customer-456", "customer-789"])
def test_routing(state, scope):
    vpc = vpc_of(state, scope)
    tables = {tags(t).get("NetworkRole"): t for t in items(state, "rtb", vpc["VpcId"])}
    subnets = {s["SubnetId"]: tags(s)["NetworkRole"] for s in items(state, "subnet", vpc["VpcId"])}
    igw = [i for i in items(state, "igw") if i["Attachments"][0]["VpcId"] == vpc["VpcId"]]
    assert len(igw) == 1
    nats = [n for n in items(state, "nat", vpc["VpcId"]) if n["State"] == "available"]
    assert len(nats) == NAT_COUNT
    for role, table in tables.items():
        if role is None:  # the VPC's main table: only the local route, no subnet uses it
            assert [r.get("GatewayId") for r in table["Routes"]] == ["local"]
            assert all(a.get("Main") for a in table["Associations"])
            continue
        routes = {r.get("DestinationCidrBlock") or r.get("DestinationPrefixListId"): r for r in table["Routes"]}
        associated = sorted(subnets[a["SubnetId"]] for a in table["Associations"] if a.get("SubnetId"))
        if role == "rtb:public":
            assert routes["0.0.0.0/0"]["GatewayId"] == igw[0]["InternetGatewayId"]
            assert associated == sorted(r for r in subnets.values() if ":public:" in r)
        elif role.startswith("rtb:private:"):
            az = role.split(":", 2)[2]
            assert routes["0.0.0.0/0"]["NatGatewayId"] == nats[0]["NatGatewayId"]
            assert associated == ["subnet:private:%s" % az]
            assert any(d.startswith("pl-") for d in routes), "S3 gateway endpoint route missing"
        else:
            assert role == "rtb:isolated"
            assert "0.0.0.0/0" not in routes, "isolated tier has a default route"
            assert associated == sorted(r for r in subnets.values() if ":isolated:" in r)
            for route in routes.values():
                assert route.get("GatewayId") == "local" or route.get("VpcPeeringConnectionId"), route


def test_peering_routes_only_to_data_subnets(state, fleet):
    shared = vpc_of(state, "shared")
    shared_isolated = network_cidr.tier_block(shared["CidrBlock"], "isolated")
    peerings = items(state, "pcx")
    by_requester = {p["RequesterVpcInfo"]["VpcId"]: p for p in peerings if p["Status"]["Code"] == "active"}
    shared_tables = {tags(t).get("NetworkRole"): t for t in items(state, "rtb", shared["VpcId"])}
    shared_pcx_routes = {
        r["DestinationCidrBlock"]: r["VpcPeeringConnectionId"]
        for r in shared_tables["rtb:isolated"]["Routes"]
        if r.get("VpcPeeringConnectionId")
    }
    for name, host in tenants_of(fleet).items():
        vpc = vpc_of(state, name)
        pcx_routes = [
            (tags(t)["NetworkRole"], r)
            for t in items(state, "rtb", vpc["VpcId"])
            for r in t["Routes"]
            if r.get("VpcPeeringConnectionId")
        ]
        if host["tenancy_tier"] == "dedicated":
            assert vpc["VpcId"] not in by_requester
            assert pcx_routes == []
            continue
        pcx = by_requester[vpc["VpcId"]]
        assert pcx["AccepterVpcInfo"]["VpcId"] == shared["VpcId"]
        assert tags(pcx)["Tenant"] == name
        assert sorted(role for role, _r in pcx_routes) == [
            "rtb:private:%s" % az
            for az in sorted({s["AvailabilityZone"] for s in items(state, "subnet", vpc["VpcId"])})
        ]
        assert {r["DestinationCidrBlock"] for _role, r in pcx_routes} == {shared_isolated}
        private_block = network_cidr.tier_block(vpc["CidrBlock"], "private")
        assert shared_pcx_routes[private_block] == pcx["VpcPeeringConnectionId"]
    # tenant VPCs never reach each other: every peering has the shared VPC on one side
    tenant_vpcs = {v["VpcId"] for s, v in state["vpcs"].items() if s != "shared"}
    for p in peerings:
        assert not (p["RequesterVpcInfo"]["VpcId"] in tenant_vpcs and p["AccepterVpcInfo"]["VpcId"] in tenant_vpcs)
    # the shared isolated table routes only tenants' private tiers
    for dest in shared_pcx_routes:
        owner = [
            s
            for s, v in state["vpcs"].items()
            if ipaddress.ip_network(dest).subnet_of(ipaddress.ip_network(v["CidrBlock"]))
        ]
        assert len(owner) == 1 and dest == network_cidr.tier_block(state["vpcs"][owner[0]]["CidrBlock"], "private")


def rules(group):
    result = set()
    for direction, key in (("in", "IpPermissions"), ("out", "IpPermissionsEgress")):
        for perm in group.get(key, []):
            ports = (perm.get("IpProtocol"), perm.get("FromPort"), perm.get("ToPort"))
            result |= {(direction, *ports, "cidr", r["CidrIp"]) for r in perm.get("IpRanges", [])}
            result |= {(direction, *ports, "sg", r["GroupId"]) for r in perm.get("UserIdGroupPairs", [])}
            result |= {(direction, *ports, "pl", r["PrefixListId"]) for r in perm.get("PrefixListIds", [])}
            result |= {(direction, *ports, "cidr6", r["CidrIpv6"]) for r in perm.get("Ipv6Ranges", [])}
    return result


def groups_of(state, scope):
    vpc = vpc_of(state, scope)
    return {tags(g)["NetworkRole"][3:]: g for g in items(state, "sg", vpc["VpcId"]) if tags(g).get("NetworkRole")}


def test_security_groups_exactly_as_designed(state, fleet):
    shared = groups_of(state, "shared")
    s3_pl = next(
        r["DestinationPrefixListId"]
        for t in items(state, "rtb")
        for r in t["Routes"]
        if r.get("DestinationPrefixListId")
    )
    assert sorted(shared) == ["endpoints", "msk", "postgres", "timescaledb"]
    expected_shared = {role: set() for role in DATA_PORTS}
    for name, host in sorted(tenants_of(fleet).items()):
        vpc = vpc_of(state, name)
        groups = groups_of(state, name)
        lam = groups["lambda"]["GroupId"]
        assert rules(groups["endpoints"]) == {("in", "tcp", 443, 443, "cidr", vpc["CidrBlock"])}
        data = groups if host["tenancy_tier"] == "dedicated" else shared
        want = {("out", "tcp", 443, 443, "sg", groups["endpoints"]["GroupId"]), ("out", "tcp", 443, 443, "pl", s3_pl)}
        want |= {("out", "tcp", port, port, "sg", data[role]["GroupId"]) for role, port in DATA_PORTS.items()}
        assert rules(groups["lambda"]) == want, name
        if host["tenancy_tier"] == "dedicated":
            assert sorted(groups) == ["endpoints", "lambda", "msk", "postgres", "timescaledb"]
            for role, port in DATA_PORTS.items():
                assert rules(groups[role]) == {("in", "tcp", port, port, "sg", lam)}, (name, role)
        else:
            assert sorted(groups) == ["endpoints", "lambda"]
            for role, port in DATA_PORTS.items():
                expected_shared[role].add(("in", "tcp", port, port, "sg", lam))
    assert rules(shared["endpoints"]) == {("in", "tcp", 443, 443, "cidr", vpc_of(state, "shared")["CidrBlock"])}
    for role in DATA_PORTS:
        ours = {r for r in rules(shared[role]) if r[5] in expected_shared[role] or True}
        reference = {
            r
            for r in ours
            if any(r[5] == groups_of(state, t).get("lambda", {}).get("GroupId") for t in tenants_of(fleet))
        }
        assert reference == expected_shared[role], role
        assert all(r[0] == "in" and r[4] == "sg" for r in ours), ours  # only Lambda groups, no egress


def test_nothing_is_open_to_the_internet(state):
    for group in items(state, "sg"):
        for perm in group.get("IpPermissions", []):
            assert not any(r["CidrIp"] == "0.0.0.0/0" for r in perm.get("IpRanges", [])), group["GroupId"]
            assert not any(r["CidrIpv6"] == "::/0" for r in perm.get("Ipv6Ranges", [])), group["GroupId"]
        if tags(group).get("NetworkRole"):
            for perm in group.get("IpPermissionsEgress", []):
                assert not perm.get("IpRanges"), (group["GroupName"], perm)


def test_default_security_groups_have_no_rules(state):
    """Security review (CIS 5.4): the default security group of every platform VPC keeps no rule at all."""
    defaults = [g for g in items(state, "sg") if g["GroupName"] == "default"]
    assert {g["VpcId"] for g in defaults} == {v["VpcId"] for v in state["vpcs"].values()}
    for group in defaults:
        assert group["IpPermissions"] == [] and group["IpPermissionsEgress"] == [], group


def test_no_subnet_assigns_public_ips(state):
    """Security review: no subnet, the public tier included, gives instances a public IP on launch."""
    subnets = items(state, "subnet")
    assert subnets and all(s["MapPublicIpOnLaunch"] is False for s in subnets), [
        s["SubnetId"] for s in subnets if s["MapPublicIpOnLaunch"]]


@pytest.mark.parametrize("scope", ["shared", "customer-123", "customer-456"])
def test_isolated_network_acl(state, scope):
    vpc = vpc_of(state, scope)
    acl = next(a for a in items(state, "nacl", vpc["VpcId"]) if tags(a).get("NetworkRole") == "nacl:isolated")
    isolated = {s["SubnetId"] for s in items(state, "subnet", vpc["VpcId"]) if ":isolated:" in tags(s)["NetworkRole"]}
    assert {a["SubnetId"] for a in acl["Associations"]} == isolated
    allows = [e for e in acl["Entries"] if e["RuleAction"] == "allow"]
    assert all(e["CidrBlock"] != "0.0.0.0/0" for e in allows)
    assert {(e["Egress"], e["CidrBlock"]) for e in allows if e["Protocol"] == "-1"} == {
        (False, vpc["CidrBlock"]),
        (True, vpc["CidrBlock"]),
    }
    if scope == "shared":
        inbound = {(e["CidrBlock"], e["PortRange"]["From"]) for e in allows if not e["Egress"] and e["Protocol"] == "6"}
        assert inbound == {("10.0.0.0/8", 5432), ("10.0.0.0/8", 9098)}


def acl_entries(acl):
    """A network ACL's entries as (egress, rule, protocol, action, cidr, ports or ICMP type/code), without EC2's final
    deny (rule 32767, which nobody can change; the emulator lists it only for default ACLs)."""
    result = set()
    for e in acl["Entries"]:
        if e["RuleNumber"] == 32767:
            assert e["RuleAction"] == "deny" and e["Protocol"] == "-1", e
            continue
        extra = None
        if e["Protocol"] in ("6", "17"):
            extra = (e["PortRange"]["From"], e["PortRange"]["To"])
        elif e["Protocol"] == "1":
            extra = (e["IcmpTypeCode"]["Type"], e["IcmpTypeCode"]["Code"])
        result.add((e["Egress"], e["RuleNumber"], e["Protocol"], e["RuleAction"],
                    e.get("CidrBlock") or e.get("Ipv6CidrBlock"), extra))
    return result


def tier_acl_entries(vpc_cidr):
    """The public and private tiers' network ACL (network_tier_nacls): everything from the VPC; from anywhere only
    replies (TCP/UDP 1024-65535, TCP 3389 denied first) and ICMP fragmentation-needed; everything out."""
    return {
        (False, 100, "-1", "allow", vpc_cidr, None),
        (False, 110, "6", "deny", "0.0.0.0/0", (3389, 3389)),
        (False, 120, "6", "allow", "0.0.0.0/0", (1024, 65535)),
        (False, 130, "17", "allow", "0.0.0.0/0", (1024, 65535)),
        (False, 140, "1", "allow", "0.0.0.0/0", (3, 4)),
        (True, 100, "-1", "allow", "0.0.0.0/0", None),
    }


def open_to_the_internet(acl, protocol, port):
    """Prowler 5's verdict for ec2_networkacl_allow_ingress_* (ec2/lib/network_acls.py): the first inbound entry
    from 0.0.0.0/0 (by rule number) that matches the protocol, or is -1, and the port decides."""
    for e in sorted((e for e in acl["Entries"] if not e["Egress"]), key=lambda e: e["RuleNumber"]):
        if e.get("CidrBlock") != "0.0.0.0/0":
            continue
        ports = e.get("PortRange") or {}
        if e["Protocol"] == "-1" or (e["Protocol"] == protocol and ports["From"] <= port <= ports["To"]):
            return e["RuleAction"] == "allow"
    return False


@pytest.mark.parametrize("scope", ["shared", "customer-123", "customer-456", "customer-789"])
@pytest.mark.parametrize("tier", ["public", "private"])
def test_public_and_private_tiers_have_their_own_network_acl(state, scope, tier):
    vpc = vpc_of(state, scope)
    (acl,) = [a for a in items(state, "nacl", vpc["VpcId"]) if tags(a).get("NetworkRole") == "nacl:%s" % tier]
    assert not acl["IsDefault"]
    assert tags(acl)["Name"] == "mfg-%s-%s-%s" % (ENV, scope, tier)
    subnets = {s["SubnetId"] for s in items(state, "subnet", vpc["VpcId"]) if ":%s:" % tier in tags(s)["NetworkRole"]}
    assert len(subnets) == AZ_COUNT
    assert {a["SubnetId"] for a in acl["Associations"]} == subnets
    assert acl_entries(acl) == tier_acl_entries(vpc["CidrBlock"])


def test_default_network_acls_are_closed_and_unused(state):
    """No subnet uses a platform VPC's default network ACL any more, and it keeps no entry: it denies everything."""
    defaults = [a for a in items(state, "nacl") if a["IsDefault"]]
    assert {a["VpcId"] for a in defaults} == {v["VpcId"] for v in state["vpcs"].values()}
    for acl in defaults:
        assert acl["Associations"] == [], acl["NetworkAclId"]
        assert acl_entries(acl) == set(), acl["NetworkAclId"]


def test_no_network_acl_opens_every_port_ssh_or_rdp_to_the_internet(state):
    """What Prowler checks (ec2_networkacl_allow_ingress_any_port / _tcp_port_22 / _tcp_port_3389), on every network
    ACL of every platform VPC, the default ones included: Prowler scans unused ACLs too. No VPC has IPv6."""
    acls = items(state, "nacl")
    assert len(acls) == 4 * len(state["vpcs"])  # default, public, private, isolated
    for acl in acls:
        for protocol, port in (("-1", 0), ("6", 22), ("6", 3389)):
            assert not open_to_the_internet(acl, protocol, port), (acl["NetworkAclId"], protocol, port)
        assert not [e for e in acl["Entries"] if "Ipv6CidrBlock" in e], acl["NetworkAclId"]


@pytest.mark.parametrize("scope", ["shared", "customer-123", "customer-789"])
def test_vpc_endpoints(state, scope):
    vpc = vpc_of(state, scope)
    endpoints = {e["ServiceName"].rsplit(".", 1)[-1]: e for e in items(state, "vpce", vpc["VpcId"])}
    assert set(endpoints) == INTERFACE_SERVICES | {"s3"}
    private_subnets = {
        s["SubnetId"] for s in items(state, "subnet", vpc["VpcId"]) if ":private:" in tags(s)["NetworkRole"]
    }
    private_tables = {
        t["RouteTableId"]
        for t in items(state, "rtb", vpc["VpcId"])
        if tags(t).get("NetworkRole", "").startswith("rtb:private:")
    }
    assert endpoints["s3"]["VpcEndpointType"] == "Gateway"
    assert set(endpoints["s3"]["RouteTableIds"]) == private_tables
    endpoint_sg = groups_of(state, scope)["endpoints"]["GroupId"]
    for svc in INTERFACE_SERVICES:
        e = endpoints[svc]
        assert e["VpcEndpointType"] == "Interface"
        assert e["PrivateDnsEnabled"] is True
        assert set(e["SubnetIds"]) == private_subnets
        assert [g["GroupId"] for g in e["Groups"]] == [endpoint_sg]
    # network_endpoint_policy_account_only: only principals of the platform's account use the endpoints
    for svc, e in endpoints.items():
        policy = json.loads(e["PolicyDocument"]) if isinstance(e["PolicyDocument"], str) else e["PolicyDocument"]
        (statement,) = policy["Statement"]
        assert statement["Effect"] == "Allow" and statement["Principal"] == "*", svc
        assert statement["Condition"] == {"StringEquals": {"aws:PrincipalAccount": "123456789012"}}, svc


def test_flow_logs_to_encrypted_log_groups(state, fleet, aws):
    logs = aws("logs")
    flows = items(state, "fl")
    for scope in scopes(fleet):
        vpc = vpc_of(state, scope)
        mine = [f for f in flows if f["ResourceId"] == vpc["VpcId"]]
        assert len(mine) == 1, scope
        flow = mine[0]
        assert flow["TrafficType"] == "ALL" and flow["LogDestinationType"] == "cloud-watch-logs"
        assert flow["DeliverLogsPermissionArn"].endswith(":role/mfg-%s-vpc-flow-logs" % ENV)
        group = [
            g
            for g in logs.describe_log_groups(logGroupNamePrefix=flow["LogGroupName"])["logGroups"]
            if g["logGroupName"] == flow["LogGroupName"]
        ][0]
        assert group["retentionInDays"] == 7  # platform_log_retention_days of env=local
        assert group.get("kmsKeyId", "").startswith("arn:aws:kms:")


def test_everything_is_tagged(state, fleet):
    tenants = tenants_of(fleet)
    for key, item in state["snapshot"].items():
        kind = key.split("/")[0]
        t = tags(item)
        if kind == "vpc" and not t:
            continue
        if kind == "sg" and item["GroupName"] == "default":
            continue
        if kind in ("nacl", "rtb") and not t.get("NetworkRole"):  # the VPC's default ACL / main table
            continue
        for k, v in BASE_TAGS.items():
            assert t.get(k) == v, (key, t)
        assert t.get("NetworkRole") and t.get("Name"), (key, t)
        if t.get("Tenant") in tenants:
            assert t["Tier"] == tenants[t["Tenant"]]["tenancy_tier"], (key, t)


def test_network_facts_published(state, fleet):
    """Later roles read network_facts; the module returns the same structure, check it against EC2."""
    run = run_playbook("site.yml", "-e", "env=local", "--check", "--limit", "customer-456")
    assert run.rc == 0, run.explain()
    result = next(r for t, h, r in run.task_results() if "Converge the VPC of this host" in t)
    net = result["network"]
    vpc = vpc_of(state, "customer-456")
    assert net["vpc_id"] == vpc["VpcId"]
    assert net["peering"]["shared_vpc_id"] == vpc_of(state, "shared")["VpcId"]
    assert net["data"]["vpc_id"] == vpc_of(state, "shared")["VpcId"]
    assert sorted(net["data"]["security_group_ids"]) == sorted(DATA_PORTS)
    assert set(net["subnet_ids"]) == {"public", "private", "isolated"}
    assert all(len(v) == AZ_COUNT and all(v) for v in net["subnet_ids"].values())
    assert set(net["security_group_ids"]) == {"lambda", "endpoints"}
    acls = {tags(a).get("NetworkRole"): a["NetworkAclId"] for a in items(state, "nacl", vpc["VpcId"])}
    assert net["network_acl_ids"] == {tier: acls["nacl:%s" % tier] for tier in ("public", "private", "isolated")}
    assert net["network_acl_id"] == acls["nacl:isolated"]


# ---------------------------------------------------------------------------------------------- idempotence
def test_second_converge_changes_nothing(converged):
    _first, second = converged
    network = [(t, h) for t, h in second.changed_tasks() if "network" in t]
    assert network == [], network


def test_check_diff_makes_no_mutating_request(site_check_diff):
    run = site_check_diff.run
    assert run.rc == 0, run.explain()
    assert run.changed == 0, run.changed_tasks()
    assert site_check_diff.mutating == [], site_check_diff.mutating
    actions = {e["action"] for e in site_check_diff.requests if e["service"] == "ec2"}
    assert {"DescribeVpcs", "DescribeSubnets", "DescribeRouteTables", "DescribeSecurityGroups"} <= actions


# ---------------------------------------------------------------------------------------------- a fourth tenant
@pytest.fixture(scope="module")
def fourth_tenant(onboarded):
    """The session's onboarding of a fourth, shared-tier tenant (tests/support/onboarding.py): preview, converge
    (through the fault proxy), converge again; snapshots of the network before and after."""
    return onboarded


def destroy_network(inventory):
    """network_state=absent for the added tenant (roles/network/molecule/default/destroy-tenant.yml)."""
    playbook = ROOT / "roles" / "network" / "molecule" / "default" / "destroy-tenant.yml"
    return run_playbook(str(playbook), "-i", str(inventory), "-e", "env=local", "--limit", NEW_TENANT)


@pytest.mark.runs_last
def test_fourth_tenant_preview_shows_changes_without_mutating(fourth_tenant):
    preview = fourth_tenant.preview
    assert preview.rc == 0, preview.explain()
    assert fourth_tenant.preview_mutating == []
    result = next(r for t, h, r in preview.task_results() if "Converge the VPC of this host" in t and h == NEW_TENANT)
    assert result["changed"]
    assert any(a.startswith("create VPC mfg-local-%s %s" % (NEW_TENANT, NEW_CIDR)) for a in result["actions"])
    assert result["diff"]["before"]["vpc"] is None and result["diff"]["after"]["vpc"]["cidr_block"] == NEW_CIDR


@pytest.mark.runs_last
def test_fourth_tenant_creates_only_its_resources(fourth_tenant, state):
    # The network role's own result (later roles of site.yml are other issues' business and may fail on their own).
    network = [r for t, h, r in fourth_tenant.converge.task_results() if "Converge the VPC of this host" in t]
    assert network and not network[0].get("failed"), fourth_tenant.converge.explain()
    assert not [m for m in fourth_tenant.converge.failure_messages() if "network" in m.split("[")[0]]
    before, after = fourth_tenant.before, fourth_tenant.after
    assert set(before) <= set(after), "something was deleted"
    shared = vpc_of(state, "shared")
    changed = sorted(k for k in before if before[k] != after[k])
    new_vpc = platform_vpcs(state["ec2"])[NEW_TENANT]
    pcx = next(
        v for k, v in after.items() if k.startswith("pcx/") and v["RequesterVpcInfo"]["VpcId"] == new_vpc["VpcId"]
    )
    for key in changed:
        old, new = before[key], after[key]
        assert old.get("VpcId") == shared["VpcId"], "changed outside the shared VPC: %s" % key
        if key.startswith("rtb/"):
            added = [r for r in new["Routes"] if r not in old["Routes"]]
            assert [r for r in old["Routes"] if r not in new["Routes"]] == []
            assert added == [
                {
                    "DestinationCidrBlock": network_cidr.tier_block(NEW_CIDR, "private"),
                    "Origin": "CreateRoute",
                    "State": "active",
                    "VpcPeeringConnectionId": pcx["VpcPeeringConnectionId"],
                }
            ]
        else:
            assert key.startswith("sg/"), key
            assert new["IpPermissionsEgress"] == old["IpPermissionsEgress"]
            assert tags(new)["NetworkRole"] in ("sg:postgres", "sg:timescaledb", "sg:msk")
    assert len(changed) == 4  # the isolated route table and the three data groups of the shared VPC
    for key in set(after) - set(before):
        item = after[key]
        assert tags(item).get("Tenant") == NEW_TENANT or item.get("VpcId") == new_vpc["VpcId"], key
    assert [(t, h) for t, h in fourth_tenant.again.changed_tasks() if "network" in t] == []


@pytest.mark.runs_last
def test_fourth_tenant_mutations_touch_only_its_scope(fourth_tenant):
    actions = {e["action"] for e in fourth_tenant.mutating if e["service"] == "ec2"}
    assert not any(
        a.startswith(("Delete", "Revoke", "Replace", "Disassociate", "Modify"))
        # DNS attributes, the subnets onto their tiers' ACLs, the new groups' and default ACL's allow-all removed
        and a not in ("ModifyVpcAttribute", "ReplaceNetworkAclAssociation", "RevokeSecurityGroupEgress",
                      "DeleteNetworkAclEntry")
        for a in actions
    ), actions


@pytest.mark.runs_last(order=1)
def test_fourth_tenant_delete(fourth_tenant, state):
    """destroy.yml --limit <tenant> removes the tenant (its network in reverse order, with the shared side's route and
    rules): the network is exactly as before the onboarding, and the network role's delete finds nothing left."""
    ec2 = state["ec2"]
    run = fourth_tenant.destroy()
    assert run.rc == 0, run.explain()
    assert NEW_TENANT not in platform_vpcs(ec2)
    assert snapshot(ec2) == fourth_tenant.before, "the reference state was not restored"
    addresses = ec2.describe_addresses(Filters=[{"Name": "tag:Tenant", "Values": [NEW_TENANT]}])["Addresses"]
    assert addresses == []
    again = destroy_network(fourth_tenant.inventory)
    assert again.rc == 0 and again.changed == 0, again.explain()


# ---------------------------------------------------------------------------------------------- preflight
def _set(host, **values):
    def mutate(fleet):
        tenants_of(fleet)[host].update(values)

    return mutate


def _add(*names):
    def mutate(fleet):
        for i, name in enumerate(names):
            tenants_of(fleet)[name] = {
                "tenant_id": name,
                "tenancy_tier": "shared",
                "tenant_machines": 5,
                "network_vpc_cidr": "10.2.%d.0/20" % (16 * i),
            }

    return mutate


# (id, mutation, extra args, expected substrings of the failure message)
PREFLIGHT_CASES = [
    (
        "overlap",
        _set("customer-789", network_vpc_cidr="10.1.16.0/20"),
        [],
        [
            "customer-789: network_vpc_cidr: 10.1.16.0/20 overlaps 10.1.16.0/20 of customer-456",
            "customer-456: network_vpc_cidr: 10.1.16.0/20 overlaps 10.1.16.0/20 of customer-789",
        ],
    ),
    (
        "partial-overlap",
        _set("customer-789", network_vpc_cidr="10.1.0.0/19"),
        [],
        ["customer-789: network_vpc_cidr", "of customer-123", "of customer-456"],
    ),
    (
        "malformed",
        _set("customer-456", network_vpc_cidr="10.1.300.0/20"),
        [],
        ["customer-456: network_vpc_cidr: '10.1.300.0/20' is malformed"],
    ),
    (
        "host-bits",
        _set("customer-456", network_vpc_cidr="10.1.17.0/20"),
        [],
        ["customer-456: network_vpc_cidr: '10.1.17.0/20' has host bits set"],
    ),
    (
        "outside-supernet",
        _set("customer-123", network_vpc_cidr="192.168.0.0/20"),
        [],
        ["customer-123: network_vpc_cidr: 192.168.0.0/20 is outside the allowed supernets (10.0.0.0/8)"],
    ),
    (
        "az-count-above-region",
        None,
        ["-e", "platform_aws_region=us-west-1", "-e", "network_az_count=3"],
        ["network_az_count: 3 availability zones wanted, region us-west-1 has 2 (us-west-1a, us-west-1b)"],
    ),
    (
        "vpc-quota",
        _add("customer-991", "customer-992", "customer-993"),
        [],
        [
            "env=local: quota L-F678F1CE: VPCs per Region (service vpc) is 5 (Service Quotas)",
            "request an increase of L-F678F1CE",
            "customer-991, customer-992, customer-993",
        ],
    ),
]


@pytest.fixture(scope="module")
def preflight_runs(converged, tmp_path_factory, request_log):
    def run(case):
        name, mutate, extra, _expected = case
        fleet = copy.deepcopy(load_fleet())
        if mutate:
            mutate(fleet)
        inventory = write_inventory(tmp_path_factory.mktemp("net-" + name), fleet)
        return name, run_playbook("site.yml", "-i", str(inventory), "-e", "env=local", *extra)

    mark = request_log.mark()
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = dict(pool.map(run, PREFLIGHT_CASES))
    return runs, request_log.mutating_since(mark)


@pytest.mark.parametrize("case", PREFLIGHT_CASES, ids=[c[0] for c in PREFLIGHT_CASES])
def test_preflight_rejects(preflight_runs, case):
    name, _mutate, _extra, expected = case
    run = preflight_runs[0][name]
    assert run.rc != 0, "preflight accepted %s" % name
    assert run.changed == 0
    messages = "\n".join(run.failure_messages())
    for text in expected:
        assert text in messages, (text, messages)


def test_preflight_rejections_made_no_mutating_request(preflight_runs):
    assert preflight_runs[1] == []


def test_flow_log_role_is_assumable_only_by_flow_logs_of_this_account(state, aws):
    """Confused-deputy protection: the delivery role trusts vpc-flow-logs.amazonaws.com for this account's flow
    logs only (aws:SourceAccount + aws:SourceArn)."""
    role = aws("iam").get_role(RoleName="mfg-%s-vpc-flow-logs" % ENV)["Role"]
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "123456789012"},
        "ArnLike": {"aws:SourceArn": "arn:aws:ec2:*:123456789012:vpc-flow-log/*"},
    }


DRIFT_PLAY = """
- name: Storage and network of the shared layer (one-role converge; storage publishes the account id)
""" + SHARED_HOST_PLAY_HEADER + """  roles:
    - role: manufacturing.platform.storage
    - role: manufacturing.platform.network
"""


# after the fourth tenant is gone: the drift play converges the shared layer with the reference inventory
@pytest.mark.runs_last(order=2)
def test_an_endpoint_policy_opened_by_hand_is_put_back(state, aws, tmp_path):
    """Drift: the shared VPC's S3 gateway endpoint is opened to any principal by hand; the next converge puts the
    account-only policy back with one ModifyVpcEndpoint, and nothing else of the network changes."""
    ec2 = aws("ec2")
    shared = items(state, "vpce", vpc_of(state, "shared")["VpcId"])
    (endpoint,) = [e for e in shared if e["ServiceName"].endswith(".s3")]
    ident = endpoint["VpcEndpointId"]
    opened = {"Version": "2012-10-17",
              "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]}
    ec2.modify_vpc_endpoint(VpcEndpointId=ident, PolicyDocument=json.dumps(opened))
    playbook = tmp_path / "drift.yml"
    playbook.write_text(DRIFT_PLAY)
    run = run_playbook(str(playbook), "-e", "env=local", "--limit", "platform-shared")
    assert run.rc == 0, run.explain()
    actions = [a for t, _h, r in run.task_results() if r.get("changed") for a in r.get("actions", [])]
    assert actions == ["modify endpoint mfg-local-shared-s3: PolicyDocument=<endpoint_policy>"], actions
    now = ec2.describe_vpc_endpoints(VpcEndpointIds=[ident])["VpcEndpoints"][0]["PolicyDocument"]
    (statement,) = (json.loads(now) if isinstance(now, str) else now)["Statement"]
    assert statement["Condition"] == {"StringEquals": {"aws:PrincipalAccount": "123456789012"}}


# after the fourth tenant is gone: the drift play converges the shared layer with the reference inventory
@pytest.mark.runs_last(order=2)
def test_network_acls_changed_by_hand_are_put_back(state, aws, tmp_path, request_log):
    """Drift: SSH opened on the shared VPC's public ACL, a private subnet moved back to the default ACL and the
    default ACL reopened, by hand; one converge of the role undoes exactly that (three requests)."""
    ec2 = aws("ec2")
    vpc = vpc_of(state, "shared")
    acls = {tags(a).get("NetworkRole", "default"): a for a in items(state, "nacl", vpc["VpcId"])}
    public, private, default = acls["nacl:public"], acls["nacl:private"], acls["default"]
    ec2.create_network_acl_entry(NetworkAclId=public["NetworkAclId"], RuleNumber=90, Protocol="6", RuleAction="allow",
                                 Egress=False, CidrBlock="0.0.0.0/0", PortRange={"From": 22, "To": 22})
    ec2.create_network_acl_entry(NetworkAclId=default["NetworkAclId"], RuleNumber=100, Protocol="-1",
                                 RuleAction="allow", Egress=False, CidrBlock="0.0.0.0/0")
    moved = sorted(private["Associations"], key=lambda a: a["SubnetId"])[0]
    ec2.replace_network_acl_association(AssociationId=moved["NetworkAclAssociationId"],
                                        NetworkAclId=default["NetworkAclId"])
    az = next(s["AvailabilityZone"] for s in items(state, "subnet") if s["SubnetId"] == moved["SubnetId"])
    playbook = tmp_path / "drift.yml"
    playbook.write_text(DRIFT_PLAY)
    mark = request_log.mark()
    run = run_playbook(str(playbook), "-e", "env=local", "--limit", "platform-shared")
    assert run.rc == 0, run.explain()
    actions = [a for t, _h, r in run.task_results() if r.get("changed") for a in r.get("actions", [])]
    assert actions == [
        "delete network ACL entry mfg-local-shared-public ingress 90: allow tcp 22 from 0.0.0.0/0",
        "associate subnet mfg-local-shared-private-%s with network ACL mfg-local-shared-private" % az,
        "delete network ACL entry default of mfg-local-shared ingress 100: allow all from 0.0.0.0/0",
    ], actions
    mutating = [e["action"] for e in request_log.mutating_since(mark) if e["service"] == "ec2"]
    assert sorted(mutating) == ["DeleteNetworkAclEntry", "DeleteNetworkAclEntry", "ReplaceNetworkAclAssociation"]
    now = {a["NetworkAclId"]: a for a in ec2.describe_network_acls(
        Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["NetworkAcls"]}
    assert acl_entries(now[public["NetworkAclId"]]) == tier_acl_entries(vpc["CidrBlock"])
    assert acl_entries(now[default["NetworkAclId"]]) == set()
    assert now[default["NetworkAclId"]]["Associations"] == []
    assert {a["SubnetId"] for a in now[private["NetworkAclId"]]["Associations"]} == {
        a["SubnetId"] for a in private["Associations"]}
