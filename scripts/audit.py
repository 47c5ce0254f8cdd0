#!/usr/bin/env python3
"""`make audit`: Prowler (third-party AWS security scanner) on the converged local cloud, with the project's mutelist.

Runs ``prowler aws`` against the local cloud's AWS emulator (``AWS_ENDPOINT_URL`` from the local cloud's
endpoints.json, the emulator's dummy credentials, the platform's region), with ``security/prowler-mutelist.yaml``.
Every muted check carries a one-line reason there (emulator artefact, account-level control outside the
platform's scope, env=local sizing, deliberate design, scanner quirk); docs/security.md explains each.

Prints PASS / FAIL / MUTED per service, then every un-muted FAIL (check, resource, what Prowler says), and exits
1 when there is one (2 when Prowler itself could not run). ``--summary-json FILE`` writes the counts.

Usage: scripts/audit.py [--prowler PATH] [--region us-east-1] [--output-dir DIR] [--reuse FILE.ocsf.json]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTELIST = ROOT / "security" / "prowler-mutelist.yaml"
KINDS = ("emulator", "account", "local", "design", "scanner")


def state_dir() -> Path:
    return Path(os.environ.get("LOCALCLOUD_DIR") or ROOT / ".localcloud")


def load_mutelist(path: Path = MUTELIST) -> dict:
    """The mutelist's checks: {check: entry}. Every entry must have a Description that starts with its kind."""
    import yaml

    data = yaml.safe_load(path.read_text())
    checks = data["Mutelist"]["Accounts"]["*"]["Checks"]
    for name, entry in checks.items():
        description = entry.get("Description", "")
        kind = description.split(":", 1)[0]
        if kind not in KINDS or len(description) <= len(kind) + 2:
            raise SystemExit("%s: %s: Description must be '<%s>: <reason>'" % (path, name, "|".join(KINDS)))
    return checks


def run_prowler(prowler: str, region: str, output_dir: Path) -> Path:
    endpoints = json.loads((state_dir() / "endpoints.json").read_text())["aws"]
    env = dict(os.environ, AWS_ENDPOINT_URL=endpoints["endpoint_url"], AWS_ACCESS_KEY_ID=endpoints["access_key"],
               AWS_SECRET_ACCESS_KEY=endpoints["secret_key"], AWS_DEFAULT_REGION=region)
    env.pop("AWS_PROFILE", None)
    output_dir.mkdir(parents=True, exist_ok=True)
    report = output_dir / "prowler.ocsf.json"
    report.unlink(missing_ok=True)  # Prowler appends a second JSON array to an existing file of the same name
    cmd = [prowler, "aws", "--region", region, "--mutelist-file", str(MUTELIST), "--output-formats", "json-ocsf",
           "--output-directory", str(output_dir), "--output-filename", "prowler", "--no-banner", "--ignore-exit-code-3"]
    print("audit: %s" % " ".join(cmd), flush=True)
    done = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    (output_dir / "prowler.log").write_text(done.stdout)
    if done.returncode != 0 or not report.exists():
        print(done.stdout[-4000:])
        raise SystemExit(2)
    return report


def summarize(findings: list[dict]) -> dict:
    """Counts per service and status (MUTED = a FAIL the mutelist mutes), and the un-muted FAILs."""
    per_service = collections.defaultdict(collections.Counter)
    open_fails = []
    for finding in findings:
        status = finding.get("status_code")
        if status not in ("PASS", "FAIL"):
            continue
        service = finding.get("metadata", {}).get("event_code", "?").split("_", 1)[0]
        if finding.get("status") == "Suppressed":  # OCSF status of a finding the mutelist mutes
            status = "MUTED"
        per_service[service][status] += 1
        if status == "FAIL":
            resource = (finding.get("resources") or [{}])[0]
            open_fails.append({"check": finding["metadata"]["event_code"], "resource": resource.get("uid", ""),
                               "detail": finding.get("status_detail", "")})
    totals = collections.Counter()
    for counts in per_service.values():
        totals.update(counts)
    return {"services": {s: dict(c) for s, c in sorted(per_service.items())}, "totals": dict(totals),
            "open_fails": sorted(open_fails, key=lambda f: (f["check"], f["resource"]))}


def print_summary(summary: dict) -> None:
    print("\n%-22s %6s %6s %6s" % ("service", "PASS", "FAIL", "MUTED"))
    for service, counts in summary["services"].items():
        print("%-22s %6d %6d %6d" % (service, counts.get("PASS", 0), counts.get("FAIL", 0), counts.get("MUTED", 0)))
    totals = summary["totals"]
    print("%-22s %6d %6d %6d" % ("total", totals.get("PASS", 0), totals.get("FAIL", 0), totals.get("MUTED", 0)))
    if summary["open_fails"]:
        print("\nun-muted FAIL (%d):" % len(summary["open_fails"]))
        for fail in summary["open_fails"]:
            print("  %s  %s\n      %s" % (fail["check"], fail["resource"], fail["detail"]))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prowler", default=str(ROOT / ".venv-audit" / "bin" / "prowler"))
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--output-dir", type=Path, default=None)
    parser.add_argument("--reuse", type=Path, help="summarize an existing prowler .ocsf.json instead of scanning")
    parser.add_argument("--summary-json", type=Path)
    args = parser.parse_args(argv)
    load_mutelist()
    report = args.reuse or run_prowler(args.prowler, args.region, args.output_dir or state_dir() / "audit")
    summary = summarize(json.loads(report.read_text()))
    print_summary(summary)
    if args.summary_json:
        args.summary_json.write_text(json.dumps(summary, indent=1) + "\n")
    if summary["open_fails"]:
        print("\naudit: %d un-muted FAIL: fix them or mute each with its reason in %s"
              % (len(summary["open_fails"]), MUTELIST.relative_to(ROOT)))
        return 1
    print("\naudit: no un-muted FAIL")
    return 0


if __name__ == "__main__":
    sys.exit(main())
