"""Onboarding a tenant the way a platform team does, once per test session (conftest.onboarded).

A fourth, shared-tier tenant is added to a copy of the reference inventory and converged with
``site.yml --limit <tenant>``: first previewed (``--check --diff``), then converged through the fault proxy
(20 % throttling + 5 % 503 on every AWS request), then converged once more without faults, which must find nothing
to do. test_network (only the tenant's resources and the shared side's peering change) and test_faults (a faulted
converge leaves exactly a clean run's state) read the same runs: one onboarding, not one per module.
``destroy()`` runs ``destroy.yml --limit <tenant>`` once (test_network's delete test calls it); the session's
teardown destroys the tenant if no test did.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from support.playbook import PlaybookRun, load_fleet, run_playbook, write_inventory

ENV = "local"
NEW_TENANT = "customer-999"
NEW_CIDR = "10.1.48.0/20"
# The reference fleet (3 tenants + shared) plus the default VPC fills moto's default VPC quota (5): a fourth
# tenant needs a raised quota, exactly like a real account. The tests say so explicitly.
RAISED_QUOTA = json.dumps(
    {"network_quota_overrides": {"L-F678F1CE": 20, "L-A4707A72": 20, "L-0263D0A3": 20, "L-FE5A380F": 20}}
)
# The faults of the onboarding converge (the session's no-op converge uses seed 13).
THROTTLE, UNAVAILABLE, SEED = 0.20, 0.05, 14


class Onboarding:
    """The runs of one onboarding and what they did at the emulator (attributes documented in ``onboard``)."""

    def __init__(self, inventory: Path, args: list[str]) -> None:
        self.inventory = inventory
        self.args = args
        self.destroyed: PlaybookRun | None = None

    def destroy(self) -> PlaybookRun:
        """``destroy.yml --limit <tenant>`` (once; later calls return the same run)."""
        if self.destroyed is None:
            self.destroyed = run_playbook("playbooks/destroy.yml", *self.args, "-e", "confirm_destroy=" + ENV)
        return self.destroyed


def grown_fleet() -> dict[str, Any]:
    fleet = copy.deepcopy(load_fleet())
    fleet["all"]["children"]["tenants"]["hosts"][NEW_TENANT] = {
        "tenant_id": NEW_TENANT,
        "tenancy_tier": "shared",
        "tenant_machines": 5,
        "network_vpc_cidr": NEW_CIDR,
    }
    return fleet


def onboard(directory: Path, fault_proxy, request_log, snapshot: Callable[[], Any]) -> Onboarding:
    """Preview, converge under faults, converge again; ``snapshot()`` is taken before and after the converge.

    Attributes: ``preview`` / ``preview_mutating`` (the --check --diff run and the mutating requests that reached
    the emulator during it), ``converge`` / ``mutating`` / ``faults`` (the faulted converge, its mutating requests,
    the proxy's counters), ``again`` / ``again_mutating`` (the clean rerun), ``before`` / ``after`` (snapshots).
    """
    inventory = write_inventory(directory, grown_fleet())
    done = Onboarding(inventory, ["-i", str(inventory), "-e", "env=" + ENV, "-e", RAISED_QUOTA, "--limit", NEW_TENANT])
    done.before = snapshot()
    mark = request_log.mark()
    done.preview = run_playbook("site.yml", *done.args, "--check", "--diff")
    done.preview_mutating = request_log.mutating_since(mark)
    fault_proxy.control(throttle=THROTTLE, unavailable=UNAVAILABLE, seed=SEED, services=[], reset=True)
    mark = request_log.mark()
    try:
        done.converge = run_playbook("site.yml", *done.args, "-e", "platform_aws_endpoint_url=" + fault_proxy.url)
    finally:
        done.faults = fault_proxy.control(throttle=0, unavailable=0)
    done.mutating = request_log.mutating_since(mark)
    done.after = snapshot()
    mark = request_log.mark()
    done.again = run_playbook("site.yml", *done.args)
    done.again_mutating = request_log.mutating_since(mark)
    return done
