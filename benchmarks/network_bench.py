#!/usr/bin/env python3
"""No-op converge benchmark of the network role (issue 3): 3 and 30 generated tenants.

    export LOCALCLOUD_DIR=... LOCALCLOUD_MOTO_PORT=...   # an emulator started with localcloud/ctl.py up
    .venv/bin/python benchmarks/network_bench.py [--sizes 3,30]

For each size the script writes an inventory (alternating shared / dedicated tenants, explicit CIDRs), creates
the KMS aliases the storage role would own (the benchmark runs the network role alone), converges once with
preflight (not measured), then measures a second, no-op converge of the network role: wall seconds, emulator
requests (from the request log) and requests / seconds per managed resource.

Each size runs in its own region of the emulator (us-east-2, us-west-2) so the reference fleet and the other
size are not in the way. Quotas: moto reports the AWS defaults (5 VPCs per region, ...), which 30 tenants
exceed; the benchmark says so explicitly by passing network_quota_overrides (as for an account whose quotas
were raised) - preflight still runs with those values.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "collections"), str(ROOT)]

import boto3  # noqa: E402
from support.playbook import load_fleet, run_playbook, write_inventory  # noqa: E402

from localcloud.requestlog import RequestLog  # noqa: E402

REGIONS = {3: "us-east-2", 30: "us-west-2"}
QUOTAS = {"L-F678F1CE": 100, "L-A4707A72": 100, "L-0263D0A3": 100, "L-FE5A380F": 100}

PLAYBOOK = """---
- name: Shared data VPC
  hosts: platform_shared
  gather_facts: false
  module_defaults: &aws
    group/manufacturing.platform.aws:
      endpoint_url: "{{ platform_aws_endpoint_url | default(omit, true) }}"
      region: "{{ platform_aws_region | default(omit, true) }}"
      access_key: "{{ platform_aws_access_key | default(omit, true) }}"
      secret_key: "{{ platform_aws_secret_key | default(omit, true) }}"
  roles:
    - role: manufacturing.platform.network

- name: Tenant VPCs
  hosts: tenants
  gather_facts: false
  module_defaults: *aws
  roles:
    - role: manufacturing.platform.network
"""


def fleet_of(size):
    fleet = load_fleet()
    tenants = {}
    for i in range(size):
        name = "bench-%02d" % i
        tenants[name] = {"tenant_id": name, "tenancy_tier": "shared" if i % 2 else "dedicated", "tenant_machines": 5,
                         "network_vpc_cidr": "10.%d.%d.0/20" % (100 + i // 16, (i % 16) * 16)}
    fleet["all"]["children"]["tenants"]["hosts"] = tenants
    return fleet


def ensure_kms_aliases(endpoints, region, fleet):
    cfg = endpoints["aws"]
    kms = boto3.client("kms", region_name=region, endpoint_url=cfg["endpoint_url"],
                       aws_access_key_id=cfg["access_key"], aws_secret_access_key=cfg["secret_key"])
    have = {a["AliasName"] for a in kms.list_aliases()["Aliases"]}
    wanted = {"alias/mfg-local"} | {"alias/mfg-local-%s" % t for t, h in
                                    fleet["all"]["children"]["tenants"]["hosts"].items()
                                    if h["tenancy_tier"] == "dedicated"}
    for alias in sorted(wanted - have):
        key = kms.create_key(Description="benchmark stand-in for the storage role's key")["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=alias, TargetKeyId=key)


def managed_resources(network):
    """Top-level resources the role manages for one VPC (rules, routes and associations not counted)."""
    count = 1 + (1 if network.get("internet_gateway_id") else 0)
    count += sum(len(v) for v in network["subnet_ids"].values())
    count += 2 + len(network["route_table_ids"]["private"])
    count += 2 * len(network["nat_gateway_ids"])  # NAT gateway + its Elastic IP
    count += 1 + len(network["security_group_ids"]) + len(network["vpc_endpoint_ids"])
    count += 2  # flow log + its log group
    count += 1 if network.get("peering") else 0
    return count


def bench(size, workdir, endpoints, log):
    region = REGIONS.get(size, "us-east-2")
    fleet = fleet_of(size)
    inventory = write_inventory(Path(workdir) / ("fleet-%d" % size), fleet)
    playbook = Path(workdir) / "network-only.yml"
    playbook.write_text(PLAYBOOK)
    site = Path(workdir) / "network-site.yml"
    site.write_text("---\n- name: Preflight\n  ansible.builtin.import_playbook: %s\n\n- name: Network\n"
                    "  ansible.builtin.import_playbook: %s\n" % (ROOT / "playbooks" / "preflight.yml", playbook))
    ensure_kms_aliases(endpoints, region, fleet)
    args = ["-i", str(inventory), "-e", "env=local", "-e", "platform_aws_region=%s" % region,
            "-e", json.dumps({"network_quota_overrides": QUOTAS})]
    t0 = time.monotonic()
    first = run_playbook(str(site), *args)
    create_s = time.monotonic() - t0
    if first.rc != 0:
        sys.exit("converge of %d tenants failed:\n%s" % (size, first.explain()))
    mark = log.mark()
    t0 = time.monotonic()
    noop = run_playbook(str(playbook), *args)
    wall = time.monotonic() - t0
    entries = log.since(mark)
    if noop.rc != 0 or noop.changed:
        sys.exit("no-op run of %d tenants: rc=%s changed=%s\n%s" % (size, noop.rc, noop.changed, noop.explain()))
    resources = sum(managed_resources(r["network"]) for t, _h, r in noop.task_results()
                    if "Converge the VPC" in t and "network" in r)
    mutating = [e for e in entries if e.get("mutating")]
    return {"tenants": size, "vpcs": size + 1, "resources": resources, "first_converge_s": round(create_s, 1),
            "noop_wall_s": round(wall, 1), "noop_requests": len(entries), "mutating": len(mutating),
            "requests_per_resource": round(len(entries) / resources, 2),
            "seconds_per_resource": round(wall / resources, 3)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="3,30")
    args = parser.parse_args(argv)
    import os

    state = Path(os.environ.get("LOCALCLOUD_DIR", ROOT / ".localcloud"))
    endpoints = json.loads((state / "endpoints.json").read_text())
    log = RequestLog(endpoints["aws"]["request_log"])
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for size in (int(s) for s in args.sizes.split(",")):
            rows.append(bench(size, workdir, endpoints, log))
            print(json.dumps(rows[-1]), flush=True)
    print("\n| tenants | VPCs | managed resources | no-op wall s | requests | req/resource | s/resource | mutating |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| %(tenants)d | %(vpcs)d | %(resources)d | %(noop_wall_s)s | %(noop_requests)d | "
              "%(requests_per_resource)s | %(seconds_per_resource)s | %(mutating)d |" % r)


if __name__ == "__main__":
    main()
