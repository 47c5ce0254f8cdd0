"""Fixtures for integration tests: the running local cloud and one converge of the reference fleet.

The local cloud is started by `make test` (localcloud/ctl.py run) or `make local-up`; these fixtures only
read its endpoints. The reference fleet is converged once per test session (`converged`), twice in a row,
so every role's tests read the same state and idempotence is checked once; `site_check_diff` previews it once
with `site.yml --check --diff` for every test that asserts what a preview must not do.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest
from support.databases import pg_connect, tsdb_connect
from support.faults import control as faults_control
from support.faults import ctl
from support.network_state import snapshot as network_snapshot
from support.onboarding import onboard
from support.playbook import ROOT, run_playbook

from localcloud.requestlog import RequestLog


def _state_dir():
    return Path(os.environ.get("LOCALCLOUD_DIR", ROOT / ".localcloud"))


@pytest.fixture(scope="session")
def endpoints():
    path = _state_dir() / "endpoints.json"
    if not path.exists():
        pytest.fail("the local cloud is not running (%s missing): run `make local-up` first" % path)
    return json.loads(path.read_text())


@pytest.fixture(scope="session")
def aws(endpoints):
    """A factory of boto3 clients bound to the emulator: aws('ec2')."""
    cfg = endpoints["aws"]
    session = boto3.session.Session(aws_access_key_id=cfg["access_key"], aws_secret_access_key=cfg["secret_key"],
                                    region_name=cfg["region"])

    def client(service, **kwargs):
        return session.client(service, endpoint_url=cfg["endpoint_url"], **kwargs)

    return client


@pytest.fixture(scope="session")
def request_log(endpoints):
    return RequestLog(endpoints["aws"]["request_log"])


@pytest.fixture(scope="session")
def fault_proxy(endpoints):
    """The local cloud's fault-injecting proxy (localcloud/faults.py), started through ctl.py unless it already runs
    (then stopped again): {"url": its endpoint, "control": a function that POSTs settings to /_faults}."""
    running = ctl("status", "--services", "faults").returncode == 0
    if not running:
        started = ctl("up", "--services", "moto,faults")
        assert started.returncode == 0, started.stdout + started.stderr
    info = endpoints["faults"]

    def control(**settings):
        return faults_control(info["control_url"], **settings)

    control(throttle=0, unavailable=0, services=[], actions=[], reset=True)
    yield SimpleNamespace(url=info["endpoint_url"], control=control)
    control(throttle=0, unavailable=0, reset=True)
    if not running:
        stopped = ctl("down", "--services", "faults")
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr


# The faults of the session's second converge (tests/integration/test_faults.py reads what it did).
NOOP_THROTTLE, NOOP_UNAVAILABLE, NOOP_SEED = 0.20, 0.05, 13


@pytest.fixture(scope="session")
def converged(endpoints, fault_proxy, request_log):
    """Converge env=local twice; return both runs. Tests read the resulting state.

    The second run is the no-op: it must report changed=0, and it runs the way production hurts most, through the
    fault proxy with 20 % throttling + 5 % 503 on every AWS request (its counters: ``second.faults``; mutating
    requests that reached the emulator: ``second.mutating``), and verbose (-vvv: test_databases greps its whole
    output, task results included, for secrets)."""
    first = run_playbook("site.yml", "-e", "env=local")
    assert first.rc == 0, first.explain()
    fault_proxy.control(throttle=NOOP_THROTTLE, unavailable=NOOP_UNAVAILABLE, seed=NOOP_SEED, first_of_each=True,
                        reset=True)
    mark = request_log.mark()
    second = run_playbook("site.yml", "-e", "env=local", "-e", "platform_aws_endpoint_url=" + fault_proxy.url, "-vvv")
    second.faults = fault_proxy.control(throttle=0, unavailable=0, first_of_each=False)
    second.mutating = request_log.mutating_since(mark)
    assert second.rc == 0, second.explain()
    return first, second


def database_state(endpoints):
    """What a preview must leave alone on the local cloud's data services: PostgreSQL databases (with ACLs) and
    roles (with password verifiers), TimescaleDB schemas, roles and retention jobs, Kafka topics and partitions."""
    with pg_connect(endpoints) as conn:
        dbs = conn.execute("SELECT datname, datacl::text FROM pg_database ORDER BY 1").fetchall()
        roles = conn.execute("SELECT rolname, rolpassword FROM pg_authid ORDER BY 1").fetchall()
    with tsdb_connect(endpoints) as conn:
        schemas = conn.execute("SELECT nspname, nspacl::text FROM pg_namespace ORDER BY 1").fetchall()
        ts_roles = conn.execute("SELECT rolname, rolpassword FROM pg_authid ORDER BY 1").fetchall()
        jobs = conn.execute("SELECT hypertable_schema, hypertable_name, config::text, schedule_interval::text "
                            "FROM timescaledb_information.jobs ORDER BY 1, 2").fetchall()
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": endpoints["kafka"]["bootstrap_servers"]})
    topics = sorted((name, len(t.partitions)) for name, t in admin.list_topics(timeout=10).topics.items())
    return {"postgres": (dbs, roles), "timescaledb": (schemas, ts_roles, jobs), "kafka": topics}


@pytest.fixture(scope="session")
def site_check_diff(converged, request_log, endpoints):
    """One `site.yml -e env=local --check --diff` of the converged fleet, shared by every role's preview test:
    the run, the emulator requests it made, and the database state before and after it."""
    before = database_state(endpoints)
    mark = request_log.mark()
    run = run_playbook("site.yml", "-e", "env=local", "--check", "--diff")
    return SimpleNamespace(run=run, requests=request_log.since(mark), mutating=request_log.mutating_since(mark),
                           databases_before=before, databases_after=database_state(endpoints))


@pytest.fixture(scope="session")
def onboarded(converged, fault_proxy, request_log, aws, tmp_path_factory):
    """A fourth tenant onboarded with site.yml --limit: preview, converge through the fault proxy, converge again
    (tests/support/onboarding.py). test_network and test_faults read it; destroyed by test_network's delete test,
    or at the end of the session."""
    ec2 = aws("ec2")
    done = onboard(tmp_path_factory.mktemp("onboarding"), fault_proxy, request_log, lambda: network_snapshot(ec2))
    yield done
    destroyed = done.destroy()
    assert destroyed.rc == 0, destroyed.explain()


def _last_order(item):
    marker = item.get_closest_marker("runs_last")
    return marker.kwargs.get("order", 0) if marker else None


def pytest_collection_modifyitems(items):
    """Tests marked runs_last change the shared state (e.g. add a tenant): run them after everything else, in the
    order of their ``order`` argument (default 0; equal orders keep the collection order)."""
    last = sorted((item for item in items if _last_order(item) is not None), key=_last_order)
    if last:
        items[:] = [item for item in items if _last_order(item) is None] + last
