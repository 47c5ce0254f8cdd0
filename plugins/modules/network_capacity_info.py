#!/usr/bin/python
# ruff: noqa: EXE001 - Ansible modules carry a shebang but are not executable files
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: network_capacity_info
short_description: Read the region's availability zones, the VPC-related quotas and their current usage
version_added: 1.0.0
description:
  - Read-only input of the network preflight. Reads the available availability zones, the values of the given
    Service Quotas (C(GetServiceQuota), falling back to C(GetAWSDefaultServiceQuota)), the current usage
    (VPCs, internet gateways, Elastic IPs, NAT gateways per AZ) and which platform VPCs already exist
    (found by O(tags) and the C(NetworkRole=vpc) tag).
  - A quota the API cannot return (not implemented, no permission) has value C(null) and the reason in
    C(error); the caller decides (the network role uses C(network_quota_overrides) or the AWS default).
author:
  - Manufacturing Platform Team (@manufacturing-platform)
options:
  quotas:
    description: Quotas to read.
    type: list
    elements: dict
    default: []
    suboptions:
      service_code:
        description: Service Quotas service code (C(vpc), C(ec2)).
        type: str
        required: true
      quota_code:
        description: Quota code, for example C(L-F678F1CE).
        type: str
        required: true
  tags:
    description: Tags of the platform's VPCs in this environment (for example Platform and Environment).
    type: dict
    default: {}
  quota_read_attempts:
    description:
      - Attempts (the first included) of each Service Quotas read when it is throttled or answers a server error
        (HTTP 5xx), with jittered exponential backoff. A read that still fails leaves that quota's value C(null).
      - V(1) reads each quota once, without any retry. Meant for an endpoint that answers HTTP 500 for an API it
        does not implement (the local cloud's emulator, where C(group_vars/env_local.yml) sets it through
        C(network_quota_read_attempts)), where retrying only adds minutes of waiting; not for AWS.
      - Every other call of the module (EC2) always uses the collection's retries.
    type: int
    default: 10
notes:
  - Makes no change; supports check mode.
requirements:
  - python >= 3.9
  - boto3
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: AZs, quotas and usage for the network preflight
  manufacturing.platform.network_capacity_info:
    tags: {Platform: manufacturing, Environment: prod}
    quotas:
      - {service_code: vpc, quota_code: L-F678F1CE}
      - {service_code: ec2, quota_code: L-0263D0A3}
  register: capacity
"""

RETURN = r"""
region:
  description: The region.
  returned: always
  type: str
  sample: eu-west-1
availability_zones:
  description: Available zone names, sorted.
  returned: always
  type: list
  elements: str
  sample: [eu-west-1a, eu-west-1b, eu-west-1c]
quotas:
  description: Quota code -> C(value) (null when unknown), C(name), C(source) and C(error).
  returned: always
  type: dict
  sample: {"L-F678F1CE": {"value": 5.0, "name": "VPCs per Region", "source": "Service Quotas", "error": null}}
usage:
  description: Current usage in the region.
  returned: always
  type: dict
  sample: {"vpcs": 4, "internet_gateways": 4, "elastic_ips": 4, "nat_gateways_per_az": {"eu-west-1a": 4}}
existing_scopes:
  description: Scopes (tenant id, or C(shared) for the shared data VPC) whose platform VPC already exists.
  returned: always
  type: list
  elements: str
  sample: [shared, customer-123]
"""

try:  # noqa: SIM105 - the usual optional-import pattern of AWS modules
    import botocore
except ImportError:
    pass  # caught by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict
from ansible_collections.manufacturing.platform.plugins.module_utils import aws_retry

ERRORS = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) if "botocore" in globals() else ()


def _all(client, method, key, **kwargs):
    if client.can_paginate(method):
        return aws_retry.paginate(client, method, **kwargs).get(key, [])
    return getattr(client, method)(aws_retry=True, **kwargs).get(key, [])


def read_quota(sq, service, code):
    errors = []
    for method in ("get_service_quota", "get_aws_default_service_quota"):
        try:
            quota = getattr(sq, method)(aws_retry=True, ServiceCode=service, QuotaCode=code)["Quota"]
            return {
                "value": quota.get("Value"),
                "name": quota.get("QuotaName"),
                "source": "Service Quotas" + (" default" if "default" in method else ""),
                "error": None,
            }
        except ERRORS as e:
            errors.append("%s: %s" % (method, e))
    return {"value": None, "name": None, "source": None, "error": "; ".join(errors)}


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            quotas=dict(
                type="list",
                elements="dict",
                default=[],
                options=dict(service_code=dict(type="str", required=True), quota_code=dict(type="str", required=True)),
            ),
            tags=dict(type="dict", default={}),
            quota_read_attempts=dict(type="int", default=10),
        ),
        supports_check_mode=True,
    )
    ec2 = aws_retry.client(module, "ec2")
    attempts = module.params["quota_read_attempts"]
    if attempts < 1:
        module.fail_json(msg="quota_read_attempts must be >= 1, got %s" % attempts)
    # Both retry layers follow the option: 1 means one request per quota read.
    sq = aws_retry.client(module, "service-quotas", retries=attempts,
                          botocore_attempts=min(attempts, aws_retry.BOTOCORE_TOTAL_ATTEMPTS))
    try:
        zones = _all(
            ec2,
            "describe_availability_zones",
            "AvailabilityZones",
            Filters=[{"Name": "state", "Values": ["available"]}],
        )
        azs = sorted(z["ZoneName"] for z in zones if z.get("ZoneType", "availability-zone") == "availability-zone")
        vpcs = _all(ec2, "describe_vpcs", "Vpcs")
        igws = _all(ec2, "describe_internet_gateways", "InternetGateways")
        eips = _all(ec2, "describe_addresses", "Addresses")
        nats = [
            n
            for n in _all(
                ec2,
                "describe_nat_gateways",
                "NatGateways",
                Filter=[{"Name": "state", "Values": ["pending", "available"]}],
            )
            if n.get("State") in ("pending", "available")
        ]
        subnet_ids = sorted({n["SubnetId"] for n in nats})
        subnets = _all(ec2, "describe_subnets", "Subnets", SubnetIds=subnet_ids) if subnet_ids else []
    except ERRORS as e:
        module.fail_json_aws(e, msg="reading the region's network usage failed")
    az_of = {s["SubnetId"]: s["AvailabilityZone"] for s in subnets}
    per_az = {}
    for nat in nats:
        az = az_of.get(nat["SubnetId"], "unknown")
        per_az[az] = per_az.get(az, 0) + 1
    scopes = []
    want = module.params["tags"]
    for vpc in vpcs:
        tags = boto3_tag_list_to_ansible_dict(vpc.get("Tags", []))
        if tags.get("NetworkRole") == "vpc" and all(tags.get(k) == v for k, v in want.items()):
            scopes.append(tags.get("Tenant", "shared"))
    quotas = {q["quota_code"]: read_quota(sq, q["service_code"], q["quota_code"]) for q in module.params["quotas"]}
    module.exit_json(
        changed=False,
        region=ec2.meta.region_name,
        availability_zones=azs,
        quotas=quotas,
        usage={
            "vpcs": len(vpcs),
            "internet_gateways": len(igws),
            "elastic_ips": len(eips),
            "nat_gateways_per_az": per_az,
        },
        existing_scopes=sorted(scopes),
    )


if __name__ == "__main__":
    main()
