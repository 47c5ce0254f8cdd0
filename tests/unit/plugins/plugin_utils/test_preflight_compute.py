"""Unit tests of the compute role's fleet-wide preflight checks (plugin_utils/preflight_compute.py)."""

from __future__ import annotations

from ansible_collections.manufacturing.platform.plugins.plugin_utils import preflight_compute as pc
from ansible_collections.manufacturing.platform.plugins.plugin_utils import preflight_limits as pl

GOOD = {"platform_prefix": "mfg-prod", "tenant_id": "customer-123", "compute_runtime": "python3.12",
        "compute_memory_mb": 512, "compute_timeout_seconds": 30, "compute_reserved_concurrency": 10,
        "compute_batch_size": 100, "compute_batching_window_seconds": 1, "compute_api_stage": "v1",
        "compute_api_throttling_rate_limit": 50, "compute_api_throttling_burst_limit": 100,
        "compute_api_quota_limit": 0, "compute_cors_allow_origins": ["https://a.example.com", "http://localhost:3000"],
        "compute_telemetry_topic": "telemetry", "streaming_topics": [{"name": "telemetry"}, {"name": "alerts"}],
        "compute_source_dir": "/src/lambdas/alert_processor"}


def fields(errors):
    return sorted(e.field for e in errors)


def test_reference_values_pass():
    assert pc.check("prod", {"t1": GOOD, "t2": dict(GOOD, tenant_id="t2")}, ["t1", "t2"], []) == []


def test_each_limit_is_reported_with_its_field():
    bad = dict(GOOD, compute_runtime="python3.11", compute_memory_mb=64, compute_timeout_seconds=901,
               compute_reserved_concurrency=-1, compute_batch_size=0, compute_batching_window_seconds=301,
               compute_api_throttling_rate_limit=0, compute_api_throttling_burst_limit=0, compute_api_stage="v 1",
               compute_cors_allow_origins=["*", "http://example.com", "https://a.example.com/path"],
               compute_telemetry_topic="metrics")
    errors = pc.check("prod", {"t1": bad}, ["t1"], [])
    assert fields(errors) == sorted([
        "compute_runtime", "compute_api_stage", "compute_cors_allow_origins",
        "compute_cors_allow_origins", "compute_cors_allow_origins", "compute_telemetry_topic"])
    assert all(e.where == "t1" for e in errors)
    # The numeric Lambda / event source / API limits are in the one table of preflight_limits.
    limit_errors = pl.host_limit_errors("t1", bad)
    assert fields(limit_errors) == sorted([
        "compute_memory_mb", "compute_timeout_seconds", "compute_reserved_concurrency",
        "compute_batch_size", "compute_batching_window_seconds", "compute_api_throttling_rate_limit",
        "compute_api_throttling_burst_limit"])


def test_names_too_long_for_lambda_and_iam():
    errors = pc.check("prod", {"t1": dict(GOOD, platform_prefix="mfg-production-eu", tenant_id="a" * 32)}, ["t1"], [])
    assert fields(errors) == ["tenant_id"] and "64" in errors[0].problem


def test_source_dir_must_be_fleet_wide():
    hosts = {"t1": GOOD, "t2": dict(GOOD, compute_source_dir="/elsewhere")}
    assert fields(pc.check("prod", hosts, ["t1", "t2"], [])) == ["compute_source_dir"]


def test_cors_error_origin_must_be_an_allowed_origin():
    ok = dict(GOOD, compute_cors_error_origin="http://localhost:3000")
    assert pc.check("prod", {"t1": ok}, ["t1"], []) == []
    assert pc.check("prod", {"t1": dict(GOOD, compute_cors_error_origin="")}, ["t1"], []) == []
    errors = pc.check("prod", {"t1": dict(GOOD, compute_cors_error_origin="https://evil.example.com")}, ["t1"], [])
    assert fields(errors) == ["compute_cors_error_origin"] and "evil" in errors[0].problem


def test_rotation_settings_have_secrets_managers_and_lambdas_limits():
    hvars = {"compute_rotation_days": 1001, "compute_rotation_memory_mb": 64, "compute_rotation_timeout_seconds": 0}
    assert sorted(e.field for e in pl.host_limit_errors("t1", hvars)) == sorted(hvars)
    good = {"compute_rotation_days": 30, "compute_rotation_memory_mb": 256, "compute_rotation_timeout_seconds": 60}
    assert pl.host_limit_errors("t1", good) == []


def test_iam_database_auth_needs_the_proxy():
    errors = pc.check("prod", {"t1": dict(GOOD, compute_db_auth="iam", databases_proxy_enabled=False)}, ["t1"], [])
    assert fields(errors) == ["compute_db_auth"] and "databases_proxy_enabled" in errors[0].problem
    assert "t1" in str(errors[0])
    errors = pc.check("prod", {"t1": dict(GOOD, compute_db_auth="token")}, ["t1"], [])
    assert fields(errors) == ["compute_db_auth"]
    for auth, proxy in (("iam", True), ("password", False), ("password", True)):
        assert pc.check("prod", {"t1": dict(GOOD, compute_db_auth=auth, databases_proxy_enabled=proxy)},
                        ["t1"], []) == []
