# -*- coding: utf-8 -*-
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deterministic Lambda deployment packages (pure functions; no Ansible, no network).

Same sources and same wheels give the same bytes: entries are sorted, every entry has the timestamp
1980-01-01 00:00:00 (the earliest a zip can hold), Unix permissions 0644, the same compression method and
level, no directory entries, no ``__pycache__``/``*.pyc``, no extra fields. The SHA-256 of the bytes, base64
encoded, is what Lambda reports as ``CodeSha256``, so comparing the two tells whether the function's code
must be updated.

Wheels are unpacked the way an installer would lay them out in ``site-packages`` (``*.data/purelib`` and
``*.data/platlib`` merged into the root; scripts, headers and data dropped), without running anything.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import zipfile

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644
COMPRESSION = zipfile.ZIP_DEFLATED
COMPRESS_LEVEL = 9
SKIP_DIRS = frozenset({"__pycache__", ".git", ".mypy_cache", ".pytest_cache", ".ruff_cache"})
SKIP_SUFFIXES = (".pyc", ".pyo")

# Manylinux tags pip may choose for each Lambda architecture (Lambda python3.12 runs on Amazon Linux 2023,
# glibc 2.34): newest first. pip --platform accepts the list; a wheel matching any of them is taken.
PLATFORM_TAGS = {
    "x86_64": ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"],
    "arm64": ["manylinux_2_28_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64"],
}

_REQ_NAME_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


class PackageError(ValueError):
    """The sources or wheels cannot be packaged (duplicate paths, bad wheel, ...)."""


def normalize_name(name):
    """PEP 503 normalised project name: ``Python_DateUtil`` -> ``python-dateutil``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def wheel_project(filename):
    """Project name of a wheel file name (``psycopg_binary-3.3.9-cp312-...whl`` -> ``psycopg-binary``)."""
    base = os.path.basename(filename)
    if not base.endswith(".whl") or base.count("-") < 4:
        raise PackageError("%s is not a wheel file name" % base)
    return normalize_name(base.split("-", 1)[0])


def filter_requirements(text, exclude):
    """The lines of a requirements file without the projects in ``exclude`` (comments and blanks dropped)."""
    excluded = {normalize_name(e) for e in exclude}
    kept = []
    for line in text.splitlines():
        stripped = line.split("#", 1)[0].strip()
        if not stripped:
            continue
        match = _REQ_NAME_RE.match(stripped)
        if match and normalize_name(match.group(1)) in excluded:
            continue
        kept.append(stripped)
    return kept


def cache_key(requirements, architecture, python_version, platform_tags):
    """Key of a wheel download: what pip was asked for. Pinned requirements make it reproducible."""
    blob = json.dumps({"requirements": list(requirements), "architecture": architecture,
                       "python": python_version, "platforms": list(platform_tags)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def source_entries(source_dir, package):
    """``{archive path: bytes}`` of the files of the package directory ``source_dir/package``."""
    root = os.path.join(source_dir, package)
    if not os.path.isdir(root):
        raise PackageError("package directory %s does not exist" % root)
    entries = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        for filename in sorted(filenames):
            if filename.endswith(SKIP_SUFFIXES) or filename.startswith("."):
                continue
            path = os.path.join(dirpath, filename)
            arcname = os.path.relpath(path, source_dir).replace(os.sep, "/")
            with open(path, "rb") as handle:
                entries[arcname] = handle.read()
    if not entries:
        raise PackageError("package directory %s holds no files" % root)
    return entries


def wheel_entries(wheel_path):
    """``{site-packages path: bytes}`` of one wheel."""
    entries = {}
    with zipfile.ZipFile(wheel_path) as wheel:
        for info in wheel.infolist():
            name = info.filename
            if info.is_dir():
                continue
            parts = name.split("/")
            if parts[0].endswith(".data"):
                if len(parts) < 3 or parts[1] not in ("purelib", "platlib"):
                    continue  # scripts, headers, data: not importable
                name = "/".join(parts[2:])
            if any(p in SKIP_DIRS for p in name.split("/")) or name.endswith(SKIP_SUFFIXES):
                continue
            entries[name] = wheel.read(info)
    return entries


def dependency_entries(wheel_paths, exclude=()):
    """Entries of all wheels except the excluded projects. A path shipped by two wheels is an error."""
    excluded = {normalize_name(e) for e in exclude}
    entries, owner = {}, {}
    for wheel_path in sorted(wheel_paths, key=os.path.basename):
        if wheel_project(wheel_path) in excluded:
            continue
        for name, data in wheel_entries(wheel_path).items():
            if name in entries and entries[name] != data:
                raise PackageError("%s is shipped by both %s and %s"
                                   % (name, owner[name], os.path.basename(wheel_path)))
            entries[name] = data
            owner[name] = os.path.basename(wheel_path)
    return entries


def build_zip(entries):
    """Deterministic zip bytes of ``{archive path: bytes}``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=COMPRESSION, compresslevel=COMPRESS_LEVEL) as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.compress_type = COMPRESSION
            info.create_system = 3  # Unix, so external_attr carries the mode
            info.external_attr = FILE_MODE << 16
            archive.writestr(info, entries[name], compress_type=COMPRESSION, compresslevel=COMPRESS_LEVEL)
    return buffer.getvalue()


def code_sha256(data):
    """SHA-256 of the bytes, base64 encoded: Lambda's ``CodeSha256``."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def package(source_dir, package_name, wheel_paths=(), exclude=()):
    """(zip bytes, summary) of the package directory plus the dependencies' wheels."""
    sources = source_entries(source_dir, package_name)
    deps = dependency_entries(wheel_paths, exclude)
    clash = sorted(set(sources) & set(deps))
    if clash:
        raise PackageError("source files clash with dependency files: %s" % ", ".join(clash[:5]))
    entries = dict(deps)
    entries.update(sources)
    data = build_zip(entries)
    summary = {
        "sha256": code_sha256(data),
        "sha256_hex": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "files": len(entries),
        "source_files": len(sources),
        "source_sha256": hashlib.sha256(build_zip(sources)).hexdigest(),
        "dependencies": sorted({wheel_project(w) for w in wheel_paths} - {normalize_name(e) for e in exclude}),
    }
    return data, summary
