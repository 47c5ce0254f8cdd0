"""Unit tests of the tenant API's OpenAPI definition (roles/compute/templates/openapi.yml.j2), its hash and the
method expectations the apigateway_rest_api module checks after an import (module_utils/apigw_definition.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from ansible_collections.manufacturing.platform.plugins.module_utils import apigw_definition as apd

ROOT = Path(__file__).resolve().parents[4]
TEMPLATE = ROOT / "roles" / "compute" / "templates" / "openapi.yml.j2"
URI = ("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
       "arn:aws:lambda:us-east-1:123456789012:function:mfg-prod-t1-alert-processor:live/invocations")


def render(**over):
    variables = {"_compute_invoke_uri": URI, "_compute_api_name": "mfg-prod-t1-api",
                 "compute_cors_allow_origins": ["https://a.example.com", "https://b.example.com"],
                 "compute_api_max_readings": 500, "compute_api_mock_integration_extra": {}, "tenant_id": "t1"}
    variables.update(over)
    templar = Templar(loader=DataLoader(), variables=variables)
    return yaml.safe_load(templar.template(trust_as_template(TEMPLATE.read_text())))


@pytest.fixture(scope="module")
def doc():
    return render()


def test_paths_methods_and_proxy_integration_to_the_live_alias(doc):
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]) == {"/telemetry", "/alerts", "/health"}
    assert set(doc["paths"]["/telemetry"]) == {"post", "options"}
    assert set(doc["paths"]["/alerts"]) == {"get", "options"}
    for path, method in (("/telemetry", "post"), ("/alerts", "get"), ("/health", "get")):
        integration = doc["paths"][path][method]["x-amazon-apigateway-integration"]
        assert integration == {"type": "aws_proxy", "httpMethod": "POST", "uri": URI,
                               "passthroughBehavior": "when_no_match"}


def test_expected_methods_key_validator_model_and_cors(doc):
    methods = apd.expected_methods(doc)
    post = methods[("/telemetry", "POST")]
    assert post["apiKeyRequired"] and post["requestValidator"] == "body"
    assert post["requestModels"] == {"application/json": "TelemetryRequest"}
    assert methods[("/alerts", "GET")]["requestValidator"] == "params"
    assert methods[("/health", "GET")]["apiKeyRequired"]
    options = methods[("/telemetry", "OPTIONS")]
    assert not options["apiKeyRequired"] and options["integration"]["type"] == "MOCK"
    assert "method.response.header.Access-Control-Allow-Origin" in options["methodResponses"]["200"]
    response = options["integration"]["responses"]["200"]
    assert response["responseParameters"]["method.response.header.Access-Control-Allow-Methods"] == "'OPTIONS,POST'"
    vtl = response["responseTemplates"]["application/json"]
    assert '["https://a.example.com", "https://b.example.com"]' in vtl and "responseOverride" in vtl
    assert set(apd.models(doc)) == {"TelemetryRequest", "Reading"}
    assert apd.validators(doc)["body"] == {"validateRequestBody": True, "validateRequestParameters": False}


def test_no_cors_origins_no_options_methods():
    doc = render(compute_cors_allow_origins=[])
    assert all("options" not in item for item in doc["paths"].values())


def test_hash_is_stable_over_key_order_and_changes_with_content(doc):
    reordered = json.loads(json.dumps(doc, sort_keys=True))
    reordered = dict(reversed(list(reordered.items())))
    assert apd.definition_sha256(doc) == apd.definition_sha256(reordered) == apd.definition_sha256(render())
    assert apd.definition_sha256(render(compute_api_max_readings=100)) != apd.definition_sha256(doc)
    assert apd.definition_sha256(render(_compute_invoke_uri=URI.replace("t1", "t2"))) != apd.definition_sha256(doc)


def test_prepare_sets_the_title_and_refuses_swagger(doc):
    prepared = apd.prepare(doc, "other-name", "desc")
    assert prepared["info"]["title"] == "other-name" and prepared["info"]["description"] == "desc"
    assert doc["info"]["title"] == "mfg-prod-t1-api"  # the input is not modified
    with pytest.raises(apd.DefinitionError):
        apd.prepare({"swagger": "2.0", "paths": {"/a": {}}}, "n")
    with pytest.raises(apd.DefinitionError):
        apd.prepare({"openapi": "3.0.1", "paths": {}}, "n")


def test_actual_method_comparison(doc):
    expected = apd.expected_methods(doc)[("/telemetry", "POST")]
    method = {"apiKeyRequired": True, "requestValidatorId": "v1",
              "requestModels": {"application/json": "TelemetryRequest"},
              "methodResponses": {"200": {"statusCode": "200"}},
              "methodIntegration": {"type": "AWS_PROXY", "uri": URI, "httpMethod": "POST",
                                    "passthroughBehavior": "WHEN_NO_MATCH".lower(), "timeoutInMillis": 29000}}
    actual = apd.actual_method(method, {"v1": "body"})
    assert apd.method_differences(expected, actual) == []
    imported_by_emulator = dict(method, apiKeyRequired=False, requestValidatorId=None, requestModels=None)
    assert apd.method_differences(expected, apd.actual_method(imported_by_emulator, {})) == [
        "apiKeyRequired", "requestValidator", "requestModels"]


def test_stage_patch_and_deployment_marker():
    desired = {"tracing_enabled": True, "throttling_rate_limit": 20.0, "throttling_burst_limit": 40,
               "metrics_enabled": True, "access_log_destination_arn": "arn:lg", "access_log_format": "{}",
               "variables": {}}
    current = {"tracingEnabled": True, "methodSettings": {"*/*": {"throttlingRateLimit": 20.0,
               "throttlingBurstLimit": 40, "metricsEnabled": True}},
               "accessLogSettings": {"destinationArn": "arn:lg", "format": "{}"}}
    assert apd.stage_patch(current, desired) == []
    ops = apd.stage_patch({}, desired)
    assert {o["path"] for o in ops} == {"/tracingEnabled", "/*/*/throttling/rateLimit", "/*/*/throttling/burstLimit",
                                        "/*/*/metrics/enabled", "/accessLogSettings/destinationArn",
                                        "/accessLogSettings/format"}
    assert apd.deployed_sha256("definition sha256:abc123") == "abc123"
    assert apd.deployed_sha256("manual deployment") is None
