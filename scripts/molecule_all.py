#!/usr/bin/env python3
"""Run the molecule scenario of every role, ``--jobs`` at a time, and print a summary.

    python scripts/molecule_all.py [--jobs N] [--scenario default] [role ...]

Each scenario runs ``molecule test -s <scenario>`` in its role directory with its output in
``.build/molecule/<role>.log``; the log is printed whole (never interleaved) when the scenario ends, a summary with
each scenario's result and wall time comes last, and the exit status is 1 when any scenario failed.

The scenarios converge against the same local cloud. The roles' converges are idempotent and every scenario of the
reference fleet converges what the others converge too (the shared layer, then the tenants), so running them side
by side is a race only on a first converge of an empty cloud: run ``--jobs 1`` there (``make molecule`` does; ``make
test`` runs them after the integration tests have converged the fleet). The runs are bound by the controller's
waits on the emulator and the database servers, not by CPU, so a few at once finish sooner on a 2-core machine.
The scenarios that converge the most roles start first, so the longest one does not start last.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ROLES = REPO / "roles"
LOG_DIR = REPO / ".build" / "molecule"


@dataclass
class Result:
    role: str
    returncode: int
    seconds: float
    log: Path


def scenarios(scenario: str, only: list[str]) -> list[str]:
    """Roles that have the scenario (or the named ones), the ones with the most roles in their converge first."""
    found = sorted(p.parents[2].name for p in ROLES.glob(f"*/molecule/{scenario}/molecule.yml"))
    if only:
        missing = sorted(set(only) - set(found))
        if missing:
            raise SystemExit(f"molecule_all: no molecule scenario {scenario!r} for role(s): {', '.join(missing)}")
        found = [r for r in found if r in only]
    return sorted(found, key=lambda role: (-converge_weight(role, scenario), role))


def converge_weight(role: str, scenario: str) -> int:
    """How many role entries the scenario's converge playbook runs (a proxy for how long it takes)."""
    converge = ROLES / role / "molecule" / scenario / "converge.yml"
    try:
        text = converge.read_text(encoding="utf-8")
    except OSError:
        return 0
    return sum(1 for line in text.splitlines() if line.strip().startswith("- role:"))


def run_one(role: str, scenario: str, env: dict[str, str]) -> Result:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = LOG_DIR / f"{role}.log"
    start = time.monotonic()
    with log.open("w", encoding="utf-8") as out:
        proc = subprocess.run(  # noqa: S603 - fixed argv, no shell
            ["molecule", "test", "-s", scenario],  # noqa: S607 - molecule from the venv on PATH
            cwd=ROLES / role, stdout=out, stderr=subprocess.STDOUT, env=env, check=False,
        )
    return Result(role, proc.returncode, time.monotonic() - start, log)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1, help="scenarios at once (default 1)")
    parser.add_argument("--scenario", default="default")
    parser.add_argument("roles", nargs="*", help="only these roles (default: every role with the scenario)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    roles = scenarios(args.scenario, args.roles)
    if not roles:
        print(f"molecule_all: no role has a molecule scenario {args.scenario!r}", file=sys.stderr)
        return 1
    env = dict(os.environ)
    print(f"== molecule: {len(roles)} scenario(s), {args.jobs} at a time: {', '.join(roles)}", flush=True)
    results: list[Result] = []
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(run_one, role, args.scenario, env) for role in roles]
        for future in as_completed(futures):
            result = future.result()
            results.append(result)
            status = "passed" if result.returncode == 0 else f"FAILED (exit {result.returncode})"
            print(f"== molecule: {result.role} {status} in {result.seconds:.0f} s (log {result.log})", flush=True)
            sys.stdout.write(result.log.read_text(encoding="utf-8", errors="replace"))
            print(f"== molecule: end of {result.role}", flush=True)
    print("== molecule summary")
    for result in sorted(results, key=lambda r: roles.index(r.role)):
        status = "passed" if result.returncode == 0 else "FAILED"
        print(f"  {result.role:<12} {status:<7} {result.seconds:6.0f} s")
    failed = [r.role for r in results if r.returncode != 0]
    if failed:
        print(f"molecule: {len(failed)} scenario(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
