"""Unit tests of the alert processor's configuration, API request handling that needs no database, and its
log / Embedded Metric Format output (no cloud: these paths must answer before any connection is opened)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

_LAMBDA = Path(__file__).resolve().parents[3] / "lambdas" / "alert_processor"
if str(_LAMBDA) not in sys.path:
    sys.path.insert(0, str(_LAMBDA))

from alert_processor.config import Config, ConfigError  # noqa: E402
from alert_processor.observability import NAMESPACE, Logger, emf  # noqa: E402
from alert_processor.processor import Processor  # noqa: E402

TENANT = "customer-123"
ENV = {"TENANT_ID": TENANT, "DB_SECRET_ARN": "arn:db", "TSDB_SECRET_ARN": "arn:tsdb", "ALERT_TOPIC_ARN": "arn:sns"}


class NoAws:
    def client(self, service):
        raise AssertionError("no AWS call expected, got %s" % service)


@pytest.fixture
def proc():
    out = io.StringIO()
    config = Config.from_env(dict(ENV, CORS_ALLOW_ORIGINS="https://app.example.com", API_MAX_READINGS="3"))
    p = Processor(config, aws=NoAws(), logger=Logger(TENANT, stream=out))
    p.out = out
    return p


def api(proc, method, resource, body=None, query=None, headers=None, b64=False):
    event = {"httpMethod": method, "resource": resource, "path": resource, "body": body, "isBase64Encoded": b64,
             "queryStringParameters": query, "headers": headers or {}, "requestContext": {"requestId": "req-1"}}
    response = proc.handle(event)
    return response["statusCode"], json.loads(response["body"]), response["headers"]


def test_config_from_env():
    config = Config.from_env(dict(ENV, RULE_CACHE_TTL_SECONDS="5", DLQ_URL="https://sqs/q"))
    assert (config.tenant_id, config.rule_cache_ttl, config.dlq_url, config.max_future_skew) == (
        TENANT, 5.0, "https://sqs/q", 300.0)


@pytest.mark.parametrize(("env", "message"), [
    ({k: v for k, v in ENV.items() if k != "DB_SECRET_ARN"}, "DB_SECRET_ARN"),
    (dict(ENV, TENANT_ID="Bad_Tenant"), "TENANT_ID"),
    (dict(ENV, RULE_CACHE_TTL_SECONDS="soon"), "RULE_CACHE_TTL_SECONDS"),
    (dict(ENV, API_MAX_READINGS="0"), "API_MAX_READINGS"),
])
def test_config_errors(env, message):
    with pytest.raises(ConfigError, match=message):
        Config.from_env(env)


def test_health_needs_no_database(proc):
    status, body, headers = api(proc, "GET", "/health")
    assert status == 200 and body["status"] == "ok" and body["tenant_id"] == TENANT
    assert headers["Content-Type"] == "application/json"


def test_routing(proc):
    assert api(proc, "GET", "/nope")[0] == 404
    status, _body, headers = api(proc, "DELETE", "/alerts")
    assert status == 405 and headers["Allow"] == "GET"
    assert api(proc, "GET", "/health/")[0] == 200  # trailing slash


def test_cors_header_only_for_allowed_origins(proc):
    _s, _b, headers = api(proc, "GET", "/health", headers={"Origin": "https://app.example.com"})
    assert headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    _s, _b, headers = api(proc, "GET", "/health", headers={"origin": "https://evil.example.com"})
    assert "Access-Control-Allow-Origin" not in headers


@pytest.mark.parametrize(("body", "b64", "status", "error"), [
    (None, False, 400, "invalid_request"),
    ("{not json", False, 400, "invalid_json"),
    ('{"value": NaN}', False, 400, "invalid_json"),
    ("!!!", True, 400, "invalid_request"),
    ("42", False, 400, "invalid_request"),
    ("[]", False, 400, "invalid_request"),
    (json.dumps([{}] * 4), False, 413, "too_many_readings"),
])
def test_post_telemetry_bad_bodies(proc, body, b64, status, error):
    got, doc, _h = api(proc, "POST", "/telemetry", body=body, b64=b64)
    assert (got, doc["error"]) == (status, error)


def test_post_telemetry_all_items_invalid_lists_them(proc):
    body = json.dumps([{"machine_id": "m1", "metric": "t", "value": "hot", "ts": 1767268740000},
                       {"machine_id": "m1", "metric": "t"}])
    status, doc, _h = api(proc, "POST", "/telemetry", body=body)
    assert status == 400 and doc["error"] == "invalid_readings"
    assert [(r["index"], r["status"], r["reason"]) for r in doc["results"]] == [
        (0, "rejected", "wrong_type"), (1, "rejected", "missing_field")]
    assert "value must be a number" in doc["results"][0]["error"]


def test_post_telemetry_naming_another_tenant_is_forbidden(proc):
    body = json.dumps([{"machine_id": "m1", "metric": "t", "value": 1, "ts": 1767268740000},
                       {"tenant_id": "customer-456", "machine_id": "m1", "metric": "t", "value": 1, "ts": 1}])
    status, doc, _h = api(proc, "POST", "/telemetry", body=body)
    assert status == 403 and doc["items"] == [1]


@pytest.mark.parametrize("query", [{"limit": "0"}, {"limit": "501"}, {"limit": "ten"}, {"machine_id": "a b"}])
def test_get_alerts_bad_parameters(proc, query):
    assert api(proc, "GET", "/alerts", query=query)[0] == 400


def test_unsupported_event(proc):
    with pytest.raises(ValueError, match="unsupported event"):
        proc.handle({"Records": []})


def test_emf_document():
    doc = emf(TENANT, {"ProcessingLatency": 12.5, "Records": 100, "Alerts": 5, "BadRecords": 1}, timestamp_ms=1,
              Source="kafka")
    assert doc["_aws"] == {"Timestamp": 1, "CloudWatchMetrics": [{
        "Namespace": NAMESPACE, "Dimensions": [["Tenant"]],
        "Metrics": [{"Name": "ProcessingLatency", "Unit": "Milliseconds"}, {"Name": "Records", "Unit": "Count"},
                    {"Name": "Alerts", "Unit": "Count"}, {"Name": "BadRecords", "Unit": "Count"}]}]}
    assert (doc["Tenant"], doc["Source"], doc["Records"]) == (TENANT, "kafka", 100)


def test_api_requests_log_json_and_emf(proc):
    api(proc, "POST", "/telemetry", body=json.dumps({"machine_id": "m1", "metric": "t", "value": "s3cr3t",
                                                     "ts": 1767268740000}))
    lines = [json.loads(line) for line in proc.out.getvalue().splitlines()]
    assert any("_aws" in line and line["BadRecords"] == 1 and line["Records"] == 1 for line in lines)
    assert any(line.get("message") == "api request" and line["status"] == 400 for line in lines)
    assert "s3cr3t" not in proc.out.getvalue()


def test_log_level(proc):
    out = io.StringIO()
    log = Logger(TENANT, stream=out, level="WARNING")
    log.info("hidden")
    log.warning("shown", count=1)
    assert [json.loads(line)["message"] for line in out.getvalue().splitlines()] == ["shown"]
