#!/usr/bin/env python3
"""Run `ansible-test sanity` on the collection as it ships, offline.

1. `ansible-galaxy collection build` (so build_ignore decides what is checked, exactly like a release).
2. Unpack into .build/sanity/ansible_collections/manufacturing/platform and commit it to a throw-away git
   repo (ansible-test wants a path ending in ansible_collections/<ns>/<name>, inside git).
3. ansible-test bootstraps pip into each per-test venv with a get-pip script it downloads from a host that
   may be unreachable (offline machines, CI). When that script is not cached, cache a stand-in that uses
   `ensurepip` and then `pip install` with the same arguments (packages still come from PyPI).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / ".build" / "sanity"
BIN = Path(sys.executable).parent

STAND_IN = '''"""Stand-in for get-pip.py written by manufacturing.platform scripts/sanity.py (offline machines)."""
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)
'''


def pip_bootstrap_version():
    import ansible_test

    source = (Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py").read_text()
    match = re.search(r"pip='([0-9.]+)'", source)
    if not match:
        sys.exit("sanity: cannot find the pip version ansible-test bootstraps")
    return match.group(1)


def ensure_get_pip():
    version = pip_bootstrap_version()
    cache = Path(os.path.expanduser("~/.ansible/test/cache/get_pip_%s.py" % version.replace(".", "_")))
    if not cache.exists():
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(STAND_IN)
        print("sanity: cached an ensurepip stand-in for the get-pip %s bootstrap script" % version)


def build_tree():
    shutil.rmtree(BUILD, ignore_errors=True)
    BUILD.mkdir(parents=True)
    build = [str(BIN / "ansible-galaxy"), "collection", "build", "--force", "--output-path", str(BUILD), str(ROOT)]
    subprocess.run(build, check=True, stdout=subprocess.DEVNULL)
    tarball = next(BUILD.glob("manufacturing-platform-*.tar.gz"))
    dest = BUILD / "ansible_collections" / "manufacturing" / "platform"
    dest.mkdir(parents=True)
    with tarfile.open(tarball) as tar:
        tar.extractall(dest, filter="data")
    # The collections this one depends on (amazon.aws, community.*, ansible.*) come with the ansible package:
    # make them visible beside ours so the import and validate-modules tests can load module_utils from them.
    import ansible_collections.amazon.aws as amazon_aws

    bundled = Path(list(amazon_aws.__path__)[0]).resolve().parents[1]
    for namespace in bundled.iterdir():
        if namespace.is_dir() and namespace.name not in ("manufacturing", "__pycache__"):
            (BUILD / "ansible_collections" / namespace.name).symlink_to(namespace, target_is_directory=True)
    git = ["git", "-c", "user.name=sanity", "-c", "user.email=sanity@localhost", "-c", "init.defaultBranch=main"]
    subprocess.run(git + ["init", "-q"], cwd=dest, check=True)
    subprocess.run(git + ["add", "-A"], cwd=dest, check=True)
    subprocess.run(git + ["commit", "-q", "-m", "sanity"], cwd=dest, check=True)
    return dest


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tests", nargs="*", help="run only these sanity tests (default: all)")
    args = parser.parse_args()
    ensure_get_pip()
    dest = build_tree()
    version = "%d.%d" % sys.version_info[:2]
    cmd = [str(BIN / "ansible-test"), "sanity", "--python", version, "--local", "--color", "no"]
    for test in args.tests:
        cmd += ["--test", test]
    env = dict(os.environ, PATH=str(BIN) + os.pathsep + os.environ.get("PATH", ""))
    return subprocess.run(cmd, cwd=dest, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
