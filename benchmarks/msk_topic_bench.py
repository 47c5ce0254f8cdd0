#!/usr/bin/env python3
"""Benchmark: 300 topics (100 tenants x 3) in ONE msk_topic task vs 300 single-topic tasks (a loop).

Starts its own noida-db Kafka broker (the static binary inside the noida_db package) on a free port in a temporary
directory, runs both variants through ansible-playbook from the repository root (repo ansible.cfg, the venv's
interpreter), checks that every topic exists afterwards, prints both wall times and the ratio, and stops the
broker by PID.

    .venv/bin/python benchmarks/msk_topic_bench.py [--tenants 100]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
KINDS = ("telemetry", "commands", "events")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_broker(workdir):
    import noida_db

    binary = Path(noida_db.__file__).resolve().parent / "noida-db"
    port = free_port()
    log = open(workdir / "broker.log", "wb")  # noqa: SIM115 - lives as long as the broker
    proc = subprocess.Popen(
        [str(binary), "start", "--data-dir", str(workdir / "data"), "--host", "127.0.0.1", "--only", "kafka"]
        + ["--kafka-port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc, f"127.0.0.1:{port}"
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("noida-db did not start; see " + str(workdir / "broker.log"))


def topics_for(prefix, tenants):
    return [
        {
            "name": f"{prefix}.tenant{t:03d}.{kind}",
            "partitions": 3,
            "replication_factor": 1,
            "configs": {"retention.ms": "604800000"},
        }
        for t in range(tenants)
        for kind in KINDS
    ]


def run_playbook(workdir, name, play):
    playbook = workdir / f"{name}.yml"
    playbook.write_text(yaml.safe_dump([play], sort_keys=False))
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        AWS_DEFAULT_REGION="us-east-1",
        PATH=str(BIN) + os.pathsep + env.get("PATH", ""),
    )
    cmd = [str(BIN / "ansible-playbook"), "-i", str(workdir / "inventory.yml"), str(playbook)]
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    data = json.loads(proc.stdout[proc.stdout.index("{") :])
    stats = data["stats"]["localhost"]
    if proc.returncode != 0 or stats.get("failures"):
        raise SystemExit(f"{name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=100)
    args = parser.parse_args()

    from confluent_kafka.admin import AdminClient

    with tempfile.TemporaryDirectory(prefix="msk-topic-bench-") as tmp:
        workdir = Path(tmp)
        inventory = {
            "all": {
                "hosts": {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}
            }
        }
        (workdir / "inventory.yml").write_text(yaml.safe_dump(inventory))
        proc, bootstrap = start_broker(workdir)
        try:
            batched = topics_for("bench.batched", args.tenants)
            looped = topics_for("bench.looped", args.tenants)
            base = {"hosts": "localhost", "gather_facts": False}
            one_task = dict(
                base,
                tasks=[
                    {
                        "name": "all topics in one task",
                        "manufacturing.platform.msk_topic": {"bootstrap_servers": [bootstrap], "topics": batched},
                    }
                ],
            )
            loop_tasks = dict(
                base,
                vars={"bench_topics": looped},
                tasks=[
                    {
                        "name": "one topic per task",
                        "manufacturing.platform.msk_topic": {
                            "bootstrap_servers": [bootstrap],
                            "topics": ["{{ item }}"],
                        },
                        "loop": "{{ bench_topics }}",
                    }
                ],
            )
            t_one = run_playbook(workdir, "one_task", one_task)
            t_loop = run_playbook(workdir, "loop", loop_tasks)

            existing = set(AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics)
            missing = {t["name"] for t in batched + looped} - existing
            if missing:
                raise SystemExit(f"{len(missing)} topics missing after the runs, e.g. {sorted(missing)[:3]}")
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()

    count = len(batched)
    print(f"topics per variant:           {count} ({args.tenants} tenants x {len(KINDS)})")
    print(f"one msk_topic task:           {t_one:8.2f} s  (ansible-playbook wall time)")
    print(f"{count} single-topic tasks:      {t_loop:8.2f} s  (loop, one module run per topic)")
    print(f"ratio (loop / one task):      {t_loop / t_one:8.1f}x  (target >= 20x)")


if __name__ == "__main__":
    main()
