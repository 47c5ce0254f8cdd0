#!/usr/bin/env python3
"""Whole-platform converge benchmark (issue 15): a generated fleet of N tenants, for N = 3 and N = 30.

    .venv/bin/python benchmarks/site_bench.py [--sizes 3,30] [--base-port 48000] [--json FILE] [--keep]

For each size the script starts a local cloud of its own (localcloud/ctl.py with a temporary LOCALCLOUD_DIR and
ports from --base-port, so a running dev cloud or test session is not touched), writes an inventory of N tenants
(alternating dedicated / shared tier, explicit CIDRs, tenant_machines from 5 up, the VPC / IGW / EIP / NAT quotas
raised with network_quota_overrides as for an account whose quotas were raised: moto reports the AWS defaults),
converges it once with `site.yml -e env=local` (timed, not the figure), then times

- a no-op `site.yml -e env=local` (it must report changed=0 and make no mutating request), and
- a `site.yml -e env=local --check --diff` (it must make no mutating request),

counting the AWS requests of each run in the local cloud's request log. Managed resources are the resources the
Resource Groups Tagging API reports for the environment (Platform=manufacturing, Environment=local, as
scripts/summary.py prints them) plus the environment's IAM roles and customer managed policies (IAM is outside
the emulator's tagging API). Printed: wall s, requests, mutating requests, requests / resource, s / resource,
s / tenant, the marginal cost of a tenant between the smallest and the largest size, and each size's slowest tasks.
The local cloud of a size is stopped and purged afterwards (--keep leaves the last one running).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

import boto3  # noqa: E402
from support.playbook import load_fleet, run_playbook, write_inventory  # noqa: E402

from localcloud.requestlog import RequestLog  # noqa: E402

QUOTAS = {"L-F678F1CE": 100, "L-A4707A72": 100, "L-0263D0A3": 100, "L-FE5A380F": 100}
SERVICES = "moto,postgres,timescaledb,kafka"
PORT_OFFSETS = {"LOCALCLOUD_MOTO_PORT": 0, "LOCALCLOUD_PG_PORT": 1, "LOCALCLOUD_TSDB_PORT": 2,
                "LOCALCLOUD_KAFKA_PORT": 3, "LOCALCLOUD_FAULTS_PORT": 4}


def fleet_of(size):
    fleet = load_fleet()
    tenants = {}
    for i in range(size):
        name = "bench-%02d" % i
        tenants[name] = {"tenant_id": name, "tenancy_tier": "shared" if i % 2 else "dedicated",
                         "tenant_machines": 5 + i, "network_vpc_cidr": "10.%d.%d.0/20" % (100 + i // 16, (i % 16) * 16)}
    fleet["all"]["children"]["tenants"]["hosts"] = tenants
    return fleet


def ctl(env, *args):
    return subprocess.run([sys.executable, str(ROOT / "localcloud" / "ctl.py"), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def managed_resources(endpoints):
    cfg = endpoints["aws"]
    session = boto3.session.Session(aws_access_key_id=cfg["access_key"], aws_secret_access_key=cfg["secret_key"],
                                    region_name=cfg["region"])
    tagging = session.client("resourcegroupstaggingapi", endpoint_url=cfg["endpoint_url"])
    filters = [{"Key": "Platform", "Values": ["manufacturing"]}, {"Key": "Environment", "Values": ["local"]}]
    tagged = sum(len(page["ResourceTagMappingList"])
                 for page in tagging.get_paginator("get_resources").paginate(TagFilters=filters))
    iam = session.client("iam", endpoint_url=cfg["endpoint_url"])
    roles = [r for page in iam.get_paginator("list_roles").paginate() for r in page["Roles"]
             if r["RoleName"].startswith("mfg-local-")]
    policies = [p for page in iam.get_paginator("list_policies").paginate(Scope="Local") for p in page["Policies"]
                if p["PolicyName"].startswith("mfg-local-")]
    return tagged + len(roles) + len(policies)


def slowest_tasks(run, count=8):
    """(seconds, task name) of the run's slowest tasks (one task runs on every host of its play at once)."""
    def seconds(duration):
        from datetime import datetime

        start, end = (datetime.fromisoformat(duration[k].replace("Z", "+00:00")) for k in ("start", "end"))
        return (end - start).total_seconds()

    tasks = []
    for play in run.data.get("plays", []):
        for task in play.get("tasks", []):
            duration = task["task"].get("duration") or {}
            if duration.get("start") and duration.get("end"):
                tasks.append((round(seconds(duration), 1), task["task"]["name"]))
    return sorted(tasks, reverse=True)[:count]


def timed(log, *args, env):
    mark = log.mark()
    began = time.monotonic()
    run = run_playbook("site.yml", *args, env=env, timeout=7200)
    wall = time.monotonic() - began
    entries = log.since(mark)
    return run, wall, entries, [e for e in entries if e.get("mutating")]


def bench(size, workdir, base_port, keep):
    state = Path(workdir) / ("cloud-%d" % size)
    env = dict(os.environ, LOCALCLOUD_DIR=str(state),
               **{var: str(base_port + offset) for var, offset in PORT_OFFSETS.items()})
    started = ctl(env, "up", "--services", SERVICES)
    if started.returncode != 0:
        sys.exit("site_bench: the local cloud did not start:\n%s%s" % (started.stdout, started.stderr))
    try:
        endpoints = json.loads((state / "endpoints.json").read_text())
        log = RequestLog(endpoints["aws"]["request_log"])
        inventory = write_inventory(Path(workdir) / ("fleet-%d" % size), fleet_of(size))
        args = ["-i", str(inventory), "-e", "env=local", "-e", json.dumps({"network_quota_overrides": QUOTAS})]
        first, first_s, _entries, _mutating = timed(log, *args, env=env)
        if first.rc != 0:
            sys.exit("site_bench: the first converge of %d tenants failed:\n%s" % (size, first.explain()))
        noop, noop_s, noop_requests, noop_mutating = timed(log, *args, env=env)
        if noop.rc != 0 or noop.changed:
            sys.exit("site_bench: the no-op run of %d tenants: rc=%s changed=%s %s\n%s"
                     % (size, noop.rc, noop.changed, noop.changed_tasks(), noop.explain()))
        check, check_s, check_requests, check_mutating = timed(log, *args, "--check", "--diff", env=env)
        if check.rc != 0:
            sys.exit("site_bench: --check --diff of %d tenants failed:\n%s" % (size, check.explain()))
        resources = managed_resources(endpoints)
        return {
            "tenants": size, "resources": resources, "first_converge_s": round(first_s, 1),
            "noop_s": round(noop_s, 1), "noop_requests": len(noop_requests), "noop_mutating": len(noop_mutating),
            "check_s": round(check_s, 1), "check_requests": len(check_requests),
            "check_mutating": len(check_mutating), "check_changed": check.changed,
            "requests_per_resource": round(len(noop_requests) / resources, 2),
            "seconds_per_resource": round(noop_s / resources, 3), "seconds_per_tenant": round(noop_s / size, 1),
            "slowest_noop_tasks": slowest_tasks(noop),
            "top_noop_requests": Counter("%s:%s" % (e.get("service"), e.get("action"))
                                         for e in noop_requests).most_common(12),
        }
    finally:
        if not keep:
            ctl(env, "down", "--purge")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="3,30")
    parser.add_argument("--base-port", type=int, default=48000, help="first of the 5 ports of each local cloud")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--keep", action="store_true", help="leave the last size's local cloud running")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="site-bench-") as workdir:
        for i, size in enumerate(sizes):
            rows.append(bench(size, workdir, args.base_port, args.keep and i == len(sizes) - 1))
            print(json.dumps(rows[-1]), flush=True)
    print("\n| tenants | managed resources | first converge s | no-op s | requests | mutating | req/resource "
          "| s/resource | s/tenant | --check --diff s | its requests | its mutating |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| %(tenants)d | %(resources)d | %(first_converge_s)s | %(noop_s)s | %(noop_requests)d | "
              "%(noop_mutating)d | %(requests_per_resource)s | %(seconds_per_resource)s | %(seconds_per_tenant)s | "
              "%(check_s)s | %(check_requests)d | %(check_mutating)d |" % r)
    if len(rows) > 1:
        small, large = rows[0], rows[-1]
        tenants = large["tenants"] - small["tenants"]
        resources = large["resources"] - small["resources"]
        print("\nmarginal cost of a tenant (%d → %d tenants, no-op): %.2f s wall, %.2f requests per resource, "
              "%.1f resources" % (small["tenants"], large["tenants"], (large["noop_s"] - small["noop_s"]) / tenants,
                                  (large["noop_requests"] - small["noop_requests"]) / max(resources, 1),
                                  resources / tenants))
    for r in rows:
        print("\nslowest tasks of the no-op run, %d tenants: %s" % (
            r["tenants"], "; ".join("%s s %s" % t for t in r["slowest_noop_tasks"])))
    for r in rows:
        print("\nmost frequent requests of the no-op run, %d tenants: %s" % (
            r["tenants"], ", ".join("%s %d" % kv for kv in r["top_noop_requests"])))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if all(r["noop_mutating"] == 0 and r["check_mutating"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
