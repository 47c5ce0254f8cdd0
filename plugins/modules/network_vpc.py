#!/usr/bin/python
# ruff: noqa: EXE001 - Ansible modules carry a shebang but are not executable files
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: network_vpc
short_description: Manage one platform VPC and everything in it with a handful of API calls
version_added: 1.0.0
description:
  - Converges B(one) VPC of the manufacturing platform in one task - the VPC, public / private / isolated
    subnets per availability zone, internet gateway, Elastic IPs and NAT gateways, route tables and their
    associations, a network ACL per tier, security groups and their rules, the S3 gateway endpoint
    and interface endpoints, the flow-log group and the VPC flow log - and, for a shared-tier tenant, the VPC
    peering connection to the shared data VPC with the routes and security group rules on both sides.
  - Everything is found again by tags. The VPC is the one whose O(match_tags) equal O(tags) (a key listed in
    O(match_tags) but missing from O(tags) must be absent from the VPC); the resources inside it are
    recognised by the C(NetworkRole) tag the module sets. Untagged resources are never touched, except the
    subnet associations the module needs and the VPC's default security group and default network ACL, which
    it keeps closed (see O(tier_network_acls)).
  - The current state is read with one Describe call per resource type, the differences are computed and
    only they are applied. A run that changes nothing costs about fifteen read requests whatever the size of
    the VPC. Nothing sleeps for a fixed time; the module only polls NAT gateways it has just created (routes
    need them available) and, on deletion, resources whose removal is asynchronous.
  - In check mode no mutating call is made; RV(actions) lists what would be done and, with C(--diff), the
    diff shows the compared attributes before and after.
  - With O(state=absent) everything the module manages for the VPC is removed in reverse order (peering routes
    and rules on the shared side first). The shared data VPC is not removed while tenant VPCs are peered to it.
author:
  - Manufacturing Platform Team (@manufacturing-platform)
options:
  state:
    description: V(present) converges the VPC, V(absent) removes it and everything the module created in it.
    type: str
    choices: [present, absent]
    default: present
  name:
    description:
      - Name prefix of every resource (C(Name) tag), for example C(mfg-prod-customer-123) or C(mfg-prod-shared).
    type: str
    required: true
  cidr_block:
    description:
      - IPv4 CIDR of the VPC, C(/16) to C(/24). Required with O(state=present).
      - The CIDR of an existing VPC cannot be changed; a different value is an error.
    type: str
  tags:
    description:
      - Tags set on every resource (the module adds C(Name) and C(NetworkRole)).
    type: dict
    required: true
  match_tags:
    description:
      - Tag keys that identify the VPC (its scope). Keys in this list that are not in O(tags) must be absent.
    type: list
    elements: str
    default: [Platform, Environment, Tenant]
  az_count:
    description: Number of availability zones (the first ones of the region, in name order).
    type: int
    default: 2
  availability_zones:
    description: Explicit availability zone names (overrides O(az_count)).
    type: list
    elements: str
  nat_gateway_count:
    description:
      - Number of NAT gateways (one per AZ, in AZ order, at most the number of AZs). Private route tables of AZs
        without a NAT gateway use the first one. V(0) gives the private tier no default route.
    type: int
    default: 1
  interface_endpoints:
    description: Services that get an interface VPC endpoint (private DNS) in the private subnets.
    type: list
    elements: str
    default: [secretsmanager, kms, sns, logs, sts]
  s3_gateway_endpoint:
    description: Create the S3 gateway endpoint on the private route tables.
    type: bool
    default: true
  endpoint_policy:
    description:
      - Policy document of every VPC endpoint of the VPC (the S3 gateway endpoint and the interface endpoints), set
        when an endpoint is created and put back when it differs (compared as policies, not as text).
      - Omit to leave the endpoints' policies alone (AWS's default policy allows any principal, any action).
      - The network role passes one that admits only principals of the platform's account (C(aws:PrincipalAccount)).
    type: json
  lambda_security_group:
    description: Create the Lambda security group (egress only to the data groups and the endpoints).
    type: bool
    default: true
  data_security_groups:
    description:
      - Create the data security groups (one per key of O(data_ports)) in this VPC.
      - Their ingress comes only from the Lambda group of this VPC (dedicated tenants) or from the Lambda
        groups of peered tenants (the shared data VPC, whose tenants add their own rules).
    type: bool
    default: false
  data_ports:
    description: Data store name to TCP port.
    type: dict
    default: {postgres: 5432, timescaledb: 5432, msk: 9098}
  peer_supernets:
    description:
      - Networks from which the isolated tier's network ACL admits the data ports (and to which it lets
        replies out). Set it for the shared data VPC; tenant VPCs leave it empty.
    type: list
    elements: str
    default: []
  tier_network_acls:
    description:
      - Give the public and the private tier a network ACL of their own (C(NetworkRole) V(nacl:public) and
        V(nacl:private)), like the isolated tier's, and close the VPC's default network ACL, which then no
        subnet uses (its entries are removed, so it denies everything).
      - Inbound, both tiers admit all traffic from the VPC CIDR and, from anywhere, the replies to what they open
        themselves (network ACLs are stateless) - TCP and UDP 1024-65535 and ICMP fragmentation-needed - but
        never TCP 3389, which an explicit deny excludes from the TCP range. Nothing below port 1024 (SSH
        included) is open from outside the VPC. Outbound, everything (the security groups restrict egress).
      - V(false) puts the public and private subnets back on the default network ACL with EC2's default entries
        (all traffic in and out) and deletes their own ACLs.
    type: bool
    default: true
  shared_vpc_tags:
    description:
      - Identity tags of the shared data VPC to peer with (a shared-tier tenant). The module creates and accepts
        the peering connection, routes the private tier of this VPC to the isolated tier of the shared VPC (and
        back, only for this VPC's private tier) and lets this VPC's Lambda group reach the shared data groups.
      - The shared VPC must exist (converge the shared layer first); in check mode a missing shared VPC is only
        reported.
    type: dict
  flow_log:
    description: The VPC flow log and its CloudWatch Logs group.
    type: dict
    suboptions:
      log_group_name:
        description: Name of the log group.
        type: str
        required: true
      kms_key_id:
        description: ARN of the KMS key that encrypts the log group.
        type: str
        required: true
      retention_days:
        description: Retention of the log group in days.
        type: int
        required: true
      role_arn:
        description: IAM role that lets the flow log service write to the group.
        type: str
        required: true
      traffic_type:
        description: Traffic to log.
        type: str
        choices: [ACCEPT, REJECT, ALL]
        default: ALL
  delete_log_group:
    description: With O(state=absent), also delete the flow-log group (by default the logs are kept until they expire).
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait for NAT gateways, endpoints and peering connections where the API is asynchronous.
    type: int
    default: 600
notes:
  - Supports check mode and diff mode.
  - The VPC CIDR plan (tiers as contiguous quarters of the VPC, one subnet per AZ in each) comes from
    C(manufacturing.platform.network_cidr); see the network role's README.
requirements:
  - python >= 3.9
  - boto3
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Shared data VPC of the environment
  manufacturing.platform.network_vpc:
    name: mfg-prod-shared
    cidr_block: 10.0.0.0/20
    tags: {Platform: manufacturing, Environment: prod, ManagedBy: ansible-manufacturing.platform}
    az_count: 3
    nat_gateway_count: 3
    lambda_security_group: false
    data_security_groups: true
    peer_supernets: [10.0.0.0/8]
    flow_log:
      log_group_name: /mfg-prod/shared/network/flow-logs
      kms_key_id: arn:aws:kms:eu-west-1:123456789012:key/0f8b5e0c-1111-2222-3333-444455556666
      retention_days: 365
      role_arn: arn:aws:iam::123456789012:role/mfg-prod-vpc-flow-logs
  register: shared_network

- name: Tenant VPC peered to the shared data VPC
  manufacturing.platform.network_vpc:
    name: mfg-prod-customer-456
    cidr_block: 10.1.16.0/20
    tags: {Platform: manufacturing, Environment: prod, ManagedBy: ansible-manufacturing.platform,
           Tenant: customer-456, Tier: shared}
    az_count: 3
    shared_vpc_tags: {Platform: manufacturing, Environment: prod, ManagedBy: ansible-manufacturing.platform}
    flow_log:
      log_group_name: /mfg-prod/customer-456/network/flow-logs
      kms_key_id: "{{ storage_kms_key_arn }}"
      retention_days: 365
      role_arn: arn:aws:iam::123456789012:role/mfg-prod-vpc-flow-logs

- name: Remove a tenant's network
  manufacturing.platform.network_vpc:
    state: absent
    name: mfg-prod-customer-456
    tags: {Platform: manufacturing, Environment: prod, ManagedBy: ansible-manufacturing.platform,
           Tenant: customer-456, Tier: shared}
    shared_vpc_tags: {Platform: manufacturing, Environment: prod, ManagedBy: ansible-manufacturing.platform}
"""

RETURN = r"""
network:
  description:
    - The VPC's resource ids (what later roles consume). Ids of resources that check mode would create are null.
  returned: state=present
  type: dict
  contains:
    vpc_id: {description: VPC id., type: str, sample: vpc-0123456789abcdef0}
    cidr_block: {description: VPC CIDR., type: str, sample: 10.1.16.0/20}
    name: {description: Name prefix., type: str, sample: mfg-prod-customer-456}
    availability_zones:
      description: AZs used, in order.
      type: list
      elements: str
      sample: [eu-west-1a, eu-west-1b]
    subnets:
      description: Tier -> AZ -> subnet id.
      type: dict
      sample: {private: {eu-west-1a: subnet-0a}, public: {eu-west-1a: subnet-0b}, isolated: {eu-west-1a: subnet-0c}}
    subnet_ids:
      description: Tier -> subnet ids in AZ order.
      type: dict
      sample: {private: [subnet-0a], public: [subnet-0b], isolated: [subnet-0c]}
    subnet_cidrs:
      description: Tier -> subnet CIDRs in AZ order.
      type: dict
      sample: {private: [10.1.20.0/24], public: [10.1.16.0/24], isolated: [10.1.24.0/24]}
    route_table_ids:
      description: C(public) and C(isolated) route table ids and C(private) (AZ -> id).
      type: dict
      sample: {public: rtb-01, isolated: rtb-02, private: {eu-west-1a: rtb-03}}
    security_group_ids:
      description: Role (lambda, endpoints, postgres, timescaledb, msk) -> group id, for the groups of this VPC.
      type: dict
      sample: {lambda: sg-01, endpoints: sg-02}
    internet_gateway_id: {description: Internet gateway id., type: str, sample: igw-01}
    nat_gateway_ids: {description: NAT gateway ids in AZ order., type: list, elements: str, sample: [nat-01]}
    network_acl_id: {description: Network ACL of the isolated tier., type: str, sample: acl-01}
    network_acl_ids:
      description:
        - Tier -> the network ACL its subnets use - the tier's own, or the VPC's default one for the public and
          private tiers with O(tier_network_acls=false).
      type: dict
      sample: {public: acl-02, private: acl-03, isolated: acl-01}
    vpc_endpoint_ids:
      description: Service name (V(s3), V(kms), ...) -> endpoint id.
      type: dict
      sample: {s3: vpce-01}
    flow_log_id: {description: Flow log id., type: str, sample: fl-01}
    flow_log_group:
      description: Flow-log group name.
      type: str
      sample: /mfg-prod/customer-456/network/flow-logs
    peering:
      description: For a peered tenant VPC, the peering connection and the shared VPC; empty otherwise.
      type: dict
      sample: {id: pcx-01, shared_vpc_id: vpc-02, status: active}
    data:
      description:
        - Where this scope's data stores live - the shared data VPC for a shared-tier tenant, this VPC otherwise -
          with its isolated subnets and data security groups.
      type: dict
      sample:
        vpc_id: vpc-02
        subnet_ids: [subnet-0c]
        security_group_ids: {postgres: sg-03, timescaledb: sg-04, msk: sg-05}
actions:
  description: Human-readable operations done, in order (in check mode the operations that would be done).
  returned: always
  type: list
  elements: str
  sample: ["create subnet mfg-prod-customer-456-private-eu-west-1a 10.1.20.0/24"]
"""

import json
import time

try:  # noqa: SIM105 - the usual optional-import pattern of AWS modules
    import botocore
except ImportError:
    pass  # caught by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.policy import compare_policies
from ansible_collections.amazon.aws.plugins.module_utils.tagging import (
    ansible_dict_to_boto3_tag_list,
    boto3_tag_list_to_ansible_dict,
)
from ansible_collections.manufacturing.platform.plugins.module_utils import aws_retry
from ansible_collections.manufacturing.platform.plugins.module_utils import network_cidr as cidrplan
from ansible_collections.manufacturing.platform.plugins.module_utils import network_model as model

ROLE = model.ROLE_TAG
DATA_ROLES_ORDER = ("postgres", "timescaledb", "msk")
GONE_STATES = ("deleted", "deleting", "failed", "rejected", "expired")
RETRY_CODES = [
    "InvalidVpcID.NotFound",
    "InvalidSubnetID.NotFound",
    "InvalidRouteTableID.NotFound",
    "InvalidInternetGatewayID.NotFound",
    "InvalidGroup.NotFound",
    "InvalidNatGatewayID.NotFound",
    "InvalidVpcPeeringConnectionID.NotFound",
    "InvalidAllocationID.NotFound",
    "InvalidNetworkAclID.NotFound",
]


def _policy(document):
    """An endpoint's PolicyDocument (JSON text, or already parsed) as a dict; {} when it has none or it is not JSON."""
    if isinstance(document, dict):
        return document
    try:
        return json.loads(document or "{}")
    except ValueError:
        return {}


def _tags(item):
    return boto3_tag_list_to_ansible_dict(item.get("Tags") or item.get("TagSet") or [])


def _state(item):
    value = item.get("State")
    if isinstance(value, dict):
        return value.get("Name") or value.get("Code")
    return value


class NetworkVpc:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.check = module.check_mode
        # Writes and reads by id also wait for a just-created resource to become visible (RETRY_CODES);
        # filtered, paginated reads retry throttling and server faults only.
        self.ec2 = aws_retry.client(module, "ec2", extra_codes=RETRY_CODES)
        self.read_retry = aws_retry.retry_decorator()
        self._logs = None
        self.region = self.ec2.meta.region_name
        self.actions = []
        self.before = {}
        self.after = {}
        self.name = self.params["name"]
        self.base_tags = dict(self.params["tags"] or {})
        self.vpc = None
        self.shared_vpc = None
        self.subnets = {}  # (tier, az) -> subnet dict (or placeholder)
        self.route_tables = {}  # role -> table dict
        self.shared_route_tables = {}
        self.sgs = {}  # role -> group dict
        self.default_sg = None  # the VPC's default security group (kept closed)
        self.shared_sgs = {}
        self.nats = []
        self.igw = None
        self.nacls = {}  # tier -> network ACL of the platform (the isolated tier's; public, private)
        self.default_nacl = None  # the VPC's default network ACL (closed with tier_network_acls)
        self.endpoints = {}
        self.peering = None
        self.flow_log = None

    # ---------------------------------------------------------------- helpers
    @property
    def logs(self):
        if self._logs is None:
            self._logs = aws_retry.client(self.module, "logs")
        return self._logs

    def fail(self, msg, **kwargs):
        self.module.fail_json(msg=msg, actions=self.actions, **kwargs)

    def call(self, what, method, **kwargs):
        try:
            return method(aws_retry=True, **kwargs)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            self.module.fail_json_aws(e, msg="%s failed (after: %s)" % (what, "; ".join(self.actions) or "nothing"))

    def do(self, text, method=None, **kwargs):
        """Record an action; perform it unless in check mode. Returns the response (None in check mode)."""
        self.actions.append(text)
        if self.check or method is None:
            return None
        return self.call(text, method, **kwargs)

    def resource_tags(self, role, name):
        tags = dict(self.base_tags)
        tags["Name"] = name
        tags[ROLE] = role
        return tags

    def tag_spec(self, resource_type, role, name):
        return [{"ResourceType": resource_type, "Tags": ansible_dict_to_boto3_tag_list(self.resource_tags(role, name))}]

    def ensure_tags(self, resource_id, current, role, name):
        missing = model.tags_to_set(current, self.resource_tags(role, name))
        if missing and resource_id:
            self.do(
                "tag %s (%s): %s" % (name, resource_id, ", ".join("%s=%s" % kv for kv in sorted(missing.items()))),
                self.ec2.create_tags,
                Resources=[resource_id],
                Tags=ansible_dict_to_boto3_tag_list(missing),
            )

    def describe(self, what, method, key, **kwargs):
        try:
            if self.ec2.can_paginate(method):
                return aws_retry.paginate(self.ec2, method, self.read_retry, **kwargs).get(key, [])
            return getattr(self.ec2, method)(aws_retry=True, **kwargs).get(key, [])
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            self.module.fail_json_aws(e, msg="reading %s failed" % what)

    def owns(self, item, role=None):
        tags = _tags(item)
        if any(tags.get(k) != v for k, v in self.identity().items()):
            return False
        if any(k in tags for k in self.params["match_tags"] if k not in self.base_tags):
            return False
        return role is None or tags.get(ROLE) == role

    def identity(self):
        return {k: v for k, v in self.base_tags.items() if k in self.params["match_tags"]}

    def is_shared_scope(self, tags):
        want = self.params["shared_vpc_tags"] or {}
        if any(tags.get(k) != v for k, v in want.items() if k in self.params["match_tags"]):
            return False
        return not any(k in tags for k in self.params["match_tags"] if k not in want)

    def vpc_ids(self):
        ids = [v["VpcId"] for v in (self.vpc, self.shared_vpc) if v and v.get("VpcId")]
        return ids

    # ---------------------------------------------------------------- reads
    def availability_zones(self):
        if self.params["availability_zones"]:
            return list(self.params["availability_zones"])
        zones = self.describe(
            "availability zones",
            "describe_availability_zones",
            "AvailabilityZones",
            Filters=[{"Name": "state", "Values": ["available"]}],
        )
        names = sorted(z["ZoneName"] for z in zones if z.get("ZoneType", "availability-zone") == "availability-zone")
        count = self.params["az_count"]
        if count > len(names):
            self.fail(
                "az_count=%d but region %s has only %d availability zones (%s)"
                % (count, self.region, len(names), ", ".join(names))
            )
        return names[:count]

    def find_vpcs(self):
        filters = [{"Name": "tag:%s" % k, "Values": [v]} for k, v in sorted(self.identity().items()) if k != "Tenant"]
        vpcs = [
            v for v in self.describe("VPCs", "describe_vpcs", "Vpcs", Filters=filters) if v.get("State") != "deleted"
        ]
        mine = [v for v in vpcs if self.owns(v, "vpc")]
        if len(mine) > 1:
            self.fail(
                "%d VPCs carry the tags of %s (%s): refusing to guess; remove the duplicates"
                % (len(mine), self.name, ", ".join(v["VpcId"] for v in mine))
            )
        self.vpc = mine[0] if mine else None
        if self.params["shared_vpc_tags"]:
            shared = [v for v in vpcs if _tags(v).get(ROLE) == "vpc" and self.is_shared_scope(_tags(v))]
            if len(shared) > 1:
                self.fail(
                    "%d shared data VPCs found (%s): refusing to guess"
                    % (len(shared), ", ".join(v["VpcId"] for v in shared))
                )
            self.shared_vpc = shared[0] if shared else None

    # ---------------------------------------------------------------- present
    def ensure_vpc(self):
        cidr = self.params["cidr_block"]
        self.after["vpc"] = {"cidr_block": cidr, "dns_support": True, "dns_hostnames": True}
        if self.vpc is None:
            self.before["vpc"] = None
            resp = self.do(
                "create VPC %s %s" % (self.name, cidr),
                self.ec2.create_vpc,
                CidrBlock=cidr,
                TagSpecifications=self.tag_spec("vpc", "vpc", self.name),
            )
            if resp:
                self.vpc = resp["Vpc"]
                waiter = aws_retry.retrying_waiter(self.ec2, "vpc_available")
                waiter.wait(VpcIds=[self.vpc["VpcId"]], WaiterConfig={"Delay": 2, "MaxAttempts": 60})
                for attr in ("EnableDnsSupport", "EnableDnsHostnames"):
                    self.call(
                        "enable %s" % attr,
                        self.ec2.modify_vpc_attribute,
                        VpcId=self.vpc["VpcId"],
                        **{attr: {"Value": True}},
                    )
            else:
                self.vpc = {"VpcId": None, "CidrBlock": cidr, "Tags": []}
            self.actions.append("enable DNS support and hostnames on VPC %s" % self.name)
            return
        vpc_id = self.vpc["VpcId"]
        if self.vpc["CidrBlock"] != cidr:
            self.fail(
                "VPC %s (%s) has CIDR %s, the plan says %s; a VPC's CIDR cannot be changed (migrate the "
                "tenant or set network_vpc_cidr back to %s)"
                % (self.name, vpc_id, self.vpc["CidrBlock"], cidr, self.vpc["CidrBlock"])
            )
        self.ensure_tags(vpc_id, _tags(self.vpc), "vpc", self.name)
        before = {"cidr_block": self.vpc["CidrBlock"]}
        for attr, key in (("enableDnsSupport", "dns_support"), ("enableDnsHostnames", "dns_hostnames")):
            resp = self.call("describe VPC attribute", self.ec2.describe_vpc_attribute, VpcId=vpc_id, Attribute=attr)
            value = resp.get(attr[0].upper() + attr[1:], {}).get("Value", False)
            before[key] = value
            if not value:
                self.do(
                    "enable %s on VPC %s" % (attr, self.name),
                    self.ec2.modify_vpc_attribute,
                    VpcId=vpc_id,
                    **{attr[0].upper() + attr[1:]: {"Value": True}},
                )
        self.before["vpc"] = before

    def ensure_igw(self):
        vpc_id = self.vpc["VpcId"]
        name = "%s-igw" % self.name
        self.after["internet_gateway"] = {"attached": True}
        found = []
        if vpc_id:
            found = self.describe(
                "internet gateways",
                "describe_internet_gateways",
                "InternetGateways",
                Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}],
            )
        if found:
            self.igw = found[0]
            self.before["internet_gateway"] = {"attached": True}
            if self.owns(self.igw) or not _tags(self.igw).get(ROLE):
                self.ensure_tags(self.igw["InternetGatewayId"], _tags(self.igw), "igw", name)
            return
        self.before["internet_gateway"] = None
        resp = self.do(
            "create internet gateway %s" % name,
            self.ec2.create_internet_gateway,
            TagSpecifications=self.tag_spec("internet-gateway", "igw", name),
        )
        self.igw = resp["InternetGateway"] if resp else {"InternetGatewayId": None}
        self.do(
            "attach internet gateway %s to VPC %s" % (name, self.name),
            self.ec2.attach_internet_gateway if resp else None,
            InternetGatewayId=self.igw["InternetGatewayId"],
            VpcId=vpc_id,
        )

    def ensure_subnets(self, azs, plan):
        vpc_id = self.vpc["VpcId"]
        existing = []
        if self.vpc_ids():
            existing = self.describe(
                "subnets", "describe_subnets", "Subnets", Filters=[{"Name": "vpc-id", "Values": self.vpc_ids()}]
            )
        mine = {}
        for subnet in existing:
            tags = _tags(subnet)
            if subnet["VpcId"] == vpc_id and self.owns(subnet) and tags.get(ROLE, "").startswith("subnet:"):
                mine[tags[ROLE]] = subnet
            elif self.shared_vpc and subnet["VpcId"] == self.shared_vpc["VpcId"]:
                self.subnets.setdefault("shared", []).append(subnet)
        for tier in cidrplan.TIERS:
            for index, az in enumerate(azs):
                cidr = plan[tier][index]
                role = "subnet:%s:%s" % (tier, az)
                name = "%s-%s-%s" % (self.name, tier, az)
                self.after[role] = {"cidr_block": cidr, "availability_zone": az}
                subnet = mine.get(role)
                if subnet is None:
                    self.before[role] = None
                    resp = self.do(
                        "create subnet %s %s" % (name, cidr),
                        self.ec2.create_subnet if vpc_id else None,
                        VpcId=vpc_id,
                        CidrBlock=cidr,
                        AvailabilityZone=az,
                        TagSpecifications=self.tag_spec("subnet", role, name),
                    )
                    subnet = resp["Subnet"] if resp else {"SubnetId": None, "CidrBlock": cidr, "AvailabilityZone": az}
                else:
                    self.before[role] = {
                        "cidr_block": subnet["CidrBlock"],
                        "availability_zone": subnet["AvailabilityZone"],
                    }
                    if subnet["CidrBlock"] != cidr or subnet["AvailabilityZone"] != az:
                        self.fail(
                            "subnet %s (%s) is %s in %s, the plan says %s in %s; subnets cannot be changed in place"
                            % (name, subnet["SubnetId"], subnet["CidrBlock"], subnet["AvailabilityZone"], cidr, az)
                        )
                    self.ensure_tags(subnet["SubnetId"], _tags(subnet), role, name)
                    if subnet.get("MapPublicIpOnLaunch"):
                        # nothing of the platform needs a public IP: NAT gateways get Elastic IPs
                        self.do("disable auto-assigned public IPs on subnet %s (%s)" % (name, subnet["SubnetId"]),
                                self.ec2.modify_subnet_attribute, SubnetId=subnet["SubnetId"],
                                MapPublicIpOnLaunch={"Value": False})
                self.subnets[(tier, az)] = subnet

    def read_route_tables(self):
        tables = []
        if self.vpc_ids():
            tables = self.describe(
                "route tables",
                "describe_route_tables",
                "RouteTables",
                Filters=[{"Name": "vpc-id", "Values": self.vpc_ids()}],
            )
        mine, shared = {}, {}
        for table in tables:
            role = _tags(table).get(ROLE, "")
            if not role.startswith("rtb:"):
                continue
            if table["VpcId"] == self.vpc["VpcId"] and self.owns(table):
                mine[role] = table
            elif self.shared_vpc and table["VpcId"] == self.shared_vpc["VpcId"]:
                shared[role] = table
        return tables, mine, shared

    def ensure_route_tables(self, azs):
        vpc_id = self.vpc["VpcId"]
        tables, mine, shared = self.read_route_tables()
        self.shared_route_tables = shared
        wanted = ["rtb:public"] + ["rtb:private:%s" % az for az in azs] + ["rtb:isolated"]
        for role in wanted:
            name = "%s-%s" % (self.name, role[4:].replace(":", "-"))
            table = mine.get(role)
            if table is None:
                resp = self.do(
                    "create route table %s" % name,
                    self.ec2.create_route_table if vpc_id else None,
                    VpcId=vpc_id,
                    TagSpecifications=self.tag_spec("route-table", role, name),
                )
                table = resp["RouteTable"] if resp else {"RouteTableId": None, "Routes": [], "Associations": []}
            else:
                self.ensure_tags(table["RouteTableId"], _tags(table), role, name)
            self.route_tables[role] = table
        # Subnet associations: subnet id -> (association id, table id) over every table of the VPC.
        assoc = {}
        for table in tables:
            for a in table.get("Associations", []):
                if a.get("SubnetId") and _state(a.get("AssociationState") or {}) not in ("disassociated",):
                    assoc[a["SubnetId"]] = (a["RouteTableAssociationId"], table["RouteTableId"])
        for (tier, az), subnet in sorted((k, v) for k, v in self.subnets.items() if isinstance(k, tuple)):
            role = "rtb:private:%s" % az if tier == "private" else "rtb:%s" % tier
            table = self.route_tables[role]
            key = "association:%s:%s" % (tier, az)
            self.after[key] = role
            current = assoc.get(subnet["SubnetId"]) if subnet["SubnetId"] else None
            current_role = None
            if current:
                current_role = next(
                    (r for r, t in self.route_tables.items() if t["RouteTableId"] == current[1]), current[1]
                )
            self.before[key] = current_role
            if current and current[1] == table["RouteTableId"] and table["RouteTableId"]:
                continue
            text = "associate subnet %s-%s-%s with route table %s" % (self.name, tier, az, role)
            if current:
                self.do(
                    text + " (was %s)" % current_role,
                    self.ec2.replace_route_table_association if table["RouteTableId"] else None,
                    AssociationId=current[0],
                    RouteTableId=table["RouteTableId"],
                )
            else:
                self.do(
                    text,
                    self.ec2.associate_route_table if table["RouteTableId"] and subnet["SubnetId"] else None,
                    SubnetId=subnet["SubnetId"],
                    RouteTableId=table["RouteTableId"],
                )

    def ensure_nat_gateways(self, azs):
        vpc_id = self.vpc["VpcId"]
        count = min(self.params["nat_gateway_count"], len(azs))
        existing = []
        if vpc_id:
            existing = self.describe(
                "NAT gateways",
                "describe_nat_gateways",
                "NatGateways",
                Filter=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "state", "Values": ["pending", "available"]}],
            )
        mine = {}
        for nat in existing:
            role = _tags(nat).get(ROLE, "")
            if role.startswith("nat:") and self.owns(nat):
                mine[role] = nat
        created = []
        addresses = None
        for az in azs[:count]:
            role = "nat:%s" % az
            name = "%s-nat-%s" % (self.name, az)
            self.after[role] = {"subnet": "public-%s" % az}
            nat = mine.pop(role, None)
            subnet_id = self.subnets[("public", az)]["SubnetId"]
            if nat is not None:
                self.before[role] = {"subnet": "public-%s" % az if nat["SubnetId"] == subnet_id else nat["SubnetId"]}
                self.ensure_tags(nat["NatGatewayId"], _tags(nat), role, name)
                self.nats.append(nat)
                continue
            self.before[role] = None
            # Reuse an unattached Elastic IP this module allocated for the same NAT gateway (a run that failed
            # between allocation and NAT creation); never allocate a second one for the same role.
            if addresses is None:
                addresses = self.describe(
                    "Elastic IPs",
                    "describe_addresses",
                    "Addresses",
                    Filters=[{"Name": "tag:%s" % k, "Values": [v]} for k, v in sorted(self.identity().items())],
                )
            eip_role = "eip:%s" % az
            eip = next(
                (
                    a
                    for a in addresses
                    if _tags(a).get(ROLE) == eip_role
                    and self.owns(a)
                    and not a.get("AssociationId")
                    and _tags(a).get("Name") == "%s-eip" % name
                ),
                None,
            )
            if eip is None:
                resp = self.do(
                    "allocate Elastic IP %s-eip" % name,
                    self.ec2.allocate_address,
                    Domain="vpc",
                    TagSpecifications=self.tag_spec("elastic-ip", eip_role, "%s-eip" % name),
                )
                eip = resp or {"AllocationId": None}
            resp = self.do(
                "create NAT gateway %s in %s-public-%s" % (name, self.name, az),
                self.ec2.create_nat_gateway if subnet_id and eip["AllocationId"] else None,
                SubnetId=subnet_id,
                AllocationId=eip["AllocationId"],
                TagSpecifications=self.tag_spec("natgateway", role, name),
            )
            nat = resp["NatGateway"] if resp else {"NatGatewayId": None, "State": "pending"}
            self.nats.append(nat)
            if nat["NatGatewayId"]:
                created.append(nat["NatGatewayId"])
        surplus = []
        for role, nat in sorted(mine.items()):  # NAT gateways beyond the wanted count (e.g. prod sizing reduced)
            self.before[role] = {"subnet": nat["SubnetId"]}
            self.do(
                "delete NAT gateway %s (%s)" % (_tags(nat).get("Name", role), nat["NatGatewayId"]),
                self.ec2.delete_nat_gateway,
                NatGatewayId=nat["NatGatewayId"],
            )
            surplus.append(nat)
        if surplus and not self.check:
            self.wait("nat_gateway_deleted", NatGatewayIds=[n["NatGatewayId"] for n in surplus])
        for nat in surplus:
            for address in nat.get("NatGatewayAddresses", []):
                if address.get("AllocationId"):
                    self.do(
                        "release Elastic IP %s" % address["AllocationId"],
                        self.ec2.release_address,
                        AllocationId=address["AllocationId"],
                    )
        pending = created + [
            n["NatGatewayId"]
            for n in self.nats
            if n.get("State") == "pending" and n["NatGatewayId"] and n["NatGatewayId"] not in created
        ]
        if pending and not self.check:
            # Routes to a NAT gateway that is not available yet are accepted but black-holed until it is: wait.
            self.wait("nat_gateway_available", NatGatewayIds=pending)

    def wait(self, waiter_name, **kwargs):
        delay = 5
        waiter = aws_retry.retrying_waiter(self.ec2, waiter_name)
        try:
            waiter.wait(
                WaiterConfig={"Delay": delay, "MaxAttempts": max(1, self.params["wait_timeout"] // delay)}, **kwargs
            )
        except botocore.exceptions.WaiterError as e:
            self.module.fail_json_aws(
                e, msg="timed out waiting (%s) after: %s" % (waiter_name, "; ".join(self.actions))
            )

    def read_security_groups(self):
        groups = []
        if self.vpc_ids():
            groups = self.describe(
                "security groups",
                "describe_security_groups",
                "SecurityGroups",
                Filters=[{"Name": "vpc-id", "Values": self.vpc_ids()}],
            )
        mine, shared = {}, {}
        for group in groups:
            if group["GroupName"] == "default" and group["VpcId"] == self.vpc["VpcId"]:
                self.default_sg = group
            role = _tags(group).get(ROLE, "")
            if not role.startswith("sg:"):
                continue
            if group["VpcId"] == self.vpc["VpcId"] and self.owns(group):
                mine[role[3:]] = group
            elif self.shared_vpc and group["VpcId"] == self.shared_vpc["VpcId"]:
                shared[role[3:]] = group
        return mine, shared

    def wanted_groups(self):
        roles = ["endpoints"]
        if self.params["lambda_security_group"]:
            roles.append("lambda")
        if self.params["data_security_groups"]:
            roles.extend(self.data_roles())
        return roles

    def data_roles(self):
        ports = self.params["data_ports"]
        return [r for r in DATA_ROLES_ORDER if r in ports] + sorted(r for r in ports if r not in DATA_ROLES_ORDER)

    def ensure_security_groups(self):
        vpc_id = self.vpc["VpcId"]
        mine, shared = self.read_security_groups()
        self.shared_sgs = shared
        descriptions = {
            "endpoints": "Interface VPC endpoints: HTTPS from the VPC",
            "lambda": "Lambda functions: egress only to the data stores and the VPC endpoints",
        }
        for role in self.wanted_groups():
            name = "%s-%s" % (self.name, role)
            group = mine.pop(role, None)
            if group is None:
                resp = self.do(
                    "create security group %s" % name,
                    self.ec2.create_security_group if vpc_id else None,
                    VpcId=vpc_id,
                    GroupName=name,
                    Description=descriptions.get(
                        role, "%s: data port from the Lambda groups allowed to reach it" % role
                    ),
                    TagSpecifications=self.tag_spec("security-group", "sg:%s" % role, name),
                )
                group = {
                    "GroupId": resp["GroupId"] if resp else None,
                    "GroupName": name,
                    "VpcId": vpc_id,
                    # a new group comes with the default allow-all egress rule, which is removed below
                    "IpPermissions": [],
                    "IpPermissionsEgress": [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
                }
            else:
                self.ensure_tags(group["GroupId"], _tags(group), "sg:%s" % role, name)
            self.sgs[role] = group
        self.close_default_security_group()

    def close_default_security_group(self):
        """The VPC's default security group keeps no rule (CIS 5.4): nothing of the platform uses it, and anything
        placed in it by mistake reaches nothing and is reached by nothing."""
        group = getattr(self, "default_sg", None)
        if not group:
            return
        for key, method, direction in (("IpPermissions", self.ec2.revoke_security_group_ingress, "ingress"),
                                       ("IpPermissionsEgress", self.ec2.revoke_security_group_egress, "egress")):
            rules = group.get(key) or []
            if rules:
                self.do("remove the %d %s rule(s) of the default security group %s of %s"
                        % (len(rules), direction, group["GroupId"], self.name),
                        method, GroupId=group["GroupId"], IpPermissions=rules)

    def desired_rules(self):
        """{group role: set(rule)} for this VPC's groups, plus {shared group role: set(rule)} for peered tenants."""
        vpc_cidr = self.params["cidr_block"]
        ports = self.params["data_ports"]
        sg = {role: g["GroupId"] or "<new %s>" % g["GroupName"] for role, g in self.sgs.items()}
        own = {role: set() for role in self.sgs}
        shared = {}
        own["endpoints"].add((model.INGRESS, "tcp", 443, 443, "cidr", vpc_cidr))
        if "lambda" in sg:
            own["lambda"].add((model.EGRESS, "tcp", 443, 443, "sg", sg["endpoints"]))
            if self.s3_prefix_list:
                own["lambda"].add((model.EGRESS, "tcp", 443, 443, "pl", self.s3_prefix_list))
            if self.params["data_security_groups"]:
                data = sg
            elif self.peered():
                data = {role: g["GroupId"] for role, g in self.shared_sgs.items()}
            else:
                data = {}
            for role in self.data_roles():
                if role not in data:
                    continue
                own["lambda"].add((model.EGRESS, "tcp", ports[role], ports[role], "sg", data[role]))
                rule = (model.INGRESS, "tcp", ports[role], ports[role], "sg", sg["lambda"])
                if role in own:
                    own[role].add(rule)
                else:
                    shared.setdefault(role, set()).add(rule)
        return own, shared

    def peered(self):
        return bool(self.params["shared_vpc_tags"]) and self.shared_vpc is not None

    def ensure_rules(self):
        own, shared = self.desired_rules()
        names = {
            g["GroupId"]: "%s" % g.get("GroupName")
            for g in list(self.sgs.values()) + list(self.shared_sgs.values())
            if g.get("GroupId")
        }
        own_ids = {g["GroupId"] for g in self.sgs.values() if g.get("GroupId")}
        lambda_id = self.sgs.get("lambda", {}).get("GroupId")
        keeps_foreign = self.params["data_security_groups"] and not self.params["lambda_security_group"]

        def owned_here(rule):
            # The shared data VPC's groups also carry each peered tenant's rules (their Lambda groups): not ours.
            return not (keeps_foreign and rule[4] == "sg" and rule[5] not in own_ids)

        def owned_by_lambda(rule):
            return rule[4] == "sg" and rule[5] == lambda_id

        jobs = [(self.sgs[role], own[role], owned_here, "sg:%s" % role) for role in self.sgs]
        jobs += [
            (self.shared_sgs[role], rules, owned_by_lambda, "shared-sg:%s" % role)
            for role, rules in sorted(shared.items())
        ]
        if self.peered() and lambda_id:
            for role, group in sorted(self.shared_sgs.items()):
                if role not in shared:  # remove rules from my lambda group in shared groups I no longer need
                    jobs.append((group, set(), owned_by_lambda, "shared-sg:%s" % role))
        for group, desired, owned, key in jobs:
            current = model.rules_from_permissions(
                model.INGRESS, group.get("IpPermissions")
            ) | model.rules_from_permissions(model.EGRESS, group.get("IpPermissionsEgress"))
            if key.startswith("shared-sg:"):
                current = {r for r in current if owned(r)}
            self.before[key] = sorted(model.rule_text(r, names) for r in current if owned(r))
            self.after[key] = sorted(model.rule_text(r, names) for r in desired)
            add, remove = model.diff_rules(current, desired, owned)
            descriptions = model.rule_descriptions(group)
            gid = group.get("GroupId")
            label = group.get("GroupName", key)
            for direction in (model.INGRESS, model.EGRESS):
                rem = [r for r in remove if r[0] == direction]
                new = [r for r in add if r[0] == direction]
                if rem:
                    self.do(
                        "revoke %s on %s: %s" % (direction, label, ", ".join(model.rule_text(r, names) for r in rem)),
                        (
                            self.ec2.revoke_security_group_ingress
                            if direction == model.INGRESS
                            else self.ec2.revoke_security_group_egress
                        )
                        if gid
                        else None,
                        GroupId=gid,
                        IpPermissions=[model.permission_from_rule(r, descriptions.get(r)) for r in rem],
                    )
                if new:
                    ready = gid and all(not str(r[5]).startswith("<new") for r in new)
                    self.do(
                        "authorize %s on %s: %s"
                        % (direction, label, ", ".join(model.rule_text(r, names) for r in new)),
                        (
                            self.ec2.authorize_security_group_ingress
                            if direction == model.INGRESS
                            else self.ec2.authorize_security_group_egress
                        )
                        if ready
                        else None,
                        GroupId=gid,
                        IpPermissions=[model.permission_from_rule(r, self.name) for r in new],
                    )

    def ensure_peering(self):
        if not self.params["shared_vpc_tags"]:
            return
        if self.shared_vpc is None:
            if self.check:
                self.actions.append(
                    "peer VPC %s with the shared data VPC (not found: converge the shared layer first)" % self.name
                )
                return
            self.fail(
                "the shared data VPC (tags %s) was not found: run the shared layer first "
                "(ansible-playbook playbooks/shared.yml -e env=%s)"
                % (self.params["shared_vpc_tags"], self.base_tags.get("Environment", "<env>"))
            )
        vpc_id = self.vpc["VpcId"]
        shared_id = self.shared_vpc["VpcId"]
        name = "%s-to-shared" % self.name
        self.after["peering"] = {"peer": "shared", "status": "active"}
        found = []
        if vpc_id:
            found = [
                p
                for p in self.describe(
                    "peering connections",
                    "describe_vpc_peering_connections",
                    "VpcPeeringConnections",
                    Filters=[{"Name": "requester-vpc-info.vpc-id", "Values": [vpc_id]}],
                )
                # (filtered again here: not every EC2 implementation honours these filters)
                if p["RequesterVpcInfo"].get("VpcId") == vpc_id
                and p["AccepterVpcInfo"].get("VpcId") == shared_id
                and p["Status"]["Code"] not in GONE_STATES
            ]
        if found:
            self.peering = found[0]
            status = self.peering["Status"]["Code"]
            self.before["peering"] = {"peer": "shared", "status": status}
            self.ensure_tags(self.peering["VpcPeeringConnectionId"], _tags(self.peering), "peering:shared", name)
        else:
            self.before["peering"] = None
            resp = self.do(
                "create peering connection %s (%s -> shared VPC %s)" % (name, self.name, shared_id),
                self.ec2.create_vpc_peering_connection if vpc_id else None,
                VpcId=vpc_id,
                PeerVpcId=shared_id,
                TagSpecifications=self.tag_spec("vpc-peering-connection", "peering:shared", name),
            )
            self.peering = (
                resp["VpcPeeringConnection"]
                if resp
                else {"VpcPeeringConnectionId": None, "Status": {"Code": "pending-acceptance"}}
            )
            status = self.peering["Status"]["Code"]
            if resp:
                self.wait(
                    "vpc_peering_connection_exists", VpcPeeringConnectionIds=[self.peering["VpcPeeringConnectionId"]]
                )
                status = "pending-acceptance"
        if status in ("pending-acceptance", "initiating-request"):
            resp = self.do(
                "accept peering connection %s" % name,
                self.ec2.accept_vpc_peering_connection if self.peering["VpcPeeringConnectionId"] else None,
                VpcPeeringConnectionId=self.peering["VpcPeeringConnectionId"],
            )
            if resp:
                self.peering = resp["VpcPeeringConnection"]

    def ensure_routes(self, azs):
        igw = self.igw["InternetGatewayId"] if self.igw else None
        nat_ids = [n["NatGatewayId"] for n in self.nats]
        pcx = self.peering["VpcPeeringConnectionId"] if self.peering else None
        # One route per direction: the tier blocks of the CIDR plan (the shared VPC's isolated tier, this VPC's
        # private tier), whatever the number of AZs.
        shared_blocks = [cidrplan.tier_block(self.shared_vpc["CidrBlock"], "isolated")] if self.peered() else []
        own_private = [cidrplan.tier_block(self.params["cidr_block"], "private")]
        jobs = []
        desired = {"0.0.0.0/0": ("igw", igw or "<new igw>")}
        jobs.append(("rtb:public", self.route_tables["rtb:public"], desired))
        for index, az in enumerate(azs):
            desired = {}
            if nat_ids:
                desired["0.0.0.0/0"] = ("nat", nat_ids[index] if index < len(nat_ids) else nat_ids[0])
            if self.peered():
                for block in shared_blocks:
                    desired[block] = ("pcx", pcx or "<new peering>")
            jobs.append(("rtb:private:%s" % az, self.route_tables["rtb:private:%s" % az], desired))
        jobs.append(("rtb:isolated", self.route_tables["rtb:isolated"], {}))  # no default route, ever
        keeps_pcx = self.params["data_security_groups"] and not self.params["lambda_security_group"]
        for role, table, desired in jobs:
            current = model.current_routes(table)

            def owned(dest, target, _keeps=keeps_pcx):
                return not (_keeps and target[0] == "pcx")

            self._apply_routes(role, "%s-%s" % (self.name, role[4:].replace(":", "-")), table, current, desired, owned)
        if self.peered():
            table = self.shared_route_tables.get("rtb:isolated")
            if table is None:
                self.fail(
                    "the shared data VPC %s has no isolated route table (tag %s=rtb:isolated): converge the "
                    "shared layer first" % (self.shared_vpc["VpcId"], ROLE)
                )
            desired = {block: ("pcx", pcx or "<new peering>") for block in own_private}
            self._apply_routes(
                "shared-rtb:isolated:to:%s" % self.name,
                "shared isolated route table " + _tags(table).get("Name", table["RouteTableId"]),
                table,
                {d: t for d, t in model.current_routes(table).items() if d in desired or t == ("pcx", pcx)},
                desired,
                lambda d, t: t == ("pcx", pcx),
            )

    def _apply_routes(self, key, label, table, current, desired, owned):
        shown = {d: t for d, t in current.items() if t[0] not in ("local", "vpce")}
        self.before[key] = {d: t[0] for d, t in sorted(shown.items())}
        self.after[key] = {d: t[0] for d, t in sorted(desired.items())}
        create, replace, delete = model.diff_routes(current, desired, owned)
        rtb = table["RouteTableId"]
        for dest, target in create + replace:
            ready = rtb and not str(target[1]).startswith("<new")
            verb = "create" if (dest, target) in create else "replace"
            self.do(
                "%s route %s -> %s in %s" % (verb, dest, target[1], label),
                (self.ec2.create_route if verb == "create" else self.ec2.replace_route) if ready else None,
                RouteTableId=rtb,
                **(model.route_args(dest, target) if ready else {}),
            )
        for dest, target in delete:
            self.do(
                "delete route %s -> %s in %s" % (dest, target[1], label),
                self.ec2.delete_route,
                RouteTableId=rtb,
                **({"DestinationPrefixListId": dest} if dest.startswith("pl-") else {"DestinationCidrBlock": dest}),
            )

    def ensure_nacls(self, azs):
        """The network ACLs of the tiers, read with one Describe call.

        The isolated tier always has its own. With tier_network_acls the public and the private tier have theirs
        too and the VPC's default ACL, which then no subnet uses, is closed (no entry: everything denied, so a
        subnet created by hand in the VPC is reachable by nothing). Without it the public and private subnets use
        the default ACL with EC2's default entries (all traffic), and ACLs of theirs left from before are removed.
        """
        vpc_id = self.vpc["VpcId"]
        separate = self.params["tier_network_acls"]
        acls = []
        if vpc_id:
            acls = self.describe(
                "network ACLs", "describe_network_acls", "NetworkAcls", Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]
            )
        self.default_nacl = next((a for a in acls if a.get("IsDefault")), None)
        default_id = (self.default_nacl or {}).get("NetworkAclId")
        # A VPC created in check mode: its default ACL would come with EC2's default entries.
        default_current = (
            model.current_nacl_entries(self.default_nacl) if self.default_nacl else model.default_nacl_entries()
        )
        default_name = "default of %s" % self.name
        if not separate:
            # First let the default ACL admit the traffic again, then move the subnets back to it.
            self.converge_nacl_entries(
                default_id, default_name, "nacl:default", default_current, model.default_nacl_entries()
            )
        desired = {
            "isolated": model.nacl_entries(
                self.params["cidr_block"], self.params["peer_supernets"], self.params["data_ports"].values()
            ),
        }
        if separate:
            desired["public"] = desired["private"] = model.tier_nacl_entries(self.params["cidr_block"])
        stale = {}
        for tier in cidrplan.TIERS:
            role = "nacl:%s" % tier
            name = "%s-%s" % (self.name, tier)
            nacl = next((a for a in acls if self.owns(a, role)), None)
            if tier not in desired:
                if nacl is not None:
                    stale[tier] = nacl
                continue
            if nacl is None:
                resp = self.do(
                    "create network ACL %s" % name,
                    self.ec2.create_network_acl if vpc_id else None,
                    VpcId=vpc_id,
                    TagSpecifications=self.tag_spec("network-acl", role, name),
                )
                nacl = resp["NetworkAcl"] if resp else {"NetworkAclId": None, "Entries": [], "Associations": []}
            else:
                self.ensure_tags(nacl["NetworkAclId"], _tags(nacl), role, name)
            self.nacls[tier] = nacl
            self.converge_nacl_entries(
                nacl["NetworkAclId"], name, role, model.current_nacl_entries(nacl), desired[tier]
            )
        self.associate_nacls(azs, acls, default_id)
        if separate:
            # Closed only now that no subnet of the platform uses it any more.
            self.converge_nacl_entries(default_id, default_name, "nacl:default", default_current, {})
        for tier, nacl in sorted(stale.items()):
            role = "nacl:%s" % tier
            self.before[role] = model.nacl_entries_diff(model.current_nacl_entries(nacl))
            self.after[role] = None
            self.do(
                "delete network ACL %s-%s (%s)" % (self.name, tier, nacl["NetworkAclId"]),
                self.ec2.delete_network_acl,
                NetworkAclId=nacl["NetworkAclId"],
            )

    def converge_nacl_entries(self, acl_id, name, role, current, desired):
        """Create, replace and delete entries of one network ACL (acl_id None: it does not exist yet, check mode)."""
        self.before[role] = model.nacl_entries_diff(current)
        self.after[role] = model.nacl_entries_diff(desired)
        create, replace, delete = model.diff_nacl_entries(current, desired)
        for key, entry in create + replace:
            verb = "create" if (key, entry) in create else "replace"
            method = self.ec2.create_network_acl_entry if verb == "create" else self.ec2.replace_network_acl_entry
            self.do(
                "%s network ACL entry %s %s" % (verb, name, model.nacl_entry_text(key, entry)),
                method if acl_id else None,
                **model.nacl_entry_args(acl_id, key, entry),
            )
        for key in delete:
            self.do(
                "delete network ACL entry %s %s" % (name, model.nacl_entry_text(key, current[key])),
                self.ec2.delete_network_acl_entry if acl_id else None,
                NetworkAclId=acl_id,
                Egress=key[0],
                RuleNumber=key[1],
            )

    def associate_nacls(self, azs, acls, default_id):
        """Every subnet on its tier's ACL (a new subnet starts on the VPC's default ACL)."""
        assoc = {}
        for acl in acls:
            for a in acl.get("Associations", []):
                assoc[a["SubnetId"]] = (a["NetworkAclAssociationId"], acl["NetworkAclId"])
        labels = {default_id: "default"} if default_id else {}
        for acl in acls:  # the platform's ACLs, also those about to be deleted
            role = _tags(acl).get(ROLE, "")
            if role.startswith("nacl:") and self.owns(acl):
                labels[acl["NetworkAclId"]] = role[5:]
        for tier in cidrplan.TIERS:
            want = tier if tier in self.nacls else "default"
            target = self.nacls[tier]["NetworkAclId"] if tier in self.nacls else default_id
            for az in azs:
                subnet = self.subnets[(tier, az)]
                have = assoc.get(subnet["SubnetId"]) if subnet["SubnetId"] else None
                key = "nacl-association:%s:%s" % (tier, az)
                self.before[key] = labels.get(have[1], have[1]) if have else None
                self.after[key] = want
                if have and target and have[1] == target:
                    continue
                if have is None and subnet["SubnetId"] and not self.check:
                    # created in this run: read its default association
                    have = self._default_acl_association(subnet["SubnetId"])
                    if have[1] == target:
                        continue
                if want == "default" and have is None:
                    continue  # a subnet check mode would create starts on the default ACL
                acl_name = "%s-%s" % (self.name, tier) if want == tier else "default of %s" % self.name
                self.do(
                    "associate subnet %s-%s-%s with network ACL %s" % (self.name, tier, az, acl_name),
                    self.ec2.replace_network_acl_association if (have and target) else None,
                    AssociationId=have[0] if have else None,
                    NetworkAclId=target,
                )

    def _default_acl_association(self, subnet_id):
        acls = self.describe(
            "network ACLs",
            "describe_network_acls",
            "NetworkAcls",
            Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}],
        )
        for acl in acls:
            for a in acl.get("Associations", []):
                if a["SubnetId"] == subnet_id:
                    return (a["NetworkAclAssociationId"], acl["NetworkAclId"])
        self.fail("subnet %s has no network ACL association" % subnet_id)

    def ensure_endpoints(self, azs):
        vpc_id = self.vpc["VpcId"]
        existing = []
        if vpc_id:
            existing = [
                e
                for e in self.describe(
                    "VPC endpoints",
                    "describe_vpc_endpoints",
                    "VpcEndpoints",
                    Filters=[{"Name": "vpc-id", "Values": [vpc_id]}],
                )
                if str(e.get("State", "")).lower() not in GONE_STATES
            ]
        by_service = {}
        for endpoint in existing:
            if self.owns(endpoint) and _tags(endpoint).get(ROLE, "").startswith("vpce:"):
                by_service[endpoint["ServiceName"]] = endpoint
        private_rtbs = [self.route_tables["rtb:private:%s" % az]["RouteTableId"] for az in azs]
        private_subnets = [self.subnets[("private", az)]["SubnetId"] for az in azs]
        endpoint_sg = self.sgs["endpoints"]["GroupId"]
        wanted = []
        if self.params["s3_gateway_endpoint"]:
            wanted.append(("s3", "Gateway"))
        wanted += [(svc, "Interface") for svc in self.params["interface_endpoints"]]
        policy = json.loads(self.params["endpoint_policy"]) if self.params["endpoint_policy"] else None
        for svc, kind in wanted:
            service = "com.amazonaws.%s.%s" % (self.region, svc)
            role = "vpce:%s" % svc
            name = "%s-%s" % (self.name, svc)
            endpoint = by_service.pop(service, None)
            if kind == "Gateway":
                want = {"route_tables": sorted(self._ids(private_rtbs, "rtb"))}
            else:
                want = {
                    "subnets": sorted(self._ids(private_subnets, "subnet")),
                    "security_groups": [self._ids([endpoint_sg], "sg")[0]],
                    "private_dns": True,
                }
            if policy is not None:
                want["policy"] = policy
            self.after[role] = want
            if endpoint is None:
                self.before[role] = None
                args = dict(
                    VpcId=vpc_id,
                    ServiceName=service,
                    VpcEndpointType=kind,
                    TagSpecifications=self.tag_spec("vpc-endpoint", role, name),
                )
                if policy is not None:
                    args["PolicyDocument"] = json.dumps(policy, sort_keys=True)
                if kind == "Gateway":
                    args["RouteTableIds"] = private_rtbs
                    ready = all(private_rtbs)
                else:
                    args.update(SubnetIds=private_subnets, SecurityGroupIds=[endpoint_sg], PrivateDnsEnabled=True)
                    ready = all(private_subnets) and endpoint_sg
                resp = self.do(
                    "create %s endpoint %s" % (kind.lower(), name),
                    self.ec2.create_vpc_endpoint if vpc_id and ready else None,
                    **args,
                )
                self.endpoints[svc] = resp["VpcEndpoint"] if resp else {"VpcEndpointId": None}
                continue
            self.endpoints[svc] = endpoint
            self.ensure_tags(endpoint["VpcEndpointId"], _tags(endpoint), role, name)
            if kind == "Gateway":
                have = {"route_tables": sorted(endpoint.get("RouteTableIds", []))}
            else:
                have = {
                    "subnets": sorted(endpoint.get("SubnetIds", [])),
                    "security_groups": sorted(g["GroupId"] for g in endpoint.get("Groups", [])),
                    "private_dns": bool(endpoint.get("PrivateDnsEnabled")),
                }
            if policy is not None:
                have["policy"] = _policy(endpoint.get("PolicyDocument"))
                if not compare_policies(have["policy"], policy):
                    have["policy"] = policy  # the same policy, as AWS spells it: no change
            self.before[role] = have
            if have == want:
                continue
            args = {}
            for field, add_key, remove_key in (
                ("route_tables", "AddRouteTableIds", "RemoveRouteTableIds"),
                ("subnets", "AddSubnetIds", "RemoveSubnetIds"),
                ("security_groups", "AddSecurityGroupIds", "RemoveSecurityGroupIds"),
            ):
                if field in want:
                    add = [i for i in want[field] if i not in have[field] and not i.startswith("<new")]
                    rem = [i for i in have[field] if i not in want[field]]
                    if add:
                        args[add_key] = add
                    if rem:
                        args[remove_key] = rem
            if "private_dns" in want and not have["private_dns"]:
                args["PrivateDnsEnabled"] = True
            shown = dict(args)
            if "policy" in want and have["policy"] != want["policy"]:
                args["PolicyDocument"] = json.dumps(policy, sort_keys=True)
                shown["PolicyDocument"] = "<endpoint_policy>"
            self.do(
                "modify endpoint %s: %s" % (name, ", ".join("%s=%s" % kv for kv in sorted(shown.items()))),
                self.ec2.modify_vpc_endpoint if args else None,
                VpcEndpointId=endpoint["VpcEndpointId"],
                **args,
            )
        for service, endpoint in sorted(by_service.items()):
            self.before["vpce:%s" % service.rsplit(".", 1)[-1]] = "present"
            self.do(
                "delete endpoint %s (%s)" % (_tags(endpoint).get("Name"), endpoint["VpcEndpointId"]),
                self.ec2.delete_vpc_endpoints,
                VpcEndpointIds=[endpoint["VpcEndpointId"]],
            )

    @staticmethod
    def _ids(ids, kind):
        return [i or "<new %s>" % kind for i in ids]

    @property
    def s3_prefix_list(self):
        if not self.params["s3_gateway_endpoint"]:
            return None
        if getattr(self, "_s3_pl", None) is None:
            for table in self.route_tables.values():
                for route in table.get("Routes", []):
                    if route.get("DestinationPrefixListId") and str(route.get("GatewayId", "")).startswith("vpce-"):
                        self._s3_pl = route["DestinationPrefixListId"]
                        return self._s3_pl
            lists = self.describe(
                "prefix lists",
                "describe_prefix_lists",
                "PrefixLists",
                Filters=[{"Name": "prefix-list-name", "Values": ["com.amazonaws.%s.s3" % self.region]}],
            )
            self._s3_pl = lists[0]["PrefixListId"] if lists else ""
        return self._s3_pl or None

    def ensure_flow_log(self):
        spec = self.params["flow_log"]
        if not spec:
            return
        group = spec["log_group_name"]
        role = "flow-log"
        kms_key = self.resolve_kms_key(spec["kms_key_id"])
        if kms_key is None:
            return
        spec = dict(spec, kms_key_id=kms_key)
        want_group = {"kms_key_id": spec["kms_key_id"], "retention_days": spec["retention_days"]}
        self.after["log_group"] = dict(want_group, name=group)
        try:
            groups = self.logs.describe_log_groups(aws_retry=True, logGroupNamePrefix=group).get("logGroups", [])
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            self.module.fail_json_aws(e, msg="reading log group %s failed" % group)
        current = next((g for g in groups if g["logGroupName"] == group), None)
        tags = self.resource_tags(role, "%s-flow-logs" % self.name)
        if current is None:
            self.before["log_group"] = None
            self.do(
                "create log group %s (KMS %s)" % (group, spec["kms_key_id"]),
                self.logs.create_log_group,
                logGroupName=group,
                kmsKeyId=spec["kms_key_id"],
                tags=tags,
            )
            self.do(
                "set retention of log group %s to %d days" % (group, spec["retention_days"]),
                self.logs.put_retention_policy,
                logGroupName=group,
                retentionInDays=spec["retention_days"],
            )
        else:
            have = {"kms_key_id": current.get("kmsKeyId"), "retention_days": current.get("retentionInDays")}
            self.before["log_group"] = dict(have, name=group)
            if have["kms_key_id"] != spec["kms_key_id"]:
                self.do(
                    "encrypt log group %s with %s" % (group, spec["kms_key_id"]),
                    self.logs.associate_kms_key,
                    logGroupName=group,
                    kmsKeyId=spec["kms_key_id"],
                )
            if have["retention_days"] != spec["retention_days"]:
                self.do(
                    "set retention of log group %s to %d days" % (group, spec["retention_days"]),
                    self.logs.put_retention_policy,
                    logGroupName=group,
                    retentionInDays=spec["retention_days"],
                )
            arn = current.get("logGroupArn") or current["arn"].rstrip("*").rstrip(":")
            try:
                have_tags = self.logs.list_tags_for_resource(aws_retry=True, resourceArn=arn).get("tags", {})
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
                self.module.fail_json_aws(e, msg="reading the tags of log group %s failed" % group)
            missing = model.tags_to_set(have_tags, tags)
            if missing:
                self.do(
                    "tag log group %s: %s" % (group, ", ".join(sorted(missing))),
                    self.logs.tag_resource,
                    resourceArn=arn,
                    tags=missing,
                )
        # the flow log itself
        vpc_id = self.vpc["VpcId"]
        want = {
            "log_group": group,
            "traffic_type": spec["traffic_type"],
            "role_arn": spec["role_arn"],
            "destination_type": "cloud-watch-logs",
        }
        self.after[role] = want
        logs = []
        if vpc_id:
            logs = self.describe(
                "flow logs", "describe_flow_logs", "FlowLogs", Filters=[{"Name": "resource-id", "Values": [vpc_id]}]
            )
        mine = [f for f in logs if self.owns(f, role)]
        match = None
        for flow in mine:
            have = {
                "log_group": flow.get("LogGroupName"),
                "traffic_type": flow.get("TrafficType"),
                "role_arn": flow.get("DeliverLogsPermissionArn"),
                "destination_type": flow.get("LogDestinationType"),
            }
            if have == want and match is None:
                match = flow
                self.before[role] = have
            else:
                self.before.setdefault(role, have)
                self.do(
                    "delete flow log %s (%s)" % (flow["FlowLogId"], have),
                    self.ec2.delete_flow_logs,
                    FlowLogIds=[flow["FlowLogId"]],
                )
        if match is None:
            self.before.setdefault(role, None)
            resp = self.do(
                "create flow log %s -> %s (%s)" % (self.name, group, spec["traffic_type"]),
                self.ec2.create_flow_logs if vpc_id else None,
                ResourceIds=[vpc_id],
                ResourceType="VPC",
                TrafficType=spec["traffic_type"],
                LogDestinationType="cloud-watch-logs",
                LogGroupName=group,
                DeliverLogsPermissionArn=spec["role_arn"],
                TagSpecifications=self.tag_spec("vpc-flow-log", role, "%s-flow-log" % self.name),
            )
            if resp and resp.get("Unsuccessful"):
                self.fail("creating the flow log of %s failed: %s" % (self.name, resp["Unsuccessful"]))
            self.flow_log = {"FlowLogId": resp["FlowLogIds"][0] if resp else None}
        else:
            self.flow_log = match

    def resolve_kms_key(self, key):
        """A key ARN as CloudWatch Logs wants it; an alias (alias/...) is looked up with one DescribeKey."""
        if not key.startswith("alias/"):
            return key
        kms = aws_retry.client(self.module, "kms")
        try:
            return kms.describe_key(aws_retry=True, KeyId=key)["KeyMetadata"]["Arn"]
        except is_boto3_error_code("NotFoundException"):
            if self.check:
                self.actions.append(
                    "flow log of %s: KMS key %s does not exist yet (the storage role creates it)" % (self.name, key)
                )
                return None
            self.fail(
                "KMS key %s for the flow-log group of %s not found: converge the storage role first (it owns "
                "the keys) or set network_flow_log_kms_key_arn" % (key, self.name)
            )
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:  # pylint: disable=duplicate-except
            self.module.fail_json_aws(e, msg="looking up KMS key %s failed" % key)

    def present(self):
        cidr = self.params["cidr_block"]
        if not cidr:
            self.fail("cidr_block is required with state=present")
        try:
            plan = cidrplan.subnet_plan(
                cidr,
                self.params["az_count"]
                if not self.params["availability_zones"]
                else len(self.params["availability_zones"]),
            )
        except cidrplan.CidrError as e:
            self.fail("cidr_block: %s" % e)
        azs = self.availability_zones()
        self.find_vpcs()
        self.ensure_vpc()
        self.ensure_igw()
        self.ensure_subnets(azs, plan)
        self.ensure_route_tables(azs)
        self.ensure_nat_gateways(azs)
        self.ensure_peering()
        self.ensure_security_groups()
        self.ensure_rules()
        self.ensure_routes(azs)
        self.ensure_nacls(azs)
        self.ensure_endpoints(azs)
        self.ensure_flow_log()
        return self.facts(azs)

    def facts(self, azs):
        def sid(tier, az):
            return self.subnets[(tier, az)]["SubnetId"]

        subnets = {tier: {az: sid(tier, az) for az in azs} for tier in cidrplan.TIERS}
        network = {
            "vpc_id": self.vpc["VpcId"],
            "cidr_block": self.params["cidr_block"],
            "name": self.name,
            "availability_zones": azs,
            "subnets": subnets,
            "subnet_ids": {tier: [sid(tier, az) for az in azs] for tier in cidrplan.TIERS},
            "subnet_cidrs": {tier: [self.subnets[(tier, az)]["CidrBlock"] for az in azs] for tier in cidrplan.TIERS},
            "route_table_ids": {
                "public": self.route_tables["rtb:public"]["RouteTableId"],
                "isolated": self.route_tables["rtb:isolated"]["RouteTableId"],
                "private": {az: self.route_tables["rtb:private:%s" % az]["RouteTableId"] for az in azs},
            },
            "security_group_ids": {role: g["GroupId"] for role, g in self.sgs.items()},
            "internet_gateway_id": self.igw["InternetGatewayId"] if self.igw else None,
            "nat_gateway_ids": [n["NatGatewayId"] for n in self.nats],
            "network_acl_id": self.nacls["isolated"]["NetworkAclId"] if "isolated" in self.nacls else None,
            "network_acl_ids": {
                tier: (self.nacls.get(tier) or self.default_nacl or {}).get("NetworkAclId") for tier in cidrplan.TIERS
            },
            "vpc_endpoint_ids": {svc: e.get("VpcEndpointId") for svc, e in self.endpoints.items()},
            "flow_log_id": (self.flow_log or {}).get("FlowLogId"),
            "flow_log_group": (self.params["flow_log"] or {}).get("log_group_name"),
            "peering": {},
        }
        if self.peered():
            shared_isolated = sorted(
                (s for s in self.subnets.get("shared", []) if _tags(s).get(ROLE, "").startswith("subnet:isolated:")),
                key=lambda s: s["AvailabilityZone"],
            )
            network["peering"] = {
                "id": (self.peering or {}).get("VpcPeeringConnectionId"),
                "shared_vpc_id": self.shared_vpc["VpcId"],
                "status": ((self.peering or {}).get("Status") or {}).get("Code"),
            }
            network["data"] = {
                "vpc_id": self.shared_vpc["VpcId"],
                "subnet_ids": [s["SubnetId"] for s in shared_isolated],
                "security_group_ids": {
                    r: g["GroupId"] for r, g in self.shared_sgs.items() if r in self.params["data_ports"]
                },
            }
        else:
            network["data"] = {
                "vpc_id": self.vpc["VpcId"],
                "subnet_ids": network["subnet_ids"]["isolated"],
                "security_group_ids": {r: g["GroupId"] for r, g in self.sgs.items() if r in self.params["data_ports"]},
            }
        return network

    # ---------------------------------------------------------------- absent
    def absent(self):
        self.find_vpcs()
        vpc = self.vpc
        if vpc is None:
            self.before["vpc"] = None
            self.after["vpc"] = None
            self.delete_eips()
            self.delete_log_group()
            return
        vpc_id = vpc["VpcId"]
        self.before["vpc"] = {"vpc_id": vpc_id, "cidr_block": vpc["CidrBlock"]}
        self.after["vpc"] = None
        # A shared data VPC with tenants still peered to it stays.
        accepted = [
            p
            for p in self.describe(
                "peering connections",
                "describe_vpc_peering_connections",
                "VpcPeeringConnections",
                Filters=[{"Name": "accepter-vpc-info.vpc-id", "Values": [vpc_id]}],
            )
            if p["AccepterVpcInfo"].get("VpcId") == vpc_id and p["Status"]["Code"] not in GONE_STATES
        ]
        if accepted:
            self.fail(
                "VPC %s (%s) still has %d peered tenant VPC(s) (%s): delete those tenants' networks first"
                % (
                    self.name,
                    vpc_id,
                    len(accepted),
                    ", ".join(sorted(p["RequesterVpcInfo"]["VpcId"] for p in accepted)),
                )
            )
        vpc_ids = [vpc_id] + ([self.shared_vpc["VpcId"]] if self.shared_vpc else [])
        groups = self.describe(
            "security groups",
            "describe_security_groups",
            "SecurityGroups",
            Filters=[{"Name": "vpc-id", "Values": vpc_ids}],
        )
        my_groups = [g for g in groups if g["VpcId"] == vpc_id and g["GroupName"] != "default"]
        my_ids = {g["GroupId"] for g in my_groups}
        # 1. the shared side: routes to my peering connection, rules naming my groups, the peering connection
        requested = [
            p
            for p in self.describe(
                "peering connections",
                "describe_vpc_peering_connections",
                "VpcPeeringConnections",
                Filters=[{"Name": "requester-vpc-info.vpc-id", "Values": [vpc_id]}],
            )
            if p["RequesterVpcInfo"].get("VpcId") == vpc_id and p["Status"]["Code"] not in GONE_STATES
        ]
        pcx_ids = {p["VpcPeeringConnectionId"] for p in requested}
        if pcx_ids:
            peer_vpcs = sorted({p["AccepterVpcInfo"]["VpcId"] for p in requested})
            tables = self.describe(
                "route tables",
                "describe_route_tables",
                "RouteTables",
                Filters=[{"Name": "vpc-id", "Values": peer_vpcs}],
            )
            for table in tables:
                for dest, target in sorted(model.current_routes(table).items()):
                    if target[0] == "pcx" and target[1] in pcx_ids:
                        self.do(
                            "delete route %s -> %s in %s" % (dest, target[1], table["RouteTableId"]),
                            self.ec2.delete_route,
                            RouteTableId=table["RouteTableId"],
                            DestinationCidrBlock=dest,
                        )
        for group in groups:
            if group["VpcId"] == vpc_id:
                continue
            for direction, key, method in (
                (model.INGRESS, "IpPermissions", self.ec2.revoke_security_group_ingress),
                (model.EGRESS, "IpPermissionsEgress", self.ec2.revoke_security_group_egress),
            ):
                rules = [
                    r
                    for r in model.rules_from_permissions(direction, group.get(key))
                    if r[4] == "sg" and r[5] in my_ids
                ]
                if rules:
                    self.do(
                        "revoke %s on %s: %s" % (direction, group["GroupName"], ", ".join(map(model.rule_text, rules))),
                        method,
                        GroupId=group["GroupId"],
                        IpPermissions=[
                            model.permission_from_rule(r, model.rule_descriptions(group).get(r)) for r in rules
                        ],
                    )
        for pcx in sorted(pcx_ids):
            self.do(
                "delete peering connection %s" % pcx, self.ec2.delete_vpc_peering_connection, VpcPeeringConnectionId=pcx
            )
        # 2. flow logs and endpoints
        for flow in self.describe(
            "flow logs", "describe_flow_logs", "FlowLogs", Filters=[{"Name": "resource-id", "Values": [vpc_id]}]
        ):
            self.do("delete flow log %s" % flow["FlowLogId"], self.ec2.delete_flow_logs, FlowLogIds=[flow["FlowLogId"]])
        endpoints = [
            e["VpcEndpointId"]
            for e in self.describe(
                "VPC endpoints",
                "describe_vpc_endpoints",
                "VpcEndpoints",
                Filters=[{"Name": "vpc-id", "Values": [vpc_id]}],
            )
            if str(e.get("State", "")).lower() not in ("deleted", "deleting")
        ]
        if endpoints:
            self.do(
                "delete VPC endpoints %s" % ", ".join(endpoints),
                self.ec2.delete_vpc_endpoints,
                VpcEndpointIds=endpoints,
            )
            self.poll_gone(
                "VPC endpoints",
                lambda: [
                    e
                    for e in self.describe(
                        "VPC endpoints",
                        "describe_vpc_endpoints",
                        "VpcEndpoints",
                        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}],
                    )
                    if str(e.get("State", "")).lower() not in ("deleted",)
                ],
            )
        # 3. NAT gateways (wait until gone, they hold the EIPs and ENIs in the public subnets), then the EIPs
        nats = [
            n["NatGatewayId"]
            for n in self.describe(
                "NAT gateways", "describe_nat_gateways", "NatGateways", Filter=[{"Name": "vpc-id", "Values": [vpc_id]}]
            )
            if n["State"] not in ("deleted", "deleting", "failed")
        ]
        for nat in nats:
            self.do("delete NAT gateway %s" % nat, self.ec2.delete_nat_gateway, NatGatewayId=nat)
        if nats and not self.check:
            self.wait("nat_gateway_deleted", NatGatewayIds=nats)
        self.delete_eips()
        # 4. security groups: first the rules between groups (they may reference each other), then the groups
        for group in my_groups:
            for direction, key, method in (
                (model.INGRESS, "IpPermissions", self.ec2.revoke_security_group_ingress),
                (model.EGRESS, "IpPermissionsEgress", self.ec2.revoke_security_group_egress),
            ):
                rules = [r for r in model.rules_from_permissions(direction, group.get(key)) if r[4] == "sg"]
                if rules:
                    self.do(
                        "revoke %s on %s: %s" % (direction, group["GroupName"], ", ".join(map(model.rule_text, rules))),
                        method,
                        GroupId=group["GroupId"],
                        IpPermissions=[
                            model.permission_from_rule(r, model.rule_descriptions(group).get(r)) for r in rules
                        ],
                    )
        for group in my_groups:
            self.do(
                "delete security group %s (%s)" % (group["GroupName"], group["GroupId"]),
                self.ec2.delete_security_group,
                GroupId=group["GroupId"],
            )
        # 5. route tables, subnets, network ACLs, internet gateway, VPC
        tables = self.describe(
            "route tables", "describe_route_tables", "RouteTables", Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]
        )
        for table in tables:
            if any(a.get("Main") for a in table.get("Associations", [])):
                continue
            for a in table.get("Associations", []):
                self.do(
                    "disassociate route table %s from %s" % (table["RouteTableId"], a.get("SubnetId")),
                    self.ec2.disassociate_route_table,
                    AssociationId=a["RouteTableAssociationId"],
                )
            self.do(
                "delete route table %s" % table["RouteTableId"],
                self.ec2.delete_route_table,
                RouteTableId=table["RouteTableId"],
            )
        # Network ACLs: move the subnets back to the default ACL, then delete ours (before the subnets: some
        # EC2 implementations keep the association of a deleted subnet and then refuse to delete the ACL).
        acls = self.describe(
            "network ACLs", "describe_network_acls", "NetworkAcls", Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]
        )
        default_acl = next((a["NetworkAclId"] for a in acls if a.get("IsDefault")), None)
        for acl in acls:
            if acl.get("IsDefault"):
                continue
            for assoc in acl.get("Associations", []):
                self.do(
                    "move subnet %s back to the default network ACL" % assoc["SubnetId"],
                    self.ec2.replace_network_acl_association,
                    AssociationId=assoc["NetworkAclAssociationId"],
                    NetworkAclId=default_acl,
                )
            self.do(
                "delete network ACL %s" % acl["NetworkAclId"],
                self.ec2.delete_network_acl,
                NetworkAclId=acl["NetworkAclId"],
            )
        for subnet in self.describe(
            "subnets", "describe_subnets", "Subnets", Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]
        ):
            self.do(
                "delete subnet %s (%s)" % (_tags(subnet).get("Name"), subnet["SubnetId"]),
                self.ec2.delete_subnet,
                SubnetId=subnet["SubnetId"],
            )
        for igw in self.describe(
            "internet gateways",
            "describe_internet_gateways",
            "InternetGateways",
            Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}],
        ):
            self.do(
                "detach internet gateway %s" % igw["InternetGatewayId"],
                self.ec2.detach_internet_gateway,
                InternetGatewayId=igw["InternetGatewayId"],
                VpcId=vpc_id,
            )
            self.do(
                "delete internet gateway %s" % igw["InternetGatewayId"],
                self.ec2.delete_internet_gateway,
                InternetGatewayId=igw["InternetGatewayId"],
            )
        self.do("delete VPC %s (%s)" % (self.name, vpc_id), self.ec2.delete_vpc, VpcId=vpc_id)
        self.delete_log_group()

    def delete_eips(self):
        addresses = self.describe(
            "Elastic IPs",
            "describe_addresses",
            "Addresses",
            Filters=[{"Name": "tag:%s" % k, "Values": [v]} for k, v in sorted(self.identity().items())],
        )
        for address in addresses:
            if (
                self.owns(address)
                and _tags(address).get(ROLE, "").startswith("eip:")
                and _tags(address).get("Name", "").startswith(self.name + "-")
            ):
                self.do(
                    "release Elastic IP %s (%s)" % (_tags(address).get("Name"), address["AllocationId"]),
                    self.ec2.release_address,
                    AllocationId=address["AllocationId"],
                )

    def delete_log_group(self):
        spec = self.params["flow_log"]
        if not (spec and self.params["delete_log_group"]):
            return
        try:
            groups = self.logs.describe_log_groups(aws_retry=True, logGroupNamePrefix=spec["log_group_name"])[
                "logGroups"
            ]
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            self.module.fail_json_aws(e, msg="reading log group failed")
        if any(g["logGroupName"] == spec["log_group_name"] for g in groups):
            self.do(
                "delete log group %s" % spec["log_group_name"],
                self.logs.delete_log_group,
                logGroupName=spec["log_group_name"],
            )

    def poll_gone(self, what, read):
        if self.check:
            return
        deadline = time.time() + self.params["wait_timeout"]
        delay = 1
        while read():
            if time.time() > deadline:
                self.fail("timed out waiting for %s to be deleted" % what)
            time.sleep(delay)  # polling an asynchronous deletion, with back-off
            delay = min(delay * 2, 15)


def main():
    argument_spec = dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        name=dict(type="str", required=True),
        cidr_block=dict(type="str"),
        tags=dict(type="dict", required=True),
        match_tags=dict(type="list", elements="str", default=["Platform", "Environment", "Tenant"]),
        az_count=dict(type="int", default=2),
        availability_zones=dict(type="list", elements="str"),
        nat_gateway_count=dict(type="int", default=1),
        interface_endpoints=dict(type="list", elements="str", default=["secretsmanager", "kms", "sns", "logs", "sts"]),
        s3_gateway_endpoint=dict(type="bool", default=True),
        endpoint_policy=dict(type="json"),
        lambda_security_group=dict(type="bool", default=True),
        data_security_groups=dict(type="bool", default=False),
        data_ports=dict(type="dict", default={"postgres": 5432, "timescaledb": 5432, "msk": 9098}),
        peer_supernets=dict(type="list", elements="str", default=[]),
        shared_vpc_tags=dict(type="dict"),
        flow_log=dict(
            type="dict",
            options=dict(
                log_group_name=dict(type="str", required=True),
                kms_key_id=dict(type="str", required=True),
                retention_days=dict(type="int", required=True),
                role_arn=dict(type="str", required=True),
                traffic_type=dict(type="str", choices=["ACCEPT", "REJECT", "ALL"], default="ALL"),
            ),
        ),
        delete_log_group=dict(type="bool", default=False),
        tier_network_acls=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=600),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec, supports_check_mode=True, required_if=[("state", "present", ["cidr_block"])]
    )
    manager = NetworkVpc(module)
    result = {}
    if module.params["state"] == "present":
        result["network"] = manager.present()
    else:
        manager.absent()
    result["actions"] = manager.actions
    result["changed"] = bool(manager.actions)
    if module._diff:
        result["diff"] = {"before": manager.before, "after": manager.after}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
