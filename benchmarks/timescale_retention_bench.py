#!/usr/bin/env python3
"""Benchmark: manufacturing.platform.timescale_retention vs a loop of community.postgresql.postgresql_query.

Both set a 30-day retention policy on N hypertables (default 300) through ansible-playbook (the repository's
ansible.cfg, the venv's interpreter), against this script's own TimescaleDB server (localcloud/timescaledb,
started on a free port and stopped by PID):

  A. one timescale_retention task listing the N hypertables (one module run, one connection, one transaction);
  B. one postgresql_query task looped over the N hypertables, each item running
     SELECT add_retention_policy(..., if_not_exists => true) (N module runs, N connections).

Each variant works on its own schema of N fresh hypertables; both are then read back from
timescaledb_information.jobs (N policies of 30 days each). Prints both wall times (and the second, idempotent,
run of each with --second-run) and the ratio B / A.

Usage: .venv/bin/python benchmarks/timescale_retention_bench.py [--tables 300] [--second-run] [--json FILE]
Needs Node.js 20+ and `npm ci --prefix localcloud/timescaledb` (make npm).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg
import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SERVER = ROOT / "localcloud" / "timescaledb" / "server.mjs"
READY_RE = re.compile(r"^READY ([0-9.]+):(\d+)$")


def start_server(workdir):
    node = shutil.which("node")
    if node is None or not (SERVER.parent / "node_modules").is_dir():
        sys.exit("bench: needs node and `npm ci --prefix localcloud/timescaledb` (make npm)")
    log = open(workdir / "server.log", "ab")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen([node, str(SERVER), "--host", "127.0.0.1", "--port", "0", "--queue-timeout", "300"],
                            stdout=subprocess.PIPE, stderr=log, text=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(120)
    match = READY_RE.match(lines[0].strip()) if lines else None
    if match is None:
        stop_server(proc)
        sys.exit("bench: the TimescaleDB server did not get ready; see %s" % (workdir / "server.log"))
    return proc, match.group(1), int(match.group(2))


def stop_server(proc):
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def create_hypertables(conn_args, schema, count):
    with psycopg.connect(**conn_args, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA %s" % schema)
        for i in range(count):
            conn.execute("CREATE TABLE %s.m%03d (time timestamptz NOT NULL, machine text, value double precision)"
                         % (schema, i))
            conn.execute("SELECT create_hypertable('%s.m%03d', by_range('time', interval '7 days'))" % (schema, i))


def read_policies(conn_args, schema):
    with psycopg.connect(**conn_args, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT config->>'drop_after', count(*) FROM timescaledb_information.jobs "
            "WHERE proc_name = 'policy_retention' AND hypertable_schema = %s GROUP BY 1", (schema,)).fetchall()
    return dict(rows)


def run_playbook(workdir, name, tasks, inventory):
    play = [{"name": name, "hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    path = workdir / ("%s.yml" % name)
    path.write_text(yaml.safe_dump(play, sort_keys=False))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               ANSIBLE_NOCOLOR="1", PATH=str(BIN) + os.pathsep + os.environ.get("PATH", ""))
    started = time.perf_counter()
    proc = subprocess.run([str(BIN / "ansible-playbook"), str(path), "-i", str(inventory)], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit("bench: %s failed (rc=%d)\n%s\n%s" % (name, proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:]))
    stats = json.loads(proc.stdout[proc.stdout.find("{"):])["stats"]["localhost"]
    return elapsed, stats


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=300, help="hypertables per variant (default 300)")
    parser.add_argument("--second-run", action="store_true", help="also time a second (idempotent) run of each")
    parser.add_argument("--json", type=Path, help="write the figures to this file as JSON")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="tsr-bench-"))
    inventory = workdir / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
    proc, host, port = start_server(workdir)
    try:
        conn_args = {"host": host, "port": port, "user": "postgres", "dbname": "postgres"}
        login = {"login_host": host, "login_port": port, "login_user": "postgres", "login_db": "postgres"}
        started = time.perf_counter()
        create_hypertables(conn_args, "bench_module", args.tables)
        create_hypertables(conn_args, "bench_loop", args.tables)
        print("setup: %d + %d hypertables in %.1f s" % (args.tables, args.tables, time.perf_counter() - started))

        module_task = [{
            "name": "one timescale_retention task",
            "manufacturing.platform.timescale_retention": dict(
                login, hypertables=["bench_module.m%03d" % i for i in range(args.tables)], drop_after="30 days"),
        }]
        loop_task = [{
            "name": "postgresql_query loop",
            "community.postgresql.postgresql_query": dict(
                login,
                query="SELECT add_retention_policy(%s::regclass, drop_after => interval '30 days', "
                      "if_not_exists => true)",
                positional_args=["{{ item }}"]),
            "loop": ["bench_loop.m%03d" % i for i in range(args.tables)],
        }]
        figures = {"tables": args.tables}
        figures["module_s"], module_stats = run_playbook(workdir, "bench_module", module_task, inventory)
        print("A  timescale_retention, 1 task x %d hypertables: %7.2f s  (changed=%d)"
              % (args.tables, figures["module_s"], module_stats["changed"]))
        figures["loop_s"], loop_stats = run_playbook(workdir, "bench_loop", loop_task, inventory)
        print("B  postgresql_query loop, %d items:             %7.2f s  (changed=%d)"
              % (args.tables, figures["loop_s"], loop_stats["changed"]))
        for schema in ("bench_module", "bench_loop"):
            policies = read_policies(conn_args, schema)
            if policies != {"30 days": args.tables}:
                sys.exit("bench: %s has policies %r, expected %d x 30 days" % (schema, policies, args.tables))
        figures["ratio"] = figures["loop_s"] / figures["module_s"]
        print("ratio B/A: %.1fx (target >= 20x)" % figures["ratio"])
        if args.second_run:
            figures["module_second_s"], stats = run_playbook(workdir, "bench_module", module_task, inventory)
            print("A2 second run (idempotent):                     %7.2f s  (changed=%d)"
                  % (figures["module_second_s"], stats["changed"]))
            figures["loop_second_s"], stats = run_playbook(workdir, "bench_loop", loop_task, inventory)
            print("B2 second run (idempotent):                     %7.2f s  (changed=%d)"
                  % (figures["loop_second_s"], stats["changed"]))
            figures["ratio_second"] = figures["loop_second_s"] / figures["module_second_s"]
            print("ratio B2/A2: %.1fx" % figures["ratio_second"])
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2) + "\n")
    finally:
        stop_server(proc)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
