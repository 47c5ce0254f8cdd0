"""preflight_monitoring: fleet-wide checks of the monitoring role's values (pure data)."""

from __future__ import annotations

from pathlib import Path

import yaml

from ansible_collections.manufacturing.platform.plugins.plugin_utils import preflight_monitoring as pm

ROOT = Path(__file__).resolve().parents[4]
GROUP_VARS = yaml.safe_load((ROOT / "group_vars" / "all" / "monitoring.yml").read_text())


def fleet(shared=None, tenant=None):
    base = dict(
        GROUP_VARS,
        platform_prefix="mfg-prod",
        databases_instance_class="db.r6g.large",
        databases_dedicated_sizing=[{"max_machines": 50, "instance_class": "db.t4g.medium"}],
    )
    hosts = {
        "platform-shared": {
            **base,
            "monitoring_budget_monthly_usd": 50000,
            "monitoring_ops_contacts": [{"protocol": "email", "endpoint": "ops@example.com"}],
            **(shared or {}),
        },
        "customer-1": {
            **base,
            "tenant_id": "customer-1",
            "tenancy_tier": "dedicated",
            "tenant_machines": 15,
            **(tenant or {}),
        },
    }
    return [str(e) for e in pm.check("prod", hosts, ["customer-1"], ["platform-shared"])]


def test_reference_values_pass():
    assert fleet() == []


def test_bad_values_are_named():
    errors = fleet(
        shared={
            "monitoring_budget_monthly_usd": 0,
            "monitoring_ops_contacts": [
                {"protocol": "sms", "endpoint": "1"},
                {"protocol": "https", "endpoint": "http://x"},
            ],
        },
        tenant={
            "monitoring_lambda_error_rate_percent": 150,
            "monitoring_rds_connections_ratio": 2,
            "monitoring_alarm_datapoints_to_alarm": 9,
            "monitoring_alarm_period": 45,
            "monitoring_alarm_routes": {"lambda_p99_duration": ["pager"], "nope": ["ops"]},
            "monitoring_lambda_p99_duration_ms": "fast",
        },
    )
    text = "\n".join(errors)
    for needle in (
        "monitoring_budget_monthly_usd",
        "monitoring_ops_contacts[0].protocol",
        "monitoring_ops_contacts[1].endpoint",
        "monitoring_lambda_error_rate_percent",
        "monitoring_rds_connections_ratio",
        "monitoring_alarm_datapoints_to_alarm",
        "monitoring_alarm_period",
        "monitoring_alarm_routes.lambda_p99_duration",
        "monitoring_alarm_routes.nope",
        "monitoring_lambda_p99_duration_ms",
    ):
        assert needle in text, (needle, errors)


def test_unknown_instance_class_needs_a_memory_size_or_explicit_max_connections():
    errors = fleet(tenant={"databases_dedicated_instance_class": "db.x9.huge"})
    assert any("db.x9.huge" in e for e in errors)
    assert (
        fleet(tenant={"databases_dedicated_instance_class": "db.x9.huge", "monitoring_rds_max_connections": 500}) == []
    )
