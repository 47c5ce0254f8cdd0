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


# ---------------------------------------------------------------------------------------------- gateway responses

CORS_4XX_5XX = {"DEFAULT_4XX", "DEFAULT_5XX"}


def error_headers(doc):
    return {t: r["responseParameters"] for t, r in apd.expected_gateway_responses(doc).items()}


def test_gateway_responses_carry_the_single_allowed_origin():
    doc = render(compute_cors_allow_origins=["http://localhost:3000"])
    headers = error_headers(doc)
    assert set(headers) == CORS_4XX_5XX
    for params in headers.values():
        assert params == {"gatewayresponse.header.Access-Control-Allow-Origin": "'http://localhost:3000'",
                          "gatewayresponse.header.Vary": "'Origin'"}


def test_gateway_responses_never_reflect_or_wildcard_with_several_origins(doc):
    # two origins and no choice: no CORS header on API Gateway's own errors (it cannot echo the Origin)
    assert apd.GATEWAY_RESPONSES_KEY not in doc
    chosen = render(compute_cors_error_origin="https://b.example.com")
    assert {p["gatewayresponse.header.Access-Control-Allow-Origin"] for p in error_headers(chosen).values()} == {
        "'https://b.example.com'"}
    # an error origin that is not allowed is never used (preflight refuses it too)
    assert apd.GATEWAY_RESPONSES_KEY not in render(compute_cors_error_origin="https://evil.example.com")
    for rendered in (doc, chosen):
        assert "'*'" not in json.dumps(rendered.get(apd.GATEWAY_RESPONSES_KEY, {}))
        assert "method.request.header.Origin" not in json.dumps(rendered.get(apd.GATEWAY_RESPONSES_KEY, {}))


def test_no_cors_origins_no_gateway_responses():
    assert apd.GATEWAY_RESPONSES_KEY not in render(compute_cors_allow_origins=[])
    assert apd.GATEWAY_RESPONSES_KEY not in render(compute_cors_allow_origins=[], compute_cors_error_origin="https://a.b")


def test_gateway_response_changes():
    doc = render(compute_cors_allow_origins=["http://localhost:3000"])
    want = error_headers(doc)["DEFAULT_4XX"]
    # what the emulator's import leaves: nothing -> both put
    put, delete = apd.gateway_response_changes(doc, [])
    assert set(put) == CORS_4XX_5XX and delete == []
    assert put["DEFAULT_4XX"] == {"statusCode": None, "responseParameters": want, "responseTemplates": None}
    # what API Gateway's import leaves (its default templates; every other type still default) -> nothing to do
    imported = [{"responseType": t, "defaultResponse": False, "responseParameters": dict(want),
                 "responseTemplates": {"application/json": '{"message":$context.error.messageString}'}}
                for t in sorted(CORS_4XX_5XX)]
    imported.append({"responseType": "THROTTLED", "statusCode": "429", "defaultResponse": True,
                     "responseParameters": {}, "responseTemplates": {}})
    assert apd.gateway_response_changes(doc, imported) == ({}, [])
    # a changed or extra header, and a customised type the definition does not define
    drifted = [dict(imported[0], responseParameters=dict(want, **{"gatewayresponse.header.X": "'y'"})),
               dict(imported[1], responseParameters={}),
               {"responseType": "ACCESS_DENIED", "statusCode": "403", "defaultResponse": False,
                "responseParameters": {"gatewayresponse.header.Access-Control-Allow-Origin": "'*'"}}]
    put, delete = apd.gateway_response_changes(doc, drifted)
    assert set(put) == CORS_4XX_5XX and delete == ["ACCESS_DENIED"]
    # status code and templates are compared only when the definition sets them
    explicit = {"openapi": "3.0.1", "paths": {"/a": {}}, apd.GATEWAY_RESPONSES_KEY: {
        "QUOTA_EXCEEDED": {"statusCode": 429, "responseTemplates": {"application/json": "{}"}}}}
    current = [{"responseType": "QUOTA_EXCEEDED", "statusCode": "429", "defaultResponse": False,
                "responseTemplates": {"application/json": "{}"}}]
    assert apd.gateway_response_changes(explicit, current) == ({}, [])
    assert set(apd.gateway_response_changes(explicit, [dict(current[0], statusCode="400")])[0]) == {"QUOTA_EXCEEDED"}
    # without CORS origins, CORS responses left from before are reset
    assert apd.gateway_response_changes(render(compute_cors_allow_origins=[]), imported) == ({}, sorted(CORS_4XX_5XX))
