#!/usr/bin/env python3
"""Benchmark: a no-op converge under injected AWS API faults (issue 13), at several fault rates.

The local cloud's fault proxy (localcloud/faults.py) sits in front of the emulator; for each rate the same no-op
`site.yml -e env=local` (the fleet must be converged already: `make demo`) runs through it, and the script prints
per rate: success, changed tasks, wall time, requests that reached the proxy, requests forwarded to the emulator,
injected faults, mutating requests that reached the emulator (must be 0 on a no-op).

A rate R injects throttling errors (each service's own code) on R of the requests and HTTP 503s on R/4 more (20 %
means 20 % throttling + 5 % 503, as tests/integration/test_faults.py).

Usage: .venv/bin/python benchmarks/fault_bench.py [--rates 0,0.05,0.2] [--limit HOSTS] [--seed 1] [--json FILE]
The local cloud must be up with the proxy: `python localcloud/ctl.py up --services moto,postgres,timescaledb,kafka,
faults` (this script starts the proxy itself through ctl.py if it is not running, and stops it again).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from support.faults import control, ctl  # noqa: E402
from support.playbook import run_playbook  # noqa: E402

from localcloud.requestlog import RequestLog  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="0,0.05,0.2", help="throttling rates (503s: a quarter), comma-separated")
    parser.add_argument("--limit", help="ansible-playbook --limit (default: the whole fleet)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    state = Path(os.environ.get("LOCALCLOUD_DIR") or ROOT / ".localcloud")
    started = ctl("status", "--services", "faults").returncode != 0
    if started and ctl("up", "--services", "moto,faults").returncode != 0:
        sys.exit("cannot start the fault proxy (is the local cloud up? make local-up)")
    endpoints = json.loads((state / "endpoints.json").read_text())
    proxy = endpoints["faults"]
    log = RequestLog(endpoints["aws"]["request_log"])
    rows = []
    try:
        for rate in (float(r) for r in args.rates.split(",")):
            control(proxy["control_url"], throttle=rate, unavailable=rate / 4, seed=args.seed, reset=True)
            mark = log.mark()
            extra = ["--limit", args.limit] if args.limit else []
            began = time.monotonic()
            run = run_playbook("site.yml", "-e", "env=local",
                               "-e", "platform_aws_endpoint_url=" + proxy["endpoint_url"], *extra)
            wall = time.monotonic() - began
            stats = control(proxy["control_url"], throttle=0, unavailable=0)
            rows.append({"rate": rate, "success": run.rc == 0, "changed": run.changed, "wall_s": round(wall, 1),
                         "requests": stats["requests"], "forwarded": stats["forwarded"],
                         "faults": stats["injected"], "faults_by_code": stats["injected_by_code"],
                         "mutating": len(log.mutating_since(mark))})
    finally:
        if started:
            ctl("down", "--services", "faults")
    print("no-op site.yml -e env=local%s through the fault proxy (seed %d)" % (
        " --limit " + args.limit if args.limit else "", args.seed))
    print("%-6s %-8s %-8s %-8s %-9s %-10s %-7s %-9s" % ("rate", "success", "changed", "wall s", "requests",
                                                       "forwarded", "faults", "mutating"))
    for r in rows:
        print("%-6s %-8s %-8d %-8.1f %-9d %-10d %-7d %-9d" % (
            "%d %%" % round(r["rate"] * 100), "yes" if r["success"] else "NO", r["changed"], r["wall_s"],
            r["requests"], r["forwarded"], r["faults"], r["mutating"]))
    for r in rows:
        if r["faults"]:
            print("  %d %%: %s" % (round(r["rate"] * 100), ", ".join(
                "%s %d" % kv for kv in sorted(r["faults_by_code"].items()))))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if all(r["success"] and r["changed"] == 0 and r["mutating"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
