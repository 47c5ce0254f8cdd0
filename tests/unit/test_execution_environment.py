"""execution-environment.yml (ansible-builder v3) stays in sync with requirements.txt and the ansible package.

Every requirements.txt entry must be classified here: a run-time dependency (in the image, same pin), pinned
through the EE's ansible_core / ansible_runner, the `ansible` bundle (replaced by the collections it bundles,
same versions), or a development/test tool (kept out of the image). A new requirement fails the test until
someone decides which.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EE_FILE = ROOT / "execution-environment.yml"

RUNTIME = {"boto3", "botocore", "psycopg", "confluent-kafka", "aws-msk-iam-sasl-signer-python"}
EE_PINNED = {"ansible-core": "ansible_core", "ansible-runner": "ansible_runner"}
BUNDLE = "ansible"
DEV_ONLY = {"moto", "noida-db", "pytest", "pytest-xdist", "molecule", "ansible-lint", "ruff", "ansible-builder"}
REQUIREMENT = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)(?P<extras>\[[^\]]+\])?\s*(?P<spec>[=<>!~].*)?$")


def _requirements(path):
    reqs = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            m = REQUIREMENT.match(line)
            assert m, "%s: cannot parse %r" % (path.name, line)
            reqs[m["name"].lower().replace("_", "-")] = line.replace(" ", "")
    return reqs


@pytest.fixture(scope="module")
def ee():
    return yaml.safe_load(EE_FILE.read_text())


@pytest.fixture(scope="module")
def deps(ee):
    return ee["dependencies"]


def _ee_file(deps, key):
    path = EE_FILE.parent / deps[key]
    assert isinstance(deps[key], str) and path.is_file(), "%s: %s is missing" % (key, deps[key])
    return path


def test_schema_v3_shape(ee, deps):
    assert ee["version"] == 3
    assert ee["images"]["base_image"]["name"]
    assert {"ansible_core", "ansible_runner", "galaxy", "python", "system"} <= set(deps)
    for key in ("galaxy", "python", "system"):
        _ee_file(deps, key)


def test_ansible_builder_accepts_it():
    from ansible_builder import user_definition as builder  # a dev requirement (requirements.txt)
    builder.UserDefinition(str(EE_FILE)).validate()


def test_every_requirement_is_classified():
    reqs = _requirements(ROOT / "requirements.txt")
    classes = [RUNTIME, set(EE_PINNED), {BUNDLE}, DEV_ONLY]
    for name in reqs:
        assert sum(name in c for c in classes) == 1, "requirements.txt: classify %s in %s" % (name, __file__)
    for c in classes:
        assert c <= set(reqs), "no longer in requirements.txt: %s" % (c - set(reqs))


def test_python_dependencies_have_the_same_pins(deps):
    reqs = _requirements(ROOT / "requirements.txt")
    image = _requirements(_ee_file(deps, "python"))
    assert image == {name: reqs[name] for name in RUNTIME}
    for name, key in EE_PINNED.items():
        assert deps[key]["package_pip"] == reqs[name], key
    excluded = {n.lower() for n in deps.get("exclude", {}).get("python", [])}
    assert not excluded & (RUNTIME | set(EE_PINNED)), "excluding a package the platform needs"


def test_collections_are_the_ones_bundled_in_the_pinned_ansible(deps):
    pin = _requirements(ROOT / "requirements.txt")[BUNDLE]
    installed_ansible = importlib.metadata.version("ansible")
    assert pin == "ansible==%s" % installed_ansible, "the venv is not on the pinned ansible: run make venv"
    # The collections the ansible package installed next to ansible-core (not the checkout's collections/).
    bundle = Path(importlib.util.find_spec("ansible").origin).parents[1] / "ansible_collections"
    galaxy = yaml.safe_load(_ee_file(deps, "galaxy").read_text())["collections"]
    assert galaxy, "no collections"
    for entry in galaxy:
        namespace, name = entry["name"].split(".")
        manifest = json.loads((bundle / namespace / name / "MANIFEST.json").read_text())
        assert entry["version"] == manifest["collection_info"]["version"], entry["name"]


def test_every_collection_the_platform_uses_is_in_the_image(deps):
    listed = {c["name"] for c in yaml.safe_load(_ee_file(deps, "galaxy").read_text())["collections"]}
    used = set()
    fqcn = re.compile(r"^\s*(?:-\s+)?(?:group/)?([a-z0-9_]+\.[a-z0-9_]+)\.[a-z0-9_]+:")
    sources = [ROOT / "site.yml", *ROOT.glob("playbooks/*.yml"), *ROOT.glob("roles/**/*.yml")]
    for path in sources:
        for line in path.read_text().splitlines():
            m = fqcn.match(line)
            if m:
                used.add(m[1])
    for path in ROOT.glob("plugins/**/*.py"):
        used.update("%s.%s" % m for m in re.findall(r"ansible_collections\.([a-z0-9_]+)\.([a-z0-9_]+)\.",
                                                    path.read_text()))
    used -= {"ansible.builtin", "manufacturing.platform"}
    # Dotted keys that are not module names (Kafka server properties such as default.replication.factor) look the
    # same: keep only names whose namespace is a collection namespace of the ansible bundle or awx.
    bundle = Path(importlib.util.find_spec("ansible").origin).parents[1] / "ansible_collections"
    namespaces = {p.name for p in bundle.iterdir() if p.is_dir()} | {"awx"}
    used = {name for name in used if name.split(".")[0] in namespaces}
    assert "amazon.aws" in used, "the scan found nothing: fix the pattern"
    assert used <= listed, "used but not in the image: %s" % sorted(used - listed)


def test_system_dependencies_are_bindep_lines(deps):
    for line in _ee_file(deps, "system").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            assert re.fullmatch(r"[a-z0-9][a-z0-9+._-]*(\s+\[[^\]]+\])?", line), line
