"""Integration tests of manufacturing.platform.msk_topic (transport kafka) against a real Kafka-protocol broker.

Self-contained: a module-scoped fixture starts its own noida-db broker (the static binary inside the
``noida_db`` package, not its Python wrapper, so the PID we stop is the broker's) on a free port in a temporary
directory and stops it by PID at the end. The module runs the way Ansible runs it: ``ansible-playbook`` from the
repository root with the repository's ansible.cfg, the venv's interpreter and the ansible.posix.json callback.

The broker auto-creates topics on metadata requests that name a topic, so existence is always read from a full
topic listing (``list_topics()`` without a topic).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

confluent_kafka = pytest.importorskip("confluent_kafka")
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, ResourceType  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MODULE = "manufacturing.platform.msk_topic"


# --------------------------------------------------------------------------------------------------------------
# Broker and runner
# --------------------------------------------------------------------------------------------------------------


def _noida_binary():
    import noida_db

    binary = Path(noida_db.__file__).resolve().parent / ("noida-db.exe" if os.name == "nt" else "noida-db")
    if not binary.is_file():
        pytest.skip(f"noida-db binary not found at {binary}")
    if not os.access(binary, os.X_OK):
        binary.chmod(0o755)
    return binary


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port, proc, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"noida-db exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"noida-db did not listen on {port} within {timeout}s")


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    """``host:port`` of a private noida-db Kafka broker, stopped by PID after the module's tests."""
    data_dir = tmp_path_factory.mktemp("noida-kafka")
    port = _free_port()
    log = open(data_dir / "broker.log", "wb")  # noqa: SIM115 - closed in the finaliser
    proc = subprocess.Popen(
        [
            str(_noida_binary()),
            "start",
            "--data-dir",
            str(data_dir / "data"),
            "--host",
            "127.0.0.1",
            "--only",
            "kafka",
            "--kafka-port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_for_port(port, proc)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def admin(broker):
    return AdminClient({"bootstrap.servers": broker})


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    path = tmp_path_factory.mktemp("msk-topic-playbooks")
    inventory = {
        "all": {
            "hosts": {
                "localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
            }
        }
    }
    (path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    return path


class Run:
    def __init__(self, proc, data):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.data = data

    @property
    def results(self):
        return [task["hosts"]["localhost"] for play in self.data.get("plays", []) for task in play["tasks"]]

    @property
    def result(self):
        assert self.results, self.explain()
        return self.results[-1]

    def explain(self):
        return f"rc={self.rc}\nstdout:\n{self.stdout[-4000:]}\nstderr:\n{self.stderr[-3000:]}"


_counter = [0]


def run_module(workdir, args, check=False, diff=False, timeout=180):
    """Run one ``msk_topic`` task through ansible-playbook; return the parsed JSON callback output."""
    _counter[0] += 1
    playbook = workdir / f"play{_counter[0]}.yml"
    play = {
        "hosts": "localhost",
        "gather_facts": False,
        "tasks": [{"name": "msk_topic", MODULE: args, "ignore_errors": True}],
    }
    playbook.write_text(yaml.safe_dump([play], sort_keys=False))
    cmd = [str(BIN / "ansible-playbook"), "-i", str(workdir / "inventory.yml"), str(playbook)]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        PATH=str(BIN) + os.pathsep + env.get("PATH", ""),
    )
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    start = proc.stdout.find("{")
    data = json.loads(proc.stdout[start:]) if start >= 0 else {}
    return Run(proc, data)


# --------------------------------------------------------------------------------------------------------------
# Read-back helpers (full listing only: never a metadata request naming a topic)
# --------------------------------------------------------------------------------------------------------------


def topic_names(admin):
    return set(admin.list_topics(timeout=10).topics)


def partitions_of(admin, name):
    return len(admin.list_topics(timeout=10).topics[name].partitions)


def dynamic_configs(admin, name):
    futures = admin.describe_configs([ConfigResource(ResourceType.TOPIC, name)])
    entries = next(iter(futures.values())).result()
    return {
        key: entry.value for key, entry in entries.items() if entry.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    }


def ok(run):
    result = run.result
    assert not result.get("failed"), result.get("msg") or run.explain()
    return result


def failed(run):
    result = run.result
    assert result.get("failed"), run.explain()
    return result


# --------------------------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------------------------

MANY = [
    {
        "name": f"it.tenant{i:02d}.{kind}",
        "partitions": 1 + i % 4,
        "replication_factor": 1,
        "configs": {"retention.ms": 3600000 * (i + 1), "cleanup.policy": "delete"},
    }
    for i in range(8)
    for kind in ("telemetry", "commands")
]


def test_create_many_topics_in_one_call(broker, admin, workdir):
    result = ok(run_module(workdir, {"bootstrap_servers": [broker], "topics": MANY}))
    assert result["changed"] is True
    assert [t["action"] for t in result["topics"]] == ["created"] * len(MANY)
    assert len(result["actions"]) == len(MANY)
    assert result["broker_count"] == 1
    existing = topic_names(admin)
    for spec in MANY:
        assert spec["name"] in existing
        assert partitions_of(admin, spec["name"]) == spec["partitions"]
        assert dynamic_configs(admin, spec["name"]) == {
            "retention.ms": str(spec["configs"]["retention.ms"]),
            "cleanup.policy": "delete",
        }


def test_second_run_is_unchanged(broker, workdir):
    result = ok(run_module(workdir, {"bootstrap_servers": [broker], "topics": MANY}))
    assert result["changed"] is False
    assert result["actions"] == []
    assert {t["action"] for t in result["topics"]} == {"unchanged"}


def test_raise_partitions_and_change_retention(broker, admin, workdir):
    name = MANY[0]["name"]
    topics = [{"name": name, "partitions": 4, "configs": {"retention.ms": "120000"}}]
    run = run_module(workdir, {"bootstrap_servers": [broker], "topics": topics}, diff=True)
    result = ok(run)
    assert result["changed"] is True
    assert result["topics"][0]["action"] == "updated"
    assert result["actions"] == [
        f"increase partitions of topic {name} from 1 to 4",
        f"set configs of topic {name}: retention.ms=120000",
    ]
    assert partitions_of(admin, name) == 4
    configs = dynamic_configs(admin, name)
    assert configs["retention.ms"] == "120000"
    assert configs["cleanup.policy"] == "delete", "unlisted configs stay as they are"
    # diff content: per-topic before/after with partitions, replication factor and configs
    diff = result["diff"]
    assert len(diff) == 1
    assert diff[0]["before"]["partitions"] == 1 and diff[0]["after"]["partitions"] == 4
    assert diff[0]["before"]["replication_factor"] == diff[0]["after"]["replication_factor"] == 1
    assert diff[0]["before"]["configs"]["retention.ms"] == "3600000"
    assert diff[0]["after"]["configs"]["retention.ms"] == "120000"
    assert diff[0]["after"]["configs"]["cleanup.policy"] == "delete"
    # idempotent afterwards
    assert ok(run_module(workdir, {"bootstrap_servers": [broker], "topics": topics}))["changed"] is False


def test_decrease_partitions_is_a_clear_error_and_changes_nothing(broker, admin, workdir):
    name = MANY[0]["name"]
    topics = [
        {"name": "it.should-not-be-created", "partitions": 1, "replication_factor": 1},
        {"name": name, "partitions": 2},
    ]
    result = failed(run_module(workdir, {"bootstrap_servers": [broker], "topics": topics}))
    assert name in result["msg"] and "from 4 to 2" in result["msg"], result["msg"]
    assert result["changed"] is False
    assert "it.should-not-be-created" not in topic_names(admin)
    assert partitions_of(admin, name) == 4


def test_check_mode_changes_nothing(broker, admin, workdir):
    name = MANY[1]["name"]
    before_partitions = partitions_of(admin, name)
    before_configs = dynamic_configs(admin, name)
    topics = [
        {"name": "it.check-mode-new", "partitions": 2, "replication_factor": 1},
        {"name": name, "partitions": before_partitions + 3, "configs": {"retention.ms": "1000"}},
        {"name": MANY[2]["name"], "state": "absent"},
    ]
    run = run_module(workdir, {"bootstrap_servers": [broker], "topics": topics}, check=True, diff=True)
    result = ok(run)
    assert result["changed"] is True
    assert [t["action"] for t in result["topics"]] == ["created", "updated", "deleted"]
    assert result["actions"][0].startswith("create topic it.check-mode-new")
    assert f"delete topic {MANY[2]['name']}" in result["actions"]
    assert [d["before_header"] for d in result["diff"]] == [f"topic {t['name']}" for t in topics]
    assert result["diff"][2]["after"] == {"name": MANY[2]["name"], "state": "absent"}
    existing = topic_names(admin)
    assert "it.check-mode-new" not in existing
    assert MANY[2]["name"] in existing
    assert partitions_of(admin, name) == before_partitions
    assert dynamic_configs(admin, name) == before_configs


def test_delete_topics(broker, admin, workdir):
    names = [MANY[2]["name"], MANY[3]["name"]]
    args = {"bootstrap_servers": [broker], "state": "absent", "topics": [{"name": n} for n in names]}
    result = ok(run_module(workdir, args))
    assert result["changed"] is True
    assert result["actions"] == [f"delete topic {n}" for n in names]
    assert not set(names) & topic_names(admin)
    again = ok(run_module(workdir, args))
    assert again["changed"] is False
    assert {t["action"] for t in again["topics"]} == {"unchanged"}


def test_per_topic_state_and_purge_configs(broker, admin, workdir):
    name = "it.purge"
    create = {
        "bootstrap_servers": [broker],
        "topics": [{"name": name, "partitions": 1, "replication_factor": 1, "configs": {"retention.ms": 1000}}],
    }
    ok(run_module(workdir, create))
    # set one more config, then purge everything not listed; the same call deletes another topic
    ok(
        run_module(
            workdir,
            {
                "bootstrap_servers": [broker],
                "topics": [{"name": name, "configs": {"retention.ms": 1000, "max.message.bytes": 2000000}}],
            },
        )
    )
    assert dynamic_configs(admin, name) == {"retention.ms": "1000", "max.message.bytes": "2000000"}
    args = {
        "bootstrap_servers": [broker],
        "purge_configs": True,
        "topics": [
            {"name": name, "configs": {"max.message.bytes": "2000000"}},
            {"name": MANY[4]["name"], "state": "absent"},
        ],
    }
    result = ok(run_module(workdir, args))
    assert result["actions"] == [
        f"reset configs of topic {name} to their defaults: retention.ms",
        f"delete topic {MANY[4]['name']}",
    ]
    assert dynamic_configs(admin, name) == {"max.message.bytes": "2000000"}
    assert MANY[4]["name"] not in topic_names(admin)


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ({"name": "bad name", "partitions": 1, "replication_factor": 1}, "topic name 'bad name' is illegal"),
        ({"name": "..", "partitions": 1, "replication_factor": 1}, "'.' and '..' are not allowed"),
        ({"name": "x" * 250, "partitions": 1, "replication_factor": 1}, "the maximum is 249"),
        ({"name": "it.zero", "partitions": 0, "replication_factor": 1}, "partitions must be >= 1, got 0"),
        ({"name": "it.rf0", "partitions": 1, "replication_factor": 0}, "replication_factor must be >= 1, got 0"),
        (
            {"name": "it.rf5", "partitions": 1, "replication_factor": 5},
            "replication_factor 5 is larger than the number of brokers in the cluster (1)",
        ),
        ({"name": "it.nopart", "replication_factor": 1}, "partitions is required to create it"),
        (
            {"name": "it.badcfg", "partitions": 1, "replication_factor": 1, "configs": {"retention.ms": "soon"}},
            "INVALID_CONFIG",
        ),
        (
            {"name": "it.unknowncfg", "partitions": 1, "replication_factor": 1, "configs": {"no.such.config": "1"}},
            "no.such.config",
        ),
    ],
    ids=[
        "space",
        "dotdot",
        "too-long",
        "partitions-0",
        "rf-0",
        "rf-above-brokers",
        "no-partitions",
        "bad-value",
        "unknown-config",
    ],
)
def test_bad_input_gives_clear_error_and_changes_nothing(broker, admin, workdir, topic, expected):
    topics = [{"name": "it.valid-sibling", "partitions": 1, "replication_factor": 1}, topic]
    result = failed(run_module(workdir, {"bootstrap_servers": [broker], "topics": topics}))
    assert expected in result["msg"], result["msg"]
    assert result.get("changed") is False
    existing = topic_names(admin)
    assert "it.valid-sibling" not in existing
    assert topic["name"] not in existing


def test_unreachable_broker_fails_within_timeout(workdir):
    port = _free_port()  # nothing listens there
    started = time.monotonic()
    run = run_module(
        workdir,
        {
            "bootstrap_servers": [f"127.0.0.1:{port}"],
            "connect_timeout": 3,
            "topics": [{"name": "it.unreachable", "partitions": 1, "replication_factor": 1}],
        },
    )
    elapsed = time.monotonic() - started
    result = failed(run)
    assert "could not reach the Kafka cluster" in result["msg"], result["msg"]
    assert f"127.0.0.1:{port}" in result["msg"] and "within 3s" in result["msg"]
    assert elapsed < 3 + 15, f"took {elapsed:.1f}s"
