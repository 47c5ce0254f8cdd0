"""Every AWS module of the collection is in the action group `aws` (meta/runtime.yml): the roles set endpoint,
region and credentials once with `module_defaults: group/manufacturing.platform.aws`; a module left out would run
against the default endpoint and region of the machine (found by the destroy test when rds_event_subscription
was missing)."""

from __future__ import annotations

import yaml
from conftest import ROOT


def test_every_aws_module_is_in_the_aws_action_group():
    group = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())["action_groups"]["aws"]
    members = {m for m in group if isinstance(m, str)}
    aws_modules = {p.stem for p in (ROOT / "plugins" / "modules").glob("*.py")
                   if "AnsibleAWSModule" in p.read_text()}
    assert aws_modules, "no AWS module found: the test would check nothing"
    assert sorted(aws_modules - members) == []
    assert sorted(members - aws_modules) == []
