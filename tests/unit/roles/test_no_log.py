"""Static check of every role task and playbook task: a task whose arguments read a credential is no_log.

A credential is an AWS secret key, a password or a fact that carries one (the `*_aws_lookup` argument dicts).
`no_log` must be literally true or a role's `<role>_no_log` switch (true by default, see the role defaults); a
block's no_log covers its tasks. This is what keeps `-vvv`, `--diff` and failure messages free of secrets.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
CREDENTIAL = re.compile(r"secret_key|password|_aws_lookup\b", re.IGNORECASE)
# Names that mention a password without carrying one (options of modules that generate or reference secrets).
NOT_A_CREDENTIAL = re.compile(
    r"manage_master_user_password|password_length|exclude_characters|password_encryption|"
    r"rotate_password|no_password|regenerate_on_change|iam_auth|password_auth", re.IGNORECASE)
TASK_FILES = sorted(list(ROOT.glob("roles/*/tasks/*.yml")) + list(ROOT.glob("roles/*/molecule/*/*.yml"))
                    + list(ROOT.glob("playbooks/*.yml")))
META_KEYS = {"name", "when", "tags", "register", "loop", "loop_control", "vars", "no_log", "block", "rescue",
             "always", "notify", "changed_when", "failed_when", "delegate_to", "run_once", "become",
             "module_defaults", "environment", "hosts", "gather_facts", "any_errors_fatal", "roles", "tasks",
             "pre_tasks", "post_tasks", "import_playbook", "check_mode", "diff", "until", "retries", "delay",
             "ignore_errors", "args", "listen", "throttle", "timeout"}


def _logged_off(value, role):
    return value is True or (isinstance(value, str) and value.replace(" ", "") in ("{{%s_no_log}}" % role, "true"))


def _tasks(node, role, inherited=False):
    """Yield (task, covered) for every task of a task list, descending into blocks."""
    for task in node or []:
        if not isinstance(task, dict):
            continue
        covered = inherited or _logged_off(task.get("no_log"), role)
        for key in ("block", "rescue", "always", "tasks", "pre_tasks", "post_tasks"):
            if key in task:
                yield from _tasks(task[key], role, covered)
        if not any(k in task for k in ("block", "hosts")):
            yield task, covered


def _reads_credential(task):
    body = {k: v for k, v in task.items() if k not in META_KEYS or k == "vars"}
    text = NOT_A_CREDENTIAL.sub("", yaml.safe_dump(body))
    return bool(CREDENTIAL.search(text))


@pytest.mark.parametrize("path", TASK_FILES, ids=[str(p.relative_to(ROOT)) for p in TASK_FILES])
def test_tasks_that_read_credentials_are_no_log(path):
    role = path.relative_to(ROOT).parts[1] if path.relative_to(ROOT).parts[0] == "roles" else ""
    data = yaml.safe_load(path.read_text()) or []
    leaks = [task.get("name", "?") for task, covered in _tasks(data, role) if _reads_credential(task) and not covered]
    assert leaks == [], "%s: tasks read a credential without no_log: %s" % (path.relative_to(ROOT), leaks)


def test_the_check_sees_a_leak():
    """The rule is not vacuous: the fact of the credentials without no_log is flagged."""
    task = {"name": "t", "ansible.builtin.set_fact": {"x": "{{ {'secret_key': platform_aws_secret_key} }}"}}
    assert _reads_credential(task)
    assert list(_tasks([task], "databases")) == [(task, False)]
    assert list(_tasks([dict(task, no_log="{{ databases_no_log }}")], "databases"))[0][1]
