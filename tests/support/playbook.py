"""Run ansible-playbook / ansible-inventory the way a user does, and read the result as data.

Playbooks run from the repository root with its ansible.cfg and the venv's interpreter; the result is taken
from the ansible.posix.json callback, so tests assert on hosts, tasks and stats rather than on screen text.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

# A test play on the shared-layer host with the inventory's AWS connection: "- name: ..." + this + its roles/tasks.
SHARED_HOST_PLAY_HEADER = """  hosts: platform_shared
  gather_facts: false
  module_defaults:
    group/manufacturing.platform.aws:
      endpoint_url: "{{ platform_aws_endpoint_url }}"
      region: "{{ platform_aws_region }}"
      access_key: "{{ platform_aws_access_key }}"
      secret_key: "{{ platform_aws_secret_key }}"
"""


def ansible_env(extra=None):
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        PATH=str(BIN) + os.pathsep + env.get("PATH", ""),
    )
    env.update(extra or {})
    return env


@dataclass
class PlaybookRun:
    args: list
    rc: int
    stdout: str
    stderr: str
    data: dict = field(default_factory=dict)

    @property
    def stats(self):
        return self.data.get("stats", {})

    @property
    def changed(self):
        return sum(s.get("changed", 0) for s in self.stats.values())

    @property
    def failed_hosts(self):
        return sorted(h for h, s in self.stats.items() if s.get("failures") or s.get("unreachable"))

    def task_results(self, name=None):
        """Yield (task name, host, result) for every task result, optionally only tasks named ``name``."""
        for play in self.data.get("plays", []):
            for task in play.get("tasks", []):
                task_name = task["task"]["name"]
                if name is None or task_name == name:
                    for host, result in task["hosts"].items():
                        yield task_name, host, result

    def changed_tasks(self):
        return [(t, h) for t, h, r in self.task_results() if r.get("changed")]

    def failure_messages(self):
        messages = []
        for task_name, host, result in self.task_results():
            if result.get("failed"):
                msg = result.get("msg", "")
                messages.append("%s [%s]: %s" % (task_name, host, "\n".join(msg) if isinstance(msg, list) else msg))
        return messages

    def explain(self):
        tail = self.stdout[-3000:] if not self.data else json.dumps(self.failure_messages(), indent=1)
        return "rc=%s args=%s\n%s\nstderr:\n%s" % (self.rc, self.args, tail, self.stderr[-3000:])


def run_playbook(playbook="site.yml", *args, env=None, timeout=1800):
    cmd = [str(BIN / "ansible-playbook"), str(playbook), *args]
    proc = subprocess.run(cmd, cwd=ROOT, env=ansible_env(env), capture_output=True, text=True, timeout=timeout,
                          check=False)
    return PlaybookRun(cmd, proc.returncode, proc.stdout, proc.stderr, _callback_json(proc.stdout))


def _callback_json(stdout):
    """The ansible.posix.json callback's document: it starts on a line of its own ('{'); with -v... the verbose
    lines printed before it (which may hold braces) are skipped."""
    decoder = json.JSONDecoder()
    for start in (m.start() for m in re.finditer(r"^\{$", stdout, re.MULTILINE)):
        try:
            data, _end = decoder.raw_decode(stdout, start)
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict) and "plays" in data:
            return data
    return {}


def inventory_list(*args, env=None):
    cmd = [str(BIN / "ansible-inventory"), "--list", *args]
    proc = subprocess.run(cmd, cwd=ROOT, env=ansible_env(env), capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def load_fleet():
    """The reference inventory (inventories/hosts.yml) as data."""
    return yaml.safe_load((ROOT / "inventories" / "hosts.yml").read_text())


def write_inventory(directory, fleet):
    """Write an inventory like inventories/ (hosts + env grouping + group_vars) with a modified fleet."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "hosts.yml").write_text(yaml.safe_dump(fleet, sort_keys=False))
    (directory / "zz-env.constructed.yml").write_text((ROOT / "inventories" / "zz-env.constructed.yml").read_text())
    link = directory / "group_vars"
    if not link.exists():
        link.symlink_to(ROOT / "group_vars", target_is_directory=True)
    return directory
