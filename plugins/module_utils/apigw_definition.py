# -*- coding: utf-8 -*-
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""OpenAPI 3 definitions of API Gateway REST APIs: canonical form, hash, and what each method must look like.

* ``definition_sha256``: the hash of the canonical JSON (keys sorted, no whitespace), so the same definition
  written in another key order or format hashes the same. It decides whether the definition is re-applied
  (``PutRestApi`` mode=overwrite) and a deployment created.
* ``expected_methods``: per (path, HTTP method) the settings API Gateway should hold after the import
  (API key, request validator, request models, method responses, integration). The module compares them with
  ``GetMethod`` after an import and re-creates a method that does not match — API Gateway imports all of it;
  the emulator imports only paths, methods and integrations (docs/emulator-gaps.md).
* ``gateway_response_changes``: the same for API Gateway's own responses (``x-amazon-apigateway-gateway-responses``,
  e.g. CORS headers on DEFAULT_4XX/5XX), which the emulator does not import at all.
"""

from __future__ import annotations

import copy
import hashlib
import json

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "x-amazon-apigateway-any-method")
VALIDATORS_KEY = "x-amazon-apigateway-request-validators"
VALIDATOR_KEY = "x-amazon-apigateway-request-validator"
INTEGRATION_KEY = "x-amazon-apigateway-integration"
GATEWAY_RESPONSES_KEY = "x-amazon-apigateway-gateway-responses"


class DefinitionError(ValueError):
    """The definition is not an OpenAPI 3 document this module can apply."""


def canonical_json(document):
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def definition_sha256(document):
    return hashlib.sha256(canonical_json(document).encode("ascii")).hexdigest()


def prepare(definition, name, description=None):
    """A copy of the definition with ``info.title`` = the API name (PutRestApi renames the API after it)."""
    if not isinstance(definition, dict) or not str(definition.get("openapi", "")).startswith("3"):
        raise DefinitionError("the definition must be an OpenAPI 3 document (openapi: 3.0.x)")
    if not isinstance(definition.get("paths"), dict) or not definition["paths"]:
        raise DefinitionError("the definition has no paths")
    doc = copy.deepcopy(definition)
    info = doc.setdefault("info", {})
    info["title"] = name
    info.setdefault("version", "1")
    if description is not None:
        info["description"] = description
    return doc


def _security_has_api_key(security, schemes):
    for requirement in security or []:
        for scheme in requirement or {}:
            if (schemes.get(scheme) or {}).get("type") == "apiKey":
                return True
    return False


def _model_name(ref):
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None


def expected_methods(doc):
    """``{(path, METHOD): settings}`` the definition asks for (see the module docstring)."""
    components = doc.get("components") or {}
    schemes = components.get("securitySchemes") or {}
    default_security = doc.get("security")
    default_validator = doc.get(VALIDATOR_KEY)
    out = {}
    for path, item in sorted((doc.get("paths") or {}).items()):
        for method, op in sorted(item.items()):
            if method.lower() not in HTTP_METHODS or not isinstance(op, dict):
                continue
            security = op.get("security", default_security)
            models = {}
            for content_type, media in sorted(((op.get("requestBody") or {}).get("content") or {}).items()):
                name = _model_name((media.get("schema") or {}).get("$ref"))
                if name:
                    models[content_type] = name
            responses = {}
            for code, response in sorted((op.get("responses") or {}).items()):
                headers = (response or {}).get("headers") or {}
                responses[str(code)] = {"method.response.header.%s" % h: False for h in sorted(headers)}
            integration = op.get(INTEGRATION_KEY) or {}
            int_responses = {}
            for pattern, response in sorted((integration.get("responses") or {}).items()):
                int_responses[str(response.get("statusCode"))] = {
                    "selectionPattern": "" if pattern == "default" else pattern,
                    "responseParameters": dict(sorted((response.get("responseParameters") or {}).items())),
                    "responseTemplates": dict(sorted((response.get("responseTemplates") or {}).items())),
                }
            out[(path, method.upper())] = {
                "apiKeyRequired": _security_has_api_key(security, schemes),
                "requestValidator": op.get(VALIDATOR_KEY, default_validator) or None,
                "requestModels": models,
                "methodResponses": responses,
                "integration": {
                    "type": str(integration.get("type", "")).upper(),
                    "uri": integration.get("uri"),
                    "httpMethod": integration.get("httpMethod"),
                    "passthroughBehavior": integration.get("passthroughBehavior"),
                    "requestTemplates": dict(sorted((integration.get("requestTemplates") or {}).items())),
                    "timeoutInMillis": integration.get("timeoutInMillis"),
                    "responses": int_responses,
                },
            }
    return out


def actual_method(method, validator_names):
    """The same settings read from a GetMethod answer (``validator_names``: validator id -> name)."""
    integration = method.get("methodIntegration") or {}
    expected_int_responses = {}
    for code, response in sorted((integration.get("integrationResponses") or {}).items()):
        expected_int_responses[str(code)] = {
            "selectionPattern": response.get("selectionPattern") or "",
            "responseParameters": dict(sorted((response.get("responseParameters") or {}).items())),
            "responseTemplates": dict(sorted((response.get("responseTemplates") or {}).items())),
        }
    return {
        "apiKeyRequired": bool(method.get("apiKeyRequired")),
        "requestValidator": (validator_names.get(method["requestValidatorId"])
                             if method.get("requestValidatorId") else None),
        "requestModels": dict(sorted((method.get("requestModels") or {}).items())),
        "methodResponses": {str(code): dict(sorted((r.get("responseParameters") or {}).items()))
                            for code, r in sorted((method.get("methodResponses") or {}).items())},
        "integration": {
            "type": str(integration.get("type", "")).upper(),
            "uri": integration.get("uri"),
            "httpMethod": integration.get("httpMethod"),
            "passthroughBehavior": integration.get("passthroughBehavior"),
            "requestTemplates": dict(sorted((integration.get("requestTemplates") or {}).items())),
            "timeoutInMillis": integration.get("timeoutInMillis"),
            "responses": expected_int_responses,
        },
    }


def method_differences(expected, actual):
    """Top-level settings that differ. Integration fields left out of the definition are not compared."""
    differ = []
    for key in ("apiKeyRequired", "requestValidator", "requestModels", "methodResponses"):
        if expected[key] != actual[key]:
            differ.append(key)
    want, have = expected["integration"], actual["integration"]
    for key, value in want.items():
        if key in ("passthroughBehavior", "timeoutInMillis") and value is None:
            continue
        if key == "requestTemplates" and not value:
            continue
        if value != have.get(key):
            differ.append("integration." + key)
    return differ


def models(doc):
    """``{name: JSON schema}`` of components.schemas (request models)."""
    return dict(sorted(((doc.get("components") or {}).get("schemas") or {}).items()))


def validators(doc):
    """``{name: {validateRequestBody, validateRequestParameters}}``."""
    out = {}
    for name, spec in sorted((doc.get(VALIDATORS_KEY) or {}).items()):
        out[name] = {"validateRequestBody": bool(spec.get("validateRequestBody")),
                     "validateRequestParameters": bool(spec.get("validateRequestParameters"))}
    return out


def expected_gateway_responses(doc):
    """``{responseType: {statusCode, responseParameters, responseTemplates}}`` the definition asks for
    (``statusCode``/``responseTemplates`` None when the definition leaves them to API Gateway)."""
    out = {}
    for response_type, spec in sorted((doc.get(GATEWAY_RESPONSES_KEY) or {}).items()):
        spec = spec or {}
        templates = spec.get("responseTemplates")
        out[str(response_type)] = {
            "statusCode": str(spec["statusCode"]) if spec.get("statusCode") is not None else None,
            "responseParameters": {str(k): str(v) for k, v in sorted((spec.get("responseParameters") or {}).items())},
            "responseTemplates": ({str(k): str(v) for k, v in sorted(templates.items())}
                                  if isinstance(templates, dict) else None),
        }
    return out


def gateway_response_changes(doc, current):
    """What takes the API's gateway responses (``current``: the GetGatewayResponses items) to the definition's:
    ``(put, delete)`` with ``put`` = ``{responseType: expected}`` of those missing or different and ``delete`` =
    the customised (``defaultResponse`` false) types the definition does not define. Response parameters are
    compared exactly, status code and templates only when the definition sets them."""
    have = {item.get("responseType"): item for item in current or []}
    wanted = expected_gateway_responses(doc)
    put = {}
    for response_type, want in wanted.items():
        item = have.get(response_type)
        if item is None:
            put[response_type] = want
            continue
        params = {str(k): str(v) for k, v in (item.get("responseParameters") or {}).items()}
        status_differs = want["statusCode"] is not None and str(item.get("statusCode") or "") != want["statusCode"]
        templates_differ = (want["responseTemplates"] is not None
                            and (item.get("responseTemplates") or {}) != want["responseTemplates"])
        if params != want["responseParameters"] or status_differs or templates_differ:
            put[response_type] = want
    delete = sorted(t for t, item in have.items()
                    if t and t not in wanted and item.get("defaultResponse") is False)
    return put, delete


def stage_patch(current, desired):
    """PatchOperations that take a GetStage answer to the desired stage settings (None = not managed)."""
    ops = []
    if desired.get("tracing_enabled") is not None and bool(current.get("tracingEnabled")) != desired["tracing_enabled"]:
        ops.append({"op": "replace", "path": "/tracingEnabled", "value": str(desired["tracing_enabled"]).lower()})
    settings = (current.get("methodSettings") or {}).get("*/*") or {}
    if desired.get("throttling_rate_limit") is not None and \
            float(settings.get("throttlingRateLimit", -1)) != float(desired["throttling_rate_limit"]):
        ops.append({"op": "replace", "path": "/*/*/throttling/rateLimit",
                    "value": str(desired["throttling_rate_limit"])})
    if desired.get("throttling_burst_limit") is not None and \
            int(settings.get("throttlingBurstLimit", -1)) != int(desired["throttling_burst_limit"]):
        ops.append({"op": "replace", "path": "/*/*/throttling/burstLimit",
                    "value": str(desired["throttling_burst_limit"])})
    metrics = desired.get("metrics_enabled")
    if metrics is not None and bool(settings.get("metricsEnabled")) != metrics:
        ops.append({"op": "replace", "path": "/*/*/metrics/enabled", "value": str(desired["metrics_enabled"]).lower()})
    if desired.get("logging_level") and (settings.get("loggingLevel") or "OFF") != desired["logging_level"]:
        ops.append({"op": "replace", "path": "/*/*/logging/loglevel", "value": desired["logging_level"]})
    access = current.get("accessLogSettings") or {}
    destination = desired.get("access_log_destination_arn")
    if destination and access.get("destinationArn") != destination:
        ops.append({"op": "replace", "path": "/accessLogSettings/destinationArn",
                    "value": desired["access_log_destination_arn"]})
    if desired.get("access_log_format") and access.get("format") != desired["access_log_format"]:
        ops.append({"op": "replace", "path": "/accessLogSettings/format", "value": desired["access_log_format"]})
    for key, value in sorted((desired.get("variables") or {}).items()):
        if (current.get("variables") or {}).get(key) != str(value):
            ops.append({"op": "replace", "path": "/variables/%s" % key, "value": str(value)})
    return ops


def deployed_sha256(description):
    """The definition hash recorded in a deployment description (``definition sha256:<hex>``), or None."""
    marker = "sha256:"
    if description and marker in description:
        return description.split(marker, 1)[1].split()[0]
    return None
