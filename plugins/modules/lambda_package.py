#!/usr/bin/python
# ruff: noqa: EXE001 - Ansible modules carry a shebang but are not executable files
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: lambda_package
short_description: Build a deterministic AWS Lambda deployment package (zip) with its dependencies
version_added: 1.0.0
description:
  - Zips a Python package directory and the dependencies of a requirements file for the Lambda platform, so
    that the same sources and the same pinned requirements always give the same bytes.
  - Dependencies are downloaded with C(pip download --only-binary=:all:) for the manylinux tags of the chosen
    O(architecture) and O(python_version) (never built, never installed into the running Python), into a cache
    under O(build_dir) keyed by what was asked for; a complete cache is reused without any network access.
  - Wheels are unpacked like an installer would (C(*.data/purelib) and C(platlib) merged), the projects in
    O(exclude) are left out (the Lambda runtime ships boto3 and its dependencies).
  - The zip has sorted entries, the timestamp 1980-01-01 on every entry, mode 0644, no directory entries, no
    C(__pycache__). Its SHA-256 (base64) equals what Lambda reports as C(CodeSha256) for the function's code.
  - The package is written to O(build_dir) as C(<name>-<architecture>-<sha256 prefix>.zip) only when no file of
    that content exists yet; C(changed) tells whether a new package was written.
  - Runs on the controller (it reads local files); run it once per play (C(run_once)), not once per host.
author:
  - Manufacturing Platform Team (@manufacturing-platform)
options:
  source_dir:
    description:
      - Directory that contains the package directory O(package) (it becomes the zip root).
    type: path
    required: true
  package:
    description:
      - Name of the Python package directory inside O(source_dir), for example V(alert_processor).
    type: str
    required: true
  requirements:
    description:
      - Pinned requirements file of the runtime dependencies. Omit for a package without dependencies.
    type: path
  exclude:
    description:
      - Projects not to bundle (names as in the requirements; matched after normalisation), and not to download.
    type: list
    elements: str
    default: []
  architecture:
    description:
      - Lambda instruction set architecture; selects the manylinux wheels.
    type: str
    choices: [x86_64, arm64]
    default: arm64
  python_version:
    description:
      - Python version of the Lambda runtime, for example V(3.12).
    type: str
    default: "3.12"
  build_dir:
    description:
      - Build directory (created if missing; keep it out of version control). Wheels are cached under
        C(wheels/) and packages written to it.
    type: path
    required: true
  name:
    description:
      - Base name of the package file. Defaults to O(package).
    type: str
  pip_args:
    description:
      - Extra arguments for C(pip download), for example an index URL.
    type: list
    elements: str
    default: []
notes:
  - Check mode builds too (it changes nothing but the local build directory) so that later tasks can compare
    the package's hash with a function's code.
  - A requirement without a wheel for the platform fails the task with pip's message; sources are never built.
requirements:
  - python >= 3.9
  - pip (for packages with O(requirements))
"""

EXAMPLES = r"""
- name: Build the alert processor package once per run
  manufacturing.platform.lambda_package:
    source_dir: "{{ playbook_dir }}/lambdas/alert_processor"
    package: alert_processor
    requirements: "{{ playbook_dir }}/lambdas/alert_processor/requirements.txt"
    exclude: [boto3, botocore, s3transfer, jmespath, python-dateutil, six, urllib3]
    architecture: arm64
    build_dir: "{{ playbook_dir }}/.build/lambda"
  delegate_to: localhost
  run_once: true
  register: package
"""

RETURN = r"""
path:
  description: Path of the package file.
  returned: always
  type: str
  sample: /src/.build/lambda/alert_processor-arm64-3f2a9c1d0b7e.zip
sha256:
  description: SHA-256 of the package, base64 encoded (Lambda's C(CodeSha256)).
  returned: always
  type: str
  sample: vZAduKuBJaUVRJ2rU9vZxKiKnYSU+OeNwo6DUBy/ZHs=
sha256_hex:
  description: SHA-256 of the package, hexadecimal.
  returned: always
  type: str
source_sha256:
  description: SHA-256 (hex) of the zipped sources alone (without dependencies).
  returned: always
  type: str
size:
  description: Size of the package in bytes.
  returned: always
  type: int
files:
  description: Number of files in the package.
  returned: always
  type: int
dependencies:
  description: Projects bundled from wheels.
  returned: always
  type: list
  elements: str
  sample: [psycopg, psycopg-binary, typing-extensions]
wheel_cache:
  description: Directory of the cached wheels used.
  returned: always
  type: str
"""

import glob
import json
import os
import sys
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.manufacturing.platform.plugins.module_utils import lambda_package as lp


def download_wheels(module, requirements, architecture, python_version, cache_root):
    tags = lp.PLATFORM_TAGS[architecture]
    key = lp.cache_key(requirements, architecture, python_version, tags)
    target = os.path.join(cache_root, "%s-py%s-%s" % (architecture, python_version, key))
    marker = os.path.join(target, ".complete.json")
    if os.path.exists(marker):
        return target, sorted(glob.glob(os.path.join(target, "*.whl")))
    os.makedirs(cache_root, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".download-", dir=cache_root)
    req_file = os.path.join(staging, "requirements.txt")
    with open(req_file, "w") as handle:
        handle.write("\n".join(requirements) + "\n")
    cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--no-input",
           "--only-binary=:all:", "--implementation", "cp", "--python-version", python_version,
           "--dest", staging, "-r", req_file]
    for tag in tags:
        cmd += ["--platform", tag]
    cmd += module.params["pip_args"]
    rc, _out, err = module.run_command(cmd)
    if rc != 0:
        module.fail_json(msg="pip download failed for %s (%s, Python %s): %s"
                         % (", ".join(requirements), architecture, python_version, err.strip()[-2000:]), cmd=cmd)
    os.remove(req_file)
    with open(os.path.join(staging, ".complete.json"), "w") as handle:
        json.dump({"requirements": requirements, "architecture": architecture, "python": python_version,
                   "platforms": tags}, handle, sort_keys=True)
    try:
        os.rename(staging, target)
    except OSError:  # another run filled the cache first: use that one
        if not os.path.exists(marker):
            raise
    return target, sorted(glob.glob(os.path.join(target, "*.whl")))


def main():
    module = AnsibleModule(
        argument_spec={
            "source_dir": {"type": "path", "required": True},
            "package": {"type": "str", "required": True},
            "requirements": {"type": "path"},
            "exclude": {"type": "list", "elements": "str", "default": []},
            "architecture": {"type": "str", "choices": ["x86_64", "arm64"], "default": "arm64"},
            "python_version": {"type": "str", "default": "3.12"},
            "build_dir": {"type": "path", "required": True},
            "name": {"type": "str"},
            "pip_args": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=True,
    )
    p = module.params
    wheels, cache = [], ""
    if p["requirements"]:
        try:
            with open(p["requirements"]) as handle:
                requirements = lp.filter_requirements(handle.read(), p["exclude"])
        except OSError as exc:
            module.fail_json(msg="cannot read %s: %s" % (p["requirements"], exc))
        if requirements:
            cache, wheels = download_wheels(module, requirements, p["architecture"], p["python_version"],
                                            os.path.join(p["build_dir"], "wheels"))
    try:
        data, summary = lp.package(p["source_dir"], p["package"], wheels, p["exclude"])
    except (lp.PackageError, OSError) as exc:
        module.fail_json(msg=str(exc))
    name = "%s-%s-%s.zip" % (p["name"] or p["package"], p["architecture"], summary["sha256_hex"][:12])
    path = os.path.join(p["build_dir"], name)
    changed = True
    if os.path.exists(path):
        with open(path, "rb") as handle:
            changed = handle.read() != data
    if changed:
        os.makedirs(p["build_dir"], exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".%s." % name, dir=p["build_dir"])
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    module.exit_json(changed=changed, path=path, wheel_cache=cache, **summary)


if __name__ == "__main__":
    main()
