"""Fixtures for integration tests: the running local cloud and one converge of the reference fleet.

The local cloud is started by `make test` (localcloud/ctl.py run) or `make local-up`; these fixtures only
read its endpoints. The reference fleet is converged once per test session (`converged`), twice in a row,
so every role's tests read the same state and idempotence is checked once.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import boto3
import pytest
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
def converged(endpoints):
    """Converge env=local twice; return both runs. Tests read the resulting state."""
    first = run_playbook("site.yml", "-e", "env=local")
    assert first.rc == 0, first.explain()
    second = run_playbook("site.yml", "-e", "env=local")
    assert second.rc == 0, second.explain()
    return first, second


def pytest_collection_modifyitems(items):
    """Tests marked runs_last change the shared state (e.g. add a tenant): run them after everything else."""
    last = [item for item in items if item.get_closest_marker("runs_last")]
    if last:
        items[:] = [item for item in items if not item.get_closest_marker("runs_last")] + last
