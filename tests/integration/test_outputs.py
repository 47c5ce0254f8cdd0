"""Outputs of a converge (issue 8): outputs/local.json and the set_stats artifacts hold, per tenant and for the
shared layer, the API URL, database endpoints and secret ARNs, bucket names and prefixes, Kafka cluster ARN and
bootstrap servers, SNS topic ARNs and dashboard names — each checked against the converged state in the emulator —
and no secret value (every secret of the environment is read from Secrets Manager and searched for)."""

from __future__ import annotations

import json

import pytest
from support.playbook import ROOT, load_fleet

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PREFIX = "mfg-local"
TENANT_ITEMS = (
    "compute_api_url",
    "databases_postgres_endpoint",
    "databases_tenant_secret_arn",
    "databases_timescale_secret_arn",
    "storage_bucket",
    "storage_prefix",
    "streaming_cluster_arn",
    "streaming_bootstrap_servers",
    "monitoring_alert_topic_arn",
    "monitoring_ops_topic_arn",
    "monitoring_dashboard_name",
)
SHARED_ITEMS = (
    "databases_postgres_endpoint",
    "databases_postgres_master_secret_arn",
    "storage_bucket",
    "storage_log_bucket",
    "streaming_cluster_arn",
    "streaming_bootstrap_servers",
    "monitoring_ops_topic_arn",
    "monitoring_dashboard_name",
)


def tenants():
    return load_fleet()["all"]["children"]["tenants"]["hosts"]


@pytest.fixture(scope="module")
def outputs(converged):
    return json.loads((ROOT / "outputs" / "local.json").read_text())


@pytest.fixture(scope="module")
def secret_values(converged, aws):
    """Every secret string of the environment (whole and per JSON field that is not an identifier)."""
    sm = aws("secretsmanager")
    values = set()
    for page in sm.get_paginator("list_secrets").paginate():
        for secret in page["SecretList"]:
            tags = {t["Key"]: t["Value"] for t in secret.get("Tags", [])}
            if not (
                secret["Name"].startswith(PREFIX + "/")
                or tags.get("Environment") == "local"
                or secret["Name"].startswith("rds!")
            ):
                continue
            text = sm.get_secret_value(SecretId=secret["ARN"]).get("SecretString") or ""
            values.add(text)
            try:
                fields = json.loads(text)
            except ValueError:
                continue
            if isinstance(fields, dict):
                for key, value in fields.items():
                    if key in ("password", "api_key", "secret", "token") and isinstance(value, str) and value:
                        values.add(value)
    return values


def _shared_host():
    return "platform-shared"


def test_every_item_for_every_tenant_and_the_shared_layer(outputs):
    hosts = outputs["hosts"]
    assert outputs["env"] == "local"
    missing = []
    for host in tenants():
        missing += ["%s.%s" % (host, item) for item in TENANT_ITEMS if not hosts.get(host, {}).get(item)]
    missing += [
        "%s.%s" % (_shared_host(), item) for item in SHARED_ITEMS if not hosts.get(_shared_host(), {}).get(item)
    ]
    assert missing == [], missing


def test_items_match_the_converged_state(outputs, aws):
    hosts = outputs["hosts"]
    rds = {i["DBInstanceIdentifier"]: i for i in aws("rds").describe_db_instances()["DBInstances"]}
    kafka = {c["ClusterName"]: c["ClusterArn"] for c in aws("kafka").list_clusters_v2()["ClusterInfoList"]}
    buckets = {b["Name"] for b in aws("s3").list_buckets()["Buckets"]}
    topics = {t["TopicArn"] for t in aws("sns").list_topics()["Topics"]}
    dashboards = {d["DashboardName"] for d in aws("cloudwatch").list_dashboards()["DashboardEntries"]}
    apis = {a["id"]: a["name"] for a in aws("apigateway").get_rest_apis()["items"]}
    sm = aws("secretsmanager")
    for host in list(tenants()) + [_shared_host()]:
        out = hosts[host]
        instance = out["databases_postgres_instance_id"]
        assert out["databases_postgres_endpoint"] == rds[instance]["Endpoint"]["Address"], host
        assert out["streaming_cluster_arn"] == kafka[out["streaming_cluster_name"]], host
        assert out["storage_bucket"] in buckets, host
        assert out["monitoring_ops_topic_arn"] in topics and out["monitoring_dashboard_name"] in dashboards, host
        for key in (
            "databases_tenant_secret_arn",
            "databases_timescale_secret_arn",
            "databases_postgres_master_secret_arn",
        ):
            if out.get(key):
                assert sm.describe_secret(SecretId=out[key])["ARN"] == out[key], (host, key)
        if host != _shared_host():
            tenant_id = tenants()[host]["tenant_id"]
            assert out["monitoring_alert_topic_arn"] in topics, host
            assert out["storage_prefix"] == "tenants/%s/" % tenant_id
            api_id = out["compute_api_url"].split("//", 1)[1].split(".", 1)[0]
            assert apis.get(api_id) == "%s-%s-api" % (PREFIX, tenant_id), (host, out["compute_api_url"])


def test_no_secret_value_in_the_outputs_file_or_the_artifacts(outputs, secret_values, converged):
    text = (ROOT / "outputs" / "local.json").read_text()
    assert secret_values, "no secrets found: the check would prove nothing"
    leaked = sorted(v[:4] + "..." for v in secret_values if len(v) >= 8 and v in text)
    assert leaked == []
    stats = json.dumps(converged[1].data.get("global_custom_stats", {}))
    assert sorted(v[:4] + "..." for v in secret_values if len(v) >= 8 and v in stats) == []
