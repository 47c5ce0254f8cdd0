"""playbooks/cost_report.yml end to end: offline (no AWS, no local cloud), per environment, idempotent.

The numbers in the Markdown are the model's (outputs/cost-<env>.json is the estimate the filter returned), the
HTML carries inline SVG charts and nothing external, and a second run changes nothing.
"""

from __future__ import annotations

import json
import re

import pytest
from support.playbook import ROOT, load_fleet, run_playbook, write_inventory

OUT = ROOT / "outputs"


def money(value):
    return "$" + format(value, ",.2f")


@pytest.fixture(scope="module", params=["prod", "dev"])
def report(request):
    env = request.param
    first = run_playbook("playbooks/cost_report.yml", "-e", "env=%s" % env)
    assert first.rc == 0, first.explain()
    second = run_playbook("playbooks/cost_report.yml", "-e", "env=%s" % env)
    assert second.rc == 0, second.explain()
    return env, first, second


def test_writes_the_three_files_and_is_idempotent(report):
    env, _first, second = report
    for ext in ("md", "html", "json"):
        assert (OUT / ("cost-%s.%s" % (env, ext))).stat().st_size > 1000
    assert second.changed == 0, second.changed_tasks()


def test_markdown_numbers_equal_the_model(report):
    env, _first, _second = report
    estimate = json.loads((OUT / ("cost-%s.json" % env)).read_text())
    text = (OUT / ("cost-%s.md" % env)).read_text()
    assert estimate["env"] == env
    assert "**%s per month**" % money(estimate["total"]) in text
    assert [t["tenant_id"] for t in estimate["tenants"]] == ["customer-123", "customer-456", "customer-789"]
    for tenant in estimate["tenants"]:
        row = re.search(r"^\| %s \| .*$" % re.escape(tenant["tenant_id"]), text, re.M).group(0)
        assert "**%s**" % money(tenant["total"]) in row
        assert money(tenant["own_total"]) in row and money(tenant["shared_share"]) in row
    for service in estimate["services"]:
        assert "| %s | %s |" % (service["label"], money(estimate["by_service"][service["key"]])) in text
    items_total = round(sum(li["monthly"] for li in estimate["line_items"]), 2)
    assert items_total == estimate["total"]
    assert "2026-11-01" in text


def test_prod_is_compared_with_the_seed(report):
    env, _first, _second = report
    estimate = json.loads((OUT / ("cost-%s.json" % env)).read_text())
    text = (OUT / ("cost-%s.md" % env)).read_text()
    if env == "prod":
        assert estimate["reference"]["within_tolerance"] is True
        assert abs(estimate["total"] - 2900) <= 435
        assert "## Reference check: the seed's ~$2,900 per month" in text
    else:
        assert estimate["reference"]["applies"] is False
        assert "## Reference check" not in text


def test_html_contains_the_charts(report):
    env, _first, _second = report
    page = (OUT / ("cost-%s.html" % env)).read_text()
    estimate = json.loads((OUT / ("cost-%s.json" % env)).read_text())
    assert page.count("<svg") >= 4
    assert "<title>Monthly cost by service</title>" in page
    assert "<script" not in page and "src=" not in page
    assert money(estimate["total"]) in page


def test_no_timestamp_in_the_content(report):
    env, _first, _second = report
    for ext in ("md", "html", "json"):
        content = (OUT / ("cost-%s.%s" % (env, ext))).read_text()
        dates = set(re.findall(r"\d{4}-\d{2}-\d{2}", content))
        assert dates <= {"2026-11-01"}, dates


def test_env_is_required_and_known():
    missing = run_playbook("playbooks/cost_report.yml")
    assert missing.rc != 0
    assert any("env: is required" in m for m in missing.failure_messages()), missing.explain()
    unknown = run_playbook("playbooks/cost_report.yml", "-e", "env=staging")
    assert unknown.rc != 0
    assert any("unknown environment staging" in m for m in unknown.failure_messages()), unknown.explain()


def test_bad_inventory_is_reported_by_host_and_field(tmp_path):
    fleet = load_fleet()
    fleet["all"]["children"]["tenants"]["hosts"]["customer-456"]["databases_instance_class"] = "db.x9.huge"
    fleet["all"]["children"]["tenants"]["hosts"]["customer-789"]["cost_lambda_architecture"] = "sparc"
    inventory = write_inventory(tmp_path / "inv", fleet)
    run = run_playbook("playbooks/cost_report.yml", "-i", str(inventory), "-e", "env=prod",
                       "-e", "cost_report_basename=cost-badinventory")
    assert run.rc != 0
    text = "\n".join(run.failure_messages())
    assert "customer-456: databases_instance_class: RDS instance class 'db.x9.huge'" in text
    assert "customer-789: cost_lambda_architecture: Lambda architecture 'sparc'" in text
    assert not (OUT / "cost-badinventory.md").exists()


def test_whole_fleet_is_priced_under_limit():
    run = run_playbook("playbooks/cost_report.yml", "-e", "env=prod", "--limit", "customer-456")
    assert run.rc == 0, run.explain()
    estimate = json.loads((OUT / "cost-prod.json").read_text())
    assert len(estimate["tenants"]) == 3
