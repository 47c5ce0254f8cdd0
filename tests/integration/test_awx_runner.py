"""Run the project the way AWX / Automation Controller runs a job: through ansible-runner, in a private data dir.

AWX (awx/main/tasks/jobs.py) prepares, for every job:
  project/          a copy of the project checkout at the job's revision; ansible-playbook runs in it, so the
                    project's ansible.cfg applies
  inventory/hosts   an executable script printing the inventory AWX holds in its database (JSON), i.e. what the
                    inventory source synced with `ansible-inventory --list --export`; for a sliced job only
                    the slice's hosts (all enabled hosts sorted by name, every Nth from offset N-1)
  env/extravars     the template's extra vars + survey answers + awx_* meta vars
  env/envvars       credential injections (here: the local cloud's endpoint and dummy keys)
  env/settings      runner settings
The inventory source of env=local is awx/inventories/local (see awx/configure.yml), synced here by running
ansible-inventory on it in the project copy exactly as an AWX inventory update does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import ansible_runner
import pytest
import yaml
from support.playbook import ROOT

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
# What a fresh clone of the project would not contain (git-ignored or machine-local) plus the local cloud's
# Node dependencies; everything else of the working tree is copied, as the job must see this checkout.
COPY_IGNORE = shutil.ignore_patterns(".git", ".venv", ".localcloud", ".build", ".cache", ".pytest_cache",
                                     ".ruff_cache", "__pycache__", "node_modules", "outputs", "*.tar.gz")
# Environment AWX sets for every job (RunJob.build_env) that matters to a playbook run.
AWX_JOB_ENV = {
    "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True",
    "ANSIBLE_RETRY_FILES_ENABLED": "False",
    "ANSIBLE_HOST_KEY_CHECKING": "False",
    "ANSIBLE_FORCE_COLOR": "False",
    "JOB_ID": "1",
    "INVENTORY_ID": "1",
}


def _sync_inventory(project, source_path):
    """An AWX inventory update of an SCM source: ansible-inventory --list --export in the project."""
    env = dict(os.environ, ANSIBLE_INVENTORY_UNPARSED_FAILED="True", ANSIBLE_INVENTORY_EXPORT="True",
               ANSIBLE_VERBOSE_TO_STDERR="True", PATH=str(BIN) + os.pathsep + os.environ.get("PATH", ""))
    env.pop("ANSIBLE_CONFIG", None)
    proc = subprocess.run([str(BIN / "ansible-inventory"), "-i", source_path, "--list", "--export"], cwd=project,
                          env=env, capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _slice(inventory, number, count):
    """AWX's Inventory.get_script_data(slice_number, slice_count): hosts sorted by name, every count-th."""
    hostvars = inventory["_meta"]["hostvars"]
    hosts = sorted(_all_hosts(inventory))
    kept = set(hosts[number - 1::count])
    sliced = {"_meta": {"hostvars": {h: v for h, v in hostvars.items() if h in kept}}}
    for group, data in inventory.items():
        if group == "_meta":
            continue
        data = dict(data)
        if "hosts" in data:
            data["hosts"] = [h for h in data["hosts"] if h in kept]
        sliced[group] = data
    return sliced


def _all_hosts(inventory):
    hosts = set(inventory["_meta"]["hostvars"])
    for group, data in inventory.items():
        if group != "_meta":
            hosts.update(data.get("hosts", []))
    return hosts


def _write_private_data_dir(pdd, project_src, inventory, extravars, envvars):
    """Lay out a private data dir like AWX's BaseTask/RunJob do."""
    shutil.copytree(project_src, pdd / "project", symlinks=True)
    (pdd / "inventory").mkdir()
    script = pdd / "inventory" / "hosts"
    # Same script AWX writes (BaseTask.build_inventory).
    script.write_text("#! /usr/bin/env python3\n# -*- coding: utf-8 -*-\nprint(%r)\n" % json.dumps(inventory))
    script.chmod(0o700)
    (pdd / "env").mkdir()
    (pdd / "env" / "extravars").write_text(yaml.safe_dump(extravars))
    (pdd / "env" / "envvars").write_text(yaml.safe_dump(envvars))
    (pdd / "env" / "settings").write_text(yaml.safe_dump({"job_timeout": 300, "suppress_ansible_output": True}))
    return script


def _run(pdd, playbook, inventory_script, ident):
    return ansible_runner.run(private_data_dir=str(pdd), playbook=playbook, inventory=str(inventory_script),
                              ident=ident, quiet=True)


def _failures(runner):
    out = []
    for event in runner.events:
        if event.get("event") in ("runner_on_failed", "runner_on_unreachable"):
            data = event.get("event_data", {})
            out.append("%s [%s]: %s" % (data.get("task"), data.get("host"), data.get("res", {}).get("msg")))
    return out or [runner.stdout.read()[-3000:]]


def _stats_event(runner):
    return next(e for e in runner.events if e.get("event") == "playbook_on_stats")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """The checkout as AWX copies it into each job (one copy, reused by the private data dirs)."""
    src = tmp_path_factory.mktemp("awx-project") / "project"
    shutil.copytree(ROOT, src, symlinks=True, ignore=COPY_IGNORE)
    return src


@pytest.fixture(scope="module")
def synced_inventory(project):
    return _sync_inventory(project, "awx/inventories/local")


@pytest.fixture(scope="module")
def job_env(endpoints):
    """What the AWX credentials inject for env=local: the emulator's endpoint and its dummy keys."""
    aws = endpoints["aws"]
    state = os.environ.get("LOCALCLOUD_DIR", str(ROOT / ".localcloud"))
    env = dict(AWX_JOB_ENV)
    env.update(
        PATH=str(BIN) + os.pathsep + os.environ.get("PATH", ""),  # the EE's ansible-playbook: the venv's
        AWS_ENDPOINT_URL=aws["endpoint_url"],
        AWS_ACCESS_KEY_ID=aws["access_key"],
        AWS_SECRET_ACCESS_KEY=aws["secret_key"],
        AWS_DEFAULT_REGION=aws["region"],
        AWS_REGION=aws["region"],
        LOCALCLOUD_DIR=state,
        LOCALCLOUD_ENDPOINTS=str(Path(state) / "endpoints.json"),
        LOCALCLOUD_MOTO_PORT=str(urlparse(aws["endpoint_url"]).port),
    )
    for service, var in (("postgres", "LOCALCLOUD_PG_PORT"), ("timescaledb", "LOCALCLOUD_TSDB_PORT")):
        if service in endpoints:
            env[var] = str(endpoints[service]["port"])
    if "kafka" in endpoints:
        env["LOCALCLOUD_KAFKA_PORT"] = endpoints["kafka"]["bootstrap_servers"].rsplit(":", 1)[1]
    return env


def _extravars(template_name):
    # Template extra vars ({env: local}) + the meta vars AWX adds (Job.awx_meta_vars).
    return {"env": "local", "awx_job_id": 1, "awx_job_template_name": template_name, "awx_user_name": "admin",
            "tower_job_id": 1}


def test_awx_inventory_sync_puts_every_host_in_the_env_group(synced_inventory):
    hosts = _all_hosts(synced_inventory)
    assert {"platform-shared", "customer-123"} <= hosts
    assert set(synced_inventory["env_local"]["hosts"]) == hosts
    assert set(synced_inventory["platform_shared"]["hosts"]) == {"platform-shared"}


@pytest.fixture(scope="module")
def site_job(tmp_path_factory, project, synced_inventory, job_env):
    """The converge job (site.yml, env=local). The slice test below needs its shared layer."""
    pdd = tmp_path_factory.mktemp("awx-job") / "awx_1"
    script = _write_private_data_dir(pdd, project, synced_inventory, _extravars("mfg-platform local converge"),
                                     job_env)
    return pdd, _run(pdd, "site.yml", script, "1")


@pytest.mark.slow
def test_site_runs_in_an_awx_private_data_dir(site_job, synced_inventory):
    pdd, runner = site_job
    assert runner.status == "successful", _failures(runner)
    assert runner.rc == 0
    assert runner.stats["failures"] == {} and runner.stats["dark"] == {}
    # Both the shared layer and every tenant ran.
    assert {"platform-shared", "customer-123", "customer-456", "customer-789"} <= set(runner.stats["ok"])

    # set_stats -> the playbook_on_stats event's artifact_data: what AWX stores as the job's artifacts and
    # hands to the next workflow node.
    artifacts = _stats_event(runner)["event_data"]["artifact_data"]
    outputs = artifacts["platform_outputs"]
    assert outputs["env"] == "local"
    assert set(outputs["hosts"]) == set(_all_hosts(synced_inventory))
    assert outputs["hosts"]["customer-456"]["tenant_id"] == "customer-456"
    # ansible-runner keeps every event on disk too (artifacts/<ident>/job_events/), as AWX's callback receiver
    # gets them.
    event_files = list((pdd / "artifacts" / "1" / "job_events").glob("*.json"))
    assert any(json.loads(f.read_text()).get("event") == "playbook_on_stats" for f in event_files)
    # The outputs file lands in the job's project copy (discarded by AWX): the artifact is what persists.
    assert json.loads((pdd / "project" / "outputs" / "local.json").read_text())["env"] == "local"


@pytest.mark.slow
def test_the_preflight_of_a_tenants_slice_passes_on_its_hosts_alone(tmp_path, project, synced_inventory, job_env):
    """Slice 2 of 3 of the tenants template: AWX gives the job only that slice's hosts.

    With the reference fleet (customer-123, customer-456, customer-789, platform-shared) that is customer-456
    alone, so the preflight every slice runs (playbooks/tenants.yml imports it) sees neither the other tenants
    nor the shared-layer host - and must still pass. (The slice's converge itself is the same tenants play as
    in the site run above; it is not repeated here to keep the test short.)
    """
    sliced = _slice(synced_inventory, 2, 3)
    in_slice = _all_hosts(sliced)
    assert in_slice == set(sorted(_all_hosts(synced_inventory))[1::3]) == {"customer-456"}
    pdd = tmp_path / "awx_2"
    script = _write_private_data_dir(pdd, project, sliced, _extravars("mfg-platform local tenants"), job_env)
    runner = _run(pdd, "playbooks/preflight.yml", script, "2")

    assert runner.status == "successful", _failures(runner)
    assert runner.rc == 0
    assert set(runner.stats["ok"]) <= in_slice


def test_a_job_whose_env_does_not_match_its_inventory_stops_in_preflight(tmp_path, project, synced_inventory,
                                                                          job_env):
    """An env survey answer (dev) launched against another environment's inventory (local) changes nothing."""
    pdd = tmp_path / "awx_3"
    extravars = dict(_extravars("mfg-platform preflight"), env="dev")
    script = _write_private_data_dir(pdd, project, synced_inventory, extravars, job_env)
    runner = _run(pdd, "playbooks/preflight.yml", script, "3")

    assert runner.status == "failed"
    assert any("unknown environment 'dev'" in line for line in _failures(runner)), _failures(runner)
