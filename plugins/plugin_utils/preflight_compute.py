# -*- coding: utf-8 -*-
# Copyright: contributors to manufacturing.platform
# Apache License 2.0 (see LICENSE)
"""Fleet-wide preflight checks of the compute role (pure data; loaded by fleet.role_checks).

Types and choices are checked by the role's argument spec; this adds what a spec cannot express:

* resource names (``<platform_prefix>-<tenant_id>-alert-processor`` for the function and its IAM role,
  ``...-alert-dlq``) fit Lambda's and IAM's 64-character limit;
* the runtime is python3.12 or later (numeric Lambda, event-source and API limits - memory, timeout,
  concurrency, batch size and window, throttling, quota - are in ``preflight_limits.LIMITS``);
* event source: the telemetry topic is one of the tenant's topics;
* API: CORS origins are ``https://host[:port]`` (``http://`` only for localhost), ``compute_cors_error_origin``
  is one of them, the stage name is valid;
* ``compute_source_dir`` is the same on every tenant (the package is built once per run, one per architecture).
"""

from __future__ import annotations

import re

from ansible_collections.manufacturing.platform.plugins.plugin_utils.fleet import PreflightError

VARS = (
    "platform_prefix",
    "tenant_id",
    "compute_state",
    "compute_source_dir",
    "compute_runtime",
    "compute_architecture",
    "compute_memory_mb",
    "compute_timeout_seconds",
    "compute_reserved_concurrency",
    "compute_batch_size",
    "compute_batching_window_seconds",
    "compute_telemetry_topic",
    "compute_api_stage",
    "compute_api_throttling_rate_limit",
    "compute_api_throttling_burst_limit",
    "compute_api_quota_limit",
    "compute_cors_allow_origins",
    "compute_cors_error_origin",
    "compute_dlq_retention_seconds",
    "compute_db_auth",
    "databases_proxy_enabled",
    "streaming_topics",
)
NAME_LIMIT = 64
RUNTIME_RE = re.compile(r"^python3\.(\d+)$")
MIN_PYTHON_MINOR = 12
ORIGIN_RE = re.compile(r"^https://[A-Za-z0-9.-]+(?::\d{1,5})?$")
LOCAL_ORIGIN_RE = re.compile(r"^http://(localhost|127\.0\.0\.1)(?::\d{1,5})?$")
STAGE_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def check_host(host, hvars):
    errors = []

    def err(field, problem):
        errors.append(PreflightError(host, field, problem))

    prefix, tenant = hvars.get("platform_prefix"), hvars.get("tenant_id")
    if isinstance(prefix, str) and isinstance(tenant, str):
        for suffix in ("alert-processor", "alert-dlq", "secret-rotation"):
            name = "%s-%s-%s" % (prefix, tenant, suffix)
            if len(name) > NAME_LIMIT:
                err("tenant_id", "resource name %r is %d characters; Lambda, IAM and SQS allow %d"
                    % (name, len(name), NAME_LIMIT))
                break
    runtime = hvars.get("compute_runtime")
    if runtime is not None:
        match = RUNTIME_RE.fullmatch(str(runtime))
        if not match or int(match.group(1)) < MIN_PYTHON_MINOR:
            err("compute_runtime", "%r: the alert processor needs a python3.12 or later runtime" % runtime)
    auth = hvars.get("compute_db_auth")
    if auth is not None and auth not in ("iam", "password"):
        err("compute_db_auth", "%r: iam (through the RDS Proxy) or password" % (auth,))
    elif auth == "iam" and str(hvars.get("databases_proxy_enabled", True)).lower() in ("false", "no", "0", "off"):
        err("compute_db_auth", "iam authenticates through the instance's RDS Proxy, but databases_proxy_enabled is "
            "false: enable the proxy or set compute_db_auth: password")
    stage = hvars.get("compute_api_stage")
    if stage is not None and not STAGE_RE.fullmatch(str(stage)):
        err("compute_api_stage", "%r: letters, digits, '_' and '-' (1-128)" % (stage,))
    origins = hvars.get("compute_cors_allow_origins")
    if origins is not None:
        if not isinstance(origins, list):
            err("compute_cors_allow_origins", "must be a list of origins")
        else:
            for origin in origins:
                if not isinstance(origin, str) or not (ORIGIN_RE.fullmatch(origin)
                                                       or LOCAL_ORIGIN_RE.fullmatch(origin)):
                    err("compute_cors_allow_origins", "%r is not an origin: https://host[:port] (http:// only for "
                        "localhost), no path, no '*'" % (origin,))
    error_origin = hvars.get("compute_cors_error_origin")
    if error_origin and isinstance(origins, list) and origins and error_origin not in origins:
        err("compute_cors_error_origin", "%r is not one of compute_cors_allow_origins (%s): API Gateway's error "
            "responses would name an origin the API does not allow" % (error_origin, ", ".join(map(str, origins))))
    topic = hvars.get("compute_telemetry_topic")
    topics = hvars.get("streaming_topics")
    if isinstance(topic, str) and isinstance(topics, list):
        names = [t.get("name") for t in topics if isinstance(t, dict)]
        if topic not in names:
            err("compute_telemetry_topic", "%r is not one of the tenant's streaming_topics (%s)"
                % (topic, ", ".join(str(n) for n in names)))
    return errors


def check(env, hosts, tenants, shared):
    errors = []
    for host in tenants:
        errors.extend(check_host(host, hosts.get(host, {})))
    sources = {str(hosts.get(h, {}).get("compute_source_dir")) for h in tenants
               if hosts.get(h, {}).get("compute_source_dir") is not None}
    if len(sources) > 1:
        errors.append(PreflightError("all tenants", "compute_source_dir",
                                     "must be the same on every tenant (one package per run): %s"
                                     % ", ".join(sorted(sources))))
    return errors
