#!/usr/bin/env python3
"""Benchmark: the alert processor Lambda handler, in-process, against the local cloud.

A throw-away tenant (tests/support/alert_processor_tenant.py: PostgreSQL database + role over TLS, a TimescaleDB
schema, SNS topic + SQS queue, secrets on the emulator) with 100 machines and one rule (temperature > 80, clears
at 70). Each MSK batch carries 100 readings (one per machine, base64 JSON values), 5 of them (5 %) over the
threshold on machines that are not alerting yet — so every batch stores 100 readings, opens 5 alerts, closes the
5 of the previous batch and publishes one SNS notification (the worst case for 5 % alerting).

Prints the first (cold) batch — secrets, connections, rule and machine loads — and the warm batches: p50 / p99 /
max latency per batch, readings per second, time spent per stage, peak RSS; then checks the results (alerts,
notifications, stored readings) and removes the tenant. ``--compare-inserts`` also times three ways of writing a
100-row batch to TimescaleDB (unnest INSERT as the handler does, multi-row VALUES, COPY).

Usage: .venv/bin/python benchmarks/alert_processor_bench.py [--batches 200] [--json FILE] [--compare-inserts]
The local cloud must be up (make local-up). Note: it holds the local TimescaleDB's single session while it runs.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import importlib
import io
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.alert_processor_tenant import LAMBDA_DIR, Tenant, load_endpoints  # noqa: E402

MACHINES = ["m%03d" % i for i in range(100)]
HOT_PER_BATCH = 5
RULE = {"name": "overheating", "metric": "temperature", "comparator": ">", "threshold": 80.0,
        "clear_threshold": 70.0, "severity": "critical"}


def percentile(values, pct):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))]


def make_event(tenant_id, batch, base_ms):
    hot = {(HOT_PER_BATCH * batch + k) % len(MACHINES) for k in range(HOT_PER_BATCH)}
    topic = "%s.telemetry" % tenant_id
    records = []
    for i, machine in enumerate(MACHINES):
        value = 90.0 + i % 7 if i in hot else 50.0 + (batch * 7 + i) % 11
        doc = {"machine_id": machine, "metric": "temperature", "value": value, "ts": base_ms + batch * 1000 + i,
               "unit": "C"}
        records.append({"topic": topic, "partition": 0, "offset": batch * len(MACHINES) + i, "timestamp": base_ms,
                        "timestampType": "CREATE_TIME", "value": base64.b64encode(json.dumps(doc).encode()).decode()})
    return {"eventSource": "aws:kafka", "records": {"%s-0" % topic: records}}


class Stages:
    """Wall time spent in the processor's stages (wrapping its methods; the handler code is unchanged)."""

    def __init__(self, proc):
        self.totals = {"timescaledb": 0.0, "postgres (rules+alerts+state, incl. SNS)": 0.0, "sns publish": 0.0}
        self._wrap(proc.tsdb, "run", "timescaledb")
        self._wrap(proc.pg, "run", "postgres (rules+alerts+state, incl. SNS)")
        self._wrap(proc, "notify", "sns publish")

    def _wrap(self, obj, name, label):
        original = getattr(obj, name)

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.totals[label] += time.perf_counter() - started

        setattr(obj, name, timed)

    def reset(self):
        self.totals = dict.fromkeys(self.totals, 0.0)


def import_times():
    """Cold-start import cost in a fresh interpreter: the handler module alone, then its lazy imports."""
    code = ("import sys, time; sys.path.insert(0, %r); t = time.perf_counter(); import alert_processor.handler; "
            "a = time.perf_counter(); import boto3, psycopg; b = time.perf_counter(); "
            "print(round((a - t) * 1000, 1), round((b - a) * 1000, 1))" % str(LAMBDA_DIR))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), float(out[1])


def compare_inserts(tenant, rounds=100):
    """Median/p99 ms of one 100-row write to machine_metrics: unnest INSERT vs multi-row VALUES vs COPY."""
    from psycopg import sql

    table = sql.SQL("{}.machine_metrics").format(sql.Identifier(tenant.tsdb_schema))
    cols = "(time, machine_id, metric, value, unit)"
    base = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    counter = [0]

    def rows():
        counter[0] += 1
        return [(base + dt.timedelta(seconds=counter[0], microseconds=i), MACHINES[i], "bench", float(i), "C")
                for i in range(100)]

    def unnest(conn, batch):
        conn.execute(sql.SQL("INSERT INTO {} " + cols + " SELECT * FROM unnest(%s::timestamptz[], %s::text[], "  # noqa: S608
                             "%s::text[], %s::float8[], %s::text[]) ON CONFLICT DO NOTHING").format(table),
                     [list(c) for c in zip(*batch, strict=True)])

    def values(conn, batch):
        query = "INSERT INTO {} " + cols + " VALUES " + ",".join(["(%s,%s,%s,%s,%s)"] * len(batch))  # noqa: S608
        conn.execute(sql.SQL(query + " ON CONFLICT DO NOTHING").format(table), [v for row in batch for v in row])

    def copy(conn, batch):  # COPY cannot skip duplicates: a redelivered batch would fail on the unique key
        with conn.cursor().copy(sql.SQL("COPY {} " + cols + " FROM STDIN").format(table)) as cp:
            for row in batch:
                cp.write_row(row)

    results = {}
    with tenant.tsdb() as conn:
        for name, fn in (("unnest INSERT ... ON CONFLICT", unnest), ("multi-row VALUES ... ON CONFLICT", values),
                         ("COPY FROM STDIN (no dedupe)", copy)):
            times = []
            for _ in range(rounds):
                batch = rows()
                started = time.perf_counter()
                fn(conn, batch)
                times.append((time.perf_counter() - started) * 1000)
            results[name] = (percentile(times, 50), percentile(times, 99))
        conn.execute(sql.SQL("DELETE FROM {} WHERE metric = 'bench'").format(table))
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=200, help="warm batches (default 200)")
    parser.add_argument("--json", type=Path, help="write the figures to this file as JSON")
    parser.add_argument("--compare-inserts", action="store_true", help="also time three TimescaleDB write styles")
    args = parser.parse_args()

    endpoints = load_endpoints()
    tenant = Tenant(endpoints)
    figures = {"batches": args.batches, "readings_per_batch": len(MACHINES), "alerting_per_batch": HOT_PER_BATCH}
    figures["import_handler_ms"], figures["import_boto3_psycopg_ms"] = import_times()
    handler = None
    try:
        started = time.perf_counter()
        tenant.create(machines=MACHINES, rules=[RULE])
        print("setup: tenant %s in %.1f s" % (tenant.tenant_id, time.perf_counter() - started))
        os.environ.update(tenant.env())
        handler = importlib.import_module("alert_processor.handler")
        handler.reset()
        base_ms = int(time.time() * 1000) - (args.batches + 10) * 1000
        events = [make_event(tenant.tenant_id, b, base_ms) for b in range(args.batches + 1)]

        sink = io.StringIO()
        with contextlib.redirect_stdout(sink):  # Lambda's log shipping is a pipe, not a terminal
            started = time.perf_counter()
            summary = handler.handler(events[0], None)
            cold_ms = (time.perf_counter() - started) * 1000
            stages = Stages(handler.get_processor())
            latencies = []
            wall = time.perf_counter()
            for event in events[1:]:
                started = time.perf_counter()
                result = handler.handler(event, None)
                latencies.append((time.perf_counter() - started) * 1000)
                if result["alerts"] != HOT_PER_BATCH or result["processed"] != len(MACHINES):
                    raise SystemExit("bench: unexpected batch result %r" % result)
                sink.seek(0)
                sink.truncate()
            wall = time.perf_counter() - wall
        if summary["alerts"] != HOT_PER_BATCH:
            sys.exit("bench: cold batch created %r alerts" % summary["alerts"])
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        figures.update({
            "cold_ms": round(cold_ms, 1),
            "warm_p50_ms": round(percentile(latencies, 50), 2),
            "warm_p99_ms": round(percentile(latencies, 99), 2),
            "warm_max_ms": round(max(latencies), 2),
            "warm_mean_ms": round(sum(latencies) / len(latencies), 2),
            "readings_per_s": round(len(MACHINES) * len(latencies) / wall),
            "stages_ms_per_batch": {k: round(v * 1000 / len(latencies), 2) for k, v in stages.totals.items()},
            "peak_rss_mb": round(rss_mb, 1),
        })
        print("import: handler module %.1f ms (stdlib only); boto3 + psycopg on first use %.1f ms"
              % (figures["import_handler_ms"], figures["import_boto3_psycopg_ms"]))
        print("cold (first batch: secrets, connections, rules, machines): %8.1f ms" % figures["cold_ms"])
        print("warm, %d batches of %d readings (%d alerting each):" % (len(latencies), len(MACHINES), HOT_PER_BATCH))
        print("  p50 %.2f ms   p99 %.2f ms   max %.2f ms   mean %.2f ms   (target p99 <= 50 ms)"
              % (figures["warm_p50_ms"], figures["warm_p99_ms"], figures["warm_max_ms"], figures["warm_mean_ms"]))
        print("  throughput %d readings/s (one invocation at a time)" % figures["readings_per_s"])
        for label, ms in figures["stages_ms_per_batch"].items():
            print("  stage %-44s %6.2f ms/batch" % (label, ms))
        print("peak RSS: %.1f MiB" % figures["peak_rss_mb"])

        handler.close_connections()
        expected = HOT_PER_BATCH * (args.batches + 1)
        got_alerts = tenant.pg_sql("SELECT count(*) FROM alerts")[0][0]
        got_rows = tenant.tsdb_sql('SELECT count(*) FROM "%s".machine_metrics' % tenant.tsdb_schema)[0][0]  # noqa: S608
        notes = len(tenant.receive(tenant.notify_url))
        print("check: %d alerts (expected %d), %d notifications (expected %d), %d readings stored (expected %d)"
              % (got_alerts, expected, notes, args.batches + 1, got_rows, len(MACHINES) * (args.batches + 1)))
        if (got_alerts, notes, got_rows) != (expected, args.batches + 1, len(MACHINES) * (args.batches + 1)):
            sys.exit("bench: results do not match")
        if args.compare_inserts:
            figures["insert_styles_ms"] = compare_inserts(tenant)
            for name, (p50, p99) in figures["insert_styles_ms"].items():
                print("  timescaledb write, 100 rows, %-34s p50 %6.2f ms  p99 %6.2f ms" % (name, p50, p99))
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2) + "\n")
    finally:
        if handler is not None:
            handler.reset()
        tenant.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
