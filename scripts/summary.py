#!/usr/bin/env python3
"""Print what the platform holds in the local cloud: resources tagged for the environment, by tenant and type.

Used by `make demo` after the converge. Reads the emulator through the Resource Groups Tagging API, so it
shows what the roles really created (found by the same tags the roles use), not what they intended.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="local")
    args = parser.parse_args()
    state = Path(os.environ.get("LOCALCLOUD_DIR", ROOT / ".localcloud"))
    endpoints = json.loads((state / "endpoints.json").read_text())
    aws = endpoints["aws"]
    client = boto3.client("resourcegroupstaggingapi", endpoint_url=aws["endpoint_url"], region_name=aws["region"],
                          aws_access_key_id=aws["access_key"], aws_secret_access_key=aws["secret_key"])
    counts = Counter()
    paginator = client.get_paginator("get_resources")
    filters = [{"Key": "Platform", "Values": ["manufacturing"]}, {"Key": "Environment", "Values": [args.env]}]
    for page in paginator.paginate(TagFilters=filters):
        for resource in page["ResourceTagMappingList"]:
            tags = {t["Key"]: t["Value"] for t in resource.get("Tags", [])}
            arn = resource["ResourceARN"].split(":")
            if len(arn) == 6 and "/" not in arn[5]:  # arn:aws:sns:...:<topic>, arn:aws:s3:::<bucket>, ...
                kind = "%s:%s" % (arn[2], {"s3": "bucket", "sns": "topic", "sqs": "queue"}.get(arn[2], "resource"))
            else:
                kind = "%s:%s" % (arn[2], arn[5].split("/")[0])
            counts[(tags.get("Tenant", "(shared layer)"), kind)] += 1

    print("\nmanufacturing.platform — env=%s in the local cloud" % args.env)
    for name in ("aws", "postgres", "timescaledb", "kafka"):
        cfg = endpoints.get(name, {})
        where = cfg.get("endpoint_url") or cfg.get("bootstrap_servers") or "%s:%s" % (cfg.get("host"), cfg.get("port"))
        print("  %-12s %s" % (name, where))
    if not counts:
        print("\n  no tagged resources yet (the roles that create them land in later issues)")
        return 0
    print("\n  %-22s %-36s %s" % ("tenant", "resource type", "count"))
    for (tenant, kind), count in sorted(counts.items()):
        print("  %-22s %-36s %d" % (tenant, kind, count))
    print("  %-22s %-36s %d" % ("total", "", sum(counts.values())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
