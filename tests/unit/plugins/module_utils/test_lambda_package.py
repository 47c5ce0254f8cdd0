"""Unit tests of the deterministic Lambda package builder (module_utils/lambda_package.py)."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import zipfile

import pytest

from ansible_collections.manufacturing.platform.plugins.module_utils import lambda_package as lp


def make_source(root, files):
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def make_wheel(directory, name, files):
    path = directory / name
    with zipfile.ZipFile(path, "w") as wheel:
        for rel, data in files.items():
            wheel.writestr(rel, data)
    return path


@pytest.fixture
def source(tmp_path):
    return make_source(tmp_path / "src", {
        "pkg/__init__.py": "VERSION = '1'\n",
        "pkg/handler.py": "def handler(event, context):\n    return event\n",
        "pkg/__pycache__/handler.cpython-312.pyc": "junk",
        "pkg/stale.pyc": "junk",
        "pkg/.hidden": "junk",
    })


@pytest.fixture
def wheels(tmp_path):
    directory = tmp_path / "wheels"
    directory.mkdir()
    return [
        make_wheel(directory, "dep-1.0-py3-none-any.whl",
                   {"dep/__init__.py": "X = 1\n", "dep-1.0.dist-info/METADATA": "m"}),
        make_wheel(directory, "dep_binary-1.0-cp312-cp312-manylinux_2_28_aarch64.whl", {
            "dep_binary/_c.so": b"\x7fELF", "dep_binary.libs/libpq.so.5": b"\x7fELF",
            "dep_binary-1.0.data/purelib/dep_binary_extra.py": "Y = 2\n",
            "dep_binary-1.0.data/scripts/tool": "#!/bin/sh\n"}),
        make_wheel(directory, "botocore-1.44.8-py3-none-any.whl", {"botocore/__init__.py": "big\n"}),
    ]


def test_same_sources_give_the_same_bytes(source, wheels, tmp_path):
    first, summary1 = lp.package(str(source), "pkg", [str(w) for w in wheels], ["botocore"])
    # touch every file: different mtimes must not matter
    for path in source.rglob("*"):
        if path.is_file():
            os.utime(path, (1_900_000_000, 1_900_000_000))
    second, summary2 = lp.package(str(source), "pkg", [str(w) for w in reversed(wheels)], ["botocore"])
    assert first == second
    assert summary1["sha256"] == summary2["sha256"] == base64.b64encode(hashlib.sha256(first).digest()).decode()


def test_zip_entries_are_sorted_dated_1980_mode_0644_without_caches(source, wheels):
    data, summary = lp.package(str(source), "pkg", [str(w) for w in wheels], ["botocore"])
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert "pkg/handler.py" in names and "dep/__init__.py" in names and "dep_binary/_c.so" in names
    assert "dep_binary_extra.py" in names  # .data/purelib merged into the root
    assert not any("__pycache__" in n or n.endswith(".pyc") or ".hidden" in n or "tool" in n for n in names)
    assert not any(n.startswith("botocore/") for n in names)  # excluded: in the Lambda runtime
    assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in infos)
    assert all((i.external_attr >> 16) == 0o100644 for i in infos)
    assert all(i.compress_type == zipfile.ZIP_DEFLATED and not i.extra for i in infos)
    assert summary["dependencies"] == ["dep", "dep-binary"]


def test_a_source_change_changes_the_hash_but_not_the_dependencies(source, wheels):
    _data, before = lp.package(str(source), "pkg", [str(w) for w in wheels], ["botocore"])
    (source / "pkg" / "handler.py").write_text("def handler(event, context):\n    return None\n")
    _data, after = lp.package(str(source), "pkg", [str(w) for w in wheels], ["botocore"])
    assert before["sha256"] != after["sha256"] and before["source_sha256"] != after["source_sha256"]


def test_requirements_filter_and_cache_key():
    text = "# pinned\npsycopg[binary]==3.3.9\nboto3==1.44.8  # runtime\nBotocore==1.44.8\n\n"
    assert lp.filter_requirements(text, ["boto3", "botocore"]) == ["psycopg[binary]==3.3.9"]
    key = lp.cache_key(["a==1"], "arm64", "3.12", lp.PLATFORM_TAGS["arm64"])
    assert key == lp.cache_key(["a==1"], "arm64", "3.12", lp.PLATFORM_TAGS["arm64"])
    assert key != lp.cache_key(["a==1"], "x86_64", "3.12", lp.PLATFORM_TAGS["x86_64"])
    assert lp.wheel_project("Python_DateUtil-2.9.0-py2.py3-none-any.whl") == "python-dateutil"


def test_clashes_and_missing_package_are_errors(source, tmp_path):
    directory = tmp_path / "w2"
    directory.mkdir()
    a = make_wheel(directory, "a-1-py3-none-any.whl", {"shared.py": "1"})
    b = make_wheel(directory, "b-1-py3-none-any.whl", {"shared.py": "2"})
    with pytest.raises(lp.PackageError, match="shipped by both"):
        lp.package(str(source), "pkg", [str(a), str(b)])
    clash = make_wheel(directory, "c-1-py3-none-any.whl", {"pkg/handler.py": "other"})
    with pytest.raises(lp.PackageError, match="clash"):
        lp.package(str(source), "pkg", [str(clash)])
    with pytest.raises(lp.PackageError, match="does not exist"):
        lp.package(str(source), "nope")


def test_the_real_alert_processor_sources_package_deterministically():
    root = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "lambdas", "alert_processor")
    first, summary = lp.package(root, "alert_processor")
    second, _summary = lp.package(root, "alert_processor")
    assert first == second and summary["source_files"] >= 8
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert "alert_processor/handler.py" in archive.namelist()
