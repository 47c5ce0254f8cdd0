"""Unit tests of the cost_estimate and cost_report filters (plugins/filter/cost_*.py): wiring and errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.manufacturing.platform.plugins.filter import cost_estimate as ce
from ansible_collections.manufacturing.platform.plugins.filter import cost_report as crf

ROOT = Path(__file__).resolve().parents[4]


@pytest.fixture(scope="module")
def prices():
    return yaml.safe_load((ROOT / "docs" / "pricing" / "aws-us-east-1-2026-11.yml").read_text())


def test_filters_are_registered():
    assert "cost_estimate" in ce.FilterModule().filters()
    assert "cost_report" in crf.FilterModule().filters()


def test_docs_are_valid_yaml_and_named_after_the_filter():
    for module, name in ((ce, "cost_estimate"), (crf, "cost_report")):
        doc = yaml.safe_load(module.DOCUMENTATION)
        assert doc["name"] == name
        yaml.safe_load(module.EXAMPLES)
        yaml.safe_load(module.RETURN)


def test_cost_estimate_reports_every_problem(prices):
    with pytest.raises(AnsibleFilterError) as err:
        ce.cost_estimate([{"host": "platform-shared", "shared_layer": True}], prices, "prod")
    message = str(err.value)
    assert message.startswith("cost_estimate: ")
    assert "inventory: tenants: the fleet has no tenant" in message
    assert "platform-shared: az_count: must be an integer" in message


def test_cost_report_rejects_unknown_format_and_bad_input():
    with pytest.raises(AnsibleFilterError, match="format must be one of markdown, html"):
        crf.cost_report({}, "pdf")
    with pytest.raises(AnsibleFilterError, match="not a cost_estimate result"):
        crf.cost_report({"env": "prod"}, "markdown")
