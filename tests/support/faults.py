"""The local cloud's fault proxy (localcloud/faults.py) from tests and benchmarks: ctl.py calls and /_faults."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

from support.playbook import ROOT


def ctl(*args):
    """Run localcloud/ctl.py with this process's environment (LOCALCLOUD_DIR, ports)."""
    return subprocess.run([sys.executable, str(ROOT / "localcloud" / "ctl.py"), *args], cwd=ROOT, env=dict(os.environ),
                          capture_output=True, text=True, timeout=120, check=False)


def control(url, **settings):
    """POST settings to the proxy's /_faults (none: just read) and return its settings and counters."""
    request = urllib.request.Request(url, data=json.dumps(settings).encode(), method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 (loopback)
        return json.loads(answer.read())
