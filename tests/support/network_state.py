"""The network role's resources in the local cloud as comparable data (test_network, the onboarding fixture)."""

from __future__ import annotations

import json

ENV = "local"


def tags(item):
    return {t["Key"]: t["Value"] for t in item.get("Tags") or []}


def env_filters():
    return [{"Name": "tag:Platform", "Values": ["manufacturing"]}, {"Name": "tag:Environment", "Values": [ENV]}]


def platform_vpcs(ec2):
    vpcs = ec2.describe_vpcs(Filters=env_filters() + [{"Name": "tag:NetworkRole", "Values": ["vpc"]}])["Vpcs"]
    return {tags(v).get("Tenant", "shared"): v for v in vpcs}


def snapshot(ec2):
    """Everything the role manages in the environment, keyed by id, as comparable data."""
    vpc_ids = [v["VpcId"] for v in platform_vpcs(ec2).values()]
    flt = [{"Name": "vpc-id", "Values": vpc_ids}]
    snap = {}
    for key, method, list_key, id_key, kwargs in (
        ("vpc", "describe_vpcs", "Vpcs", "VpcId", {"VpcIds": vpc_ids}),
        ("subnet", "describe_subnets", "Subnets", "SubnetId", {"Filters": flt}),
        ("rtb", "describe_route_tables", "RouteTables", "RouteTableId", {"Filters": flt}),
        ("sg", "describe_security_groups", "SecurityGroups", "GroupId", {"Filters": flt}),
        ("nacl", "describe_network_acls", "NetworkAcls", "NetworkAclId", {"Filters": flt}),
        ("nat", "describe_nat_gateways", "NatGateways", "NatGatewayId", {"Filter": flt}),
        ("vpce", "describe_vpc_endpoints", "VpcEndpoints", "VpcEndpointId", {"Filters": flt}),
        (
            "igw",
            "describe_internet_gateways",
            "InternetGateways",
            "InternetGatewayId",
            {"Filters": [{"Name": "attachment.vpc-id", "Values": vpc_ids}]},
        ),
        ("pcx", "describe_vpc_peering_connections", "VpcPeeringConnections", "VpcPeeringConnectionId", {}),
        ("fl", "describe_flow_logs", "FlowLogs", "FlowLogId", {}),
    ):
        for item in getattr(ec2, method)(**kwargs)[list_key]:
            item = json.loads(json.dumps(item, default=str))
            for volatile in ("CreationTimestamp", "CreateTime", "CreationTime", "ExpirationTime"):
                item.pop(volatile, None)
            if key == "pcx" and item["Status"]["Code"] in ("deleted", "rejected", "failed", "expired"):
                continue
            snap["%s/%s" % (key, item[id_key])] = item
    return snap
