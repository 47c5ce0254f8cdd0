"""Validation regexes match the whole value: a trailing newline or space never slips through (``$`` alone
accepts ``customer-1\\n``), and such an id cannot pose as a new tenant next to ``customer-1``."""

from __future__ import annotations

import pytest

from ansible_collections.manufacturing.platform.plugins.module_utils import kafka_topics, msk_iam_policy, rds_postgres
from ansible_collections.manufacturing.platform.plugins.module_utils.rds_sql import check_ident
from ansible_collections.manufacturing.platform.plugins.plugin_utils import (
    fleet,
    preflight_compute,
    preflight_databases,
    preflight_monitoring,
    preflight_storage,
    preflight_streaming,
)

GOOD = {"tenant_id": "customer-1", "tenancy_tier": "shared", "tenant_machines": 15}


@pytest.mark.parametrize("tenant_id", ["customer-1\n", "customer-1 ", " customer-1", "customer-1\r\n"])
def test_tenant_id_with_trailing_newline_or_space_is_rejected(tenant_id):
    errors = fleet.validate_tenant("customer-x", dict(GOOD, tenant_id=tenant_id))
    assert [e.field for e in errors] == ["tenant_id"]


def test_padded_tenant_id_is_a_duplicate_not_a_new_tenant():
    errors = fleet.validate_fleet({"a": dict(GOOD), "b": dict(GOOD, tenant_id="customer-1\n")})
    assert [(e.where, e.field) for e in errors] == [("b", "tenant_id")]


@pytest.mark.parametrize("endpoint, protocol", [("ops@example.com\n", "email"), ("https://h.example.com/x\n", "https")])
def test_contact_endpoints_with_a_trailing_newline_are_rejected(endpoint, protocol):
    contacts = [{"protocol": protocol, "endpoint": endpoint}]
    assert [e.field for e in fleet.validate_tenant("h", dict(GOOD, tenant_alert_contacts=contacts))] == [
        "tenant_alert_contacts[0].endpoint"]
    errors = preflight_monitoring.contact_errors("h", contacts)
    assert [e.field for e in errors] == ["monitoring_ops_contacts[0].endpoint"]


def test_other_preflight_patterns_are_full_matches():
    assert not preflight_compute.STAGE_RE.fullmatch("v1\n")
    hvars = {"compute_runtime": "python3.12\n", "compute_api_stage": "v1\n",
             "compute_cors_allow_origins": ["https://a.example.com\n"]}
    assert sorted(e.field for e in preflight_compute.check_host("t", hvars)) == [
        "compute_api_stage", "compute_cors_allow_origins", "compute_runtime"]
    assert preflight_databases.retention_problem("30 days\nx")
    assert not preflight_storage.BUCKET_RE.fullmatch("bucket-name\n")
    assert not preflight_streaming.TOPIC_SUFFIX_RE.fullmatch("telemetry\n")


def test_module_utils_patterns_are_full_matches():
    with pytest.raises(ValueError):
        check_ident("t_customer_1\n")
    assert rds_postgres.instance_class_problem("db.t4g.micro\n")
    assert msk_iam_policy.matches("arn:aws:kafka:x", "arn:aws:kafka:x")
    assert not msk_iam_policy.matches("arn:aws:kafka:x", "arn:aws:kafka:x\n")
    assert kafka_topics.validate_topic_name("customer-1.telemetry") is None
    assert kafka_topics.validate_topic_name("customer-1.telemetry\n")
