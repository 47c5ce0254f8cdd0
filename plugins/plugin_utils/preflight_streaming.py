# -*- coding: utf-8 -*-
# Copyright: contributors to manufacturing.platform
# Apache License 2.0 (see LICENSE)
"""Fleet-wide preflight checks of the streaming role (pure data; loaded by fleet.role_checks).

* cluster names (``<platform_prefix>-shared``, ``<platform_prefix>-<tenant_id>``) fit MSK's rules;
* cluster sizing: 2 or 3 AZs (MSK client subnets), brokers per AZ, instance type, EBS size;
* a shared-tier tenant that sets cluster sizing different from the shared layer's is told it has no effect;
* the cluster configuration: ``auto.create.topics.enable`` false, ``min.insync.replicas`` below
  ``default.replication.factor``, which must not exceed the broker count;
* each tenant's topics: valid Kafka names, unique, partitions >= 1, retention, cleanup policy, the overrides
  name topics that exist, and the replication factor fits the cluster the tenant uses (not in env=local,
  whose topics go to the one-broker local broker).
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from ansible_collections.manufacturing.platform.plugins.plugin_utils.fleet import PreflightError, collapse

VARS = (
    "platform_prefix",
    "tenant_id",
    "tenancy_tier",
    "network_az_count",
    "streaming_state",
    "streaming_kafka_version",
    "streaming_broker_instance_type",
    "streaming_brokers_per_az",
    "streaming_broker_volume_size",
    "streaming_enhanced_monitoring",
    "streaming_manage_configuration",
    "streaming_server_properties",
    "streaming_topics",
    "streaming_topic_overrides",
    "streaming_topic_replication_factor",
    "streaming_topic_transport",
)
# Cluster sizing a shared-tier tenant cannot change (the shared layer's cluster serves it).
CLUSTER_VARS = (
    "streaming_broker_instance_type",
    "streaming_brokers_per_az",
    "streaming_broker_volume_size",
    "streaming_enhanced_monitoring",
    "streaming_kafka_version",
)
CLUSTER_NAME_RE = re.compile(r"^[A-Za-z0-9-]{1,64}$")
TOPIC_NAME_RE = re.compile(r"^[A-Za-z0-9._-]+$")
TOPIC_SUFFIX_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*$")
CLEANUP_POLICIES = ("delete", "compact", "compact,delete", "delete,compact")
TOPIC_KEYS = frozenset({"name", "partitions", "retention_ms", "cleanup_policy", "replication_factor", "configs"})
MSK_AZ_COUNTS = (2, 3)
MAX_VOLUME_GIB = 16384

_DEFAULTS_FILE = Path(__file__).resolve().parents[2] / "roles" / "streaming" / "defaults" / "main.yml"


def role_defaults():
    try:
        data = yaml.safe_load(_DEFAULTS_FILE.read_text()) or {}
    except OSError:
        data = {}
    return {k: v for k, v in data.items() if not (isinstance(v, str) and "{{" in v)}


def _int(value):
    """An int, or an int-looking string (-e values arrive as strings); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    return None


def _value(hvars, defaults, name):
    value = hvars.get(name)
    return defaults.get(name) if value is None else value


def cluster_name(prefix, tenant_id=None, dedicated=False):
    return "%s-%s" % (prefix, tenant_id if dedicated else "shared")


def check_topics(host, tenant_id, topics, overrides, replication_factor, max_brokers):
    errors = []

    def err(field, problem):
        errors.append(PreflightError(host, field, problem))

    if not isinstance(topics, list) or not topics:
        err("streaming_topics", "must be a non-empty list of {name, partitions, retention_ms, cleanup_policy}")
        return errors
    if not isinstance(overrides, dict):
        err("streaming_topic_overrides", "must be a mapping of topic name -> settings")
        overrides = {}
    seen = set()
    for index, topic in enumerate(topics):
        field = "streaming_topics[%d]" % index
        if not isinstance(topic, dict):
            err(field, "must be a mapping")
            continue
        name = topic.get("name")
        merged = dict(topic, **(overrides.get(name) or {})) if isinstance(overrides.get(name, {}), dict) else topic
        unknown = sorted(set(merged) - TOPIC_KEYS)
        if unknown:
            err(field, "unknown keys: %s (known: %s)" % (", ".join(unknown), ", ".join(sorted(TOPIC_KEYS))))
        if not isinstance(name, str) or not TOPIC_SUFFIX_RE.fullmatch(name):
            err(
                field + ".name", "%r is not a valid topic suffix: lowercase letters, digits, '_', '-' and '.'" % (name,)
            )
            continue
        if name in seen:
            err(field + ".name", "%r is listed twice" % name)
        seen.add(name)
        full = "%s.%s" % (tenant_id, name)
        if len(full) > 249 or not TOPIC_NAME_RE.fullmatch(full):
            err(field + ".name", "topic %r is not a valid Kafka topic name (at most 249 characters)" % full)
        partitions = _int(merged.get("partitions"))
        if partitions is None or partitions < 1:
            err(field + ".partitions", "%r must be a whole number >= 1" % (merged.get("partitions"),))
        if "retention_ms" in merged:
            retention = _int(merged["retention_ms"])
            if retention is None or (retention < 1 and retention != -1):
                err(
                    field + ".retention_ms",
                    "%r must be a positive number of milliseconds, or -1 (forever)" % (merged["retention_ms"],),
                )
        if "cleanup_policy" in merged and merged["cleanup_policy"] not in CLEANUP_POLICIES:
            err(
                field + ".cleanup_policy",
                "%r is not one of: %s" % (merged["cleanup_policy"], ", ".join(CLEANUP_POLICIES)),
            )
        rf = _int(merged.get("replication_factor", replication_factor))
        if rf is None or rf < 1:
            err(
                field + ".replication_factor",
                "%r must be a whole number >= 1" % (merged.get("replication_factor", replication_factor),),
            )
        elif max_brokers is not None and rf > max_brokers:
            err(
                field + ".replication_factor",
                "%d exceeds the %d broker(s) of the cluster topic %s lives on" % (rf, max_brokers, full),
            )
    for name in sorted(set(overrides) - seen):
        err("streaming_topic_overrides", "%r names no topic of streaming_topics (%s)" % (name, ", ".join(sorted(seen))))
    return errors


def check_cluster(host, hvars, defaults):
    """Sizing and configuration of the cluster this host owns. Returns (errors, broker_count or None)."""
    errors = []

    def err(field, problem):
        errors.append(PreflightError(host, field, problem))

    az = _int(_value(hvars, {"network_az_count": 2}, "network_az_count"))
    per_az = _int(_value(hvars, defaults, "streaming_brokers_per_az"))
    brokers = None
    if az is not None and az not in MSK_AZ_COUNTS:
        err("network_az_count", "%d: an MSK cluster needs client subnets in 2 or 3 AZs" % az)
    if per_az is None or per_az < 1:
        err(
            "streaming_brokers_per_az",
            "%r must be a whole number >= 1" % (_value(hvars, defaults, "streaming_brokers_per_az"),),
        )
    elif az is not None:
        brokers = az * per_az
    instance = _value(hvars, defaults, "streaming_broker_instance_type")
    if not isinstance(instance, str) or not re.fullmatch(r"kafka\.[a-z0-9]+\.[a-z0-9]+", instance):
        err("streaming_broker_instance_type", "%r is not an MSK broker type (kafka.<family>.<size>)" % (instance,))
    volume = _int(_value(hvars, defaults, "streaming_broker_volume_size"))
    if volume is None or not 1 <= volume <= MAX_VOLUME_GIB:
        err(
            "streaming_broker_volume_size",
            "%r must be 1-%d GiB" % (_value(hvars, defaults, "streaming_broker_volume_size"), MAX_VOLUME_GIB),
        )
    if _value(hvars, defaults, "streaming_manage_configuration") in (True, "true", "True", "yes"):
        props = _value(hvars, defaults, "streaming_server_properties") or {}
        if not isinstance(props, dict):
            err("streaming_server_properties", "must be a mapping of broker property -> value")
            return errors, brokers
        auto = props.get("auto.create.topics.enable", True)
        if str(auto).lower() != "false":
            err(
                "streaming_server_properties",
                "auto.create.topics.enable must be false (topics are managed by the role)",
            )
        drf = _int(props.get("default.replication.factor"))
        misr = _int(props.get("min.insync.replicas"))
        if drf is not None and brokers is not None and drf > brokers:
            err(
                "streaming_server_properties", "default.replication.factor %d exceeds the %d broker(s)" % (drf, brokers)
            )
        if drf is not None and misr is not None and misr >= drf:
            err(
                "streaming_server_properties",
                "min.insync.replicas %d must be below default.replication.factor %d "
                "(otherwise one broker down stops every producer with acks=all)" % (misr, drf),
            )
    return errors, brokers


def check(env, hosts, tenants, shared, defaults=None):
    defaults = role_defaults() if defaults is None else defaults
    errors = []
    shared_brokers = None
    shared_values = {}
    for host in shared:
        hvars = hosts.get(host, {})
        prefix = hvars.get("platform_prefix")
        if isinstance(prefix, str) and not CLUSTER_NAME_RE.fullmatch(cluster_name(prefix)):
            errors.append(
                PreflightError(
                    host,
                    "platform_prefix",
                    "cluster name %r: MSK allows 1-64 letters, digits and hyphens" % cluster_name(prefix),
                )
            )
        cluster_errors, shared_brokers = check_cluster(host, hvars, defaults)
        errors.extend(cluster_errors)
        shared_values = {name: _value(hvars, defaults, name) for name in CLUSTER_VARS}
    for host in tenants:
        hvars = hosts.get(host, {})
        tenant_id = hvars.get("tenant_id")
        if not isinstance(tenant_id, str):
            continue  # reported by the tenant checks
        dedicated = hvars.get("tenancy_tier") == "dedicated"
        brokers = shared_brokers
        if dedicated:
            prefix = hvars.get("platform_prefix")
            if isinstance(prefix, str) and not CLUSTER_NAME_RE.fullmatch(cluster_name(prefix, tenant_id, True)):
                errors.append(
                    PreflightError(
                        host,
                        "tenant_id",
                        "cluster name %r: MSK allows 1-64 letters, digits "
                        "and hyphens" % cluster_name(prefix, tenant_id, True),
                    )
                )
            cluster_errors, brokers = check_cluster(host, hvars, defaults)
            errors.extend(cluster_errors)
        elif shared_values:
            for name in CLUSTER_VARS:
                value = _value(hvars, defaults, name)
                if value != shared_values[name]:
                    errors.append(
                        PreflightError(
                            host,
                            name,
                            "%r differs from the shared layer's %r: a shared-tier "
                            "tenant uses the shared cluster, set it on a dedicated tenant only"
                            % (value, shared_values[name]),
                        )
                    )
        errors.extend(
            check_topics(
                host,
                tenant_id,
                _value(hvars, defaults, "streaming_topics"),
                _value(hvars, defaults, "streaming_topic_overrides") or {},
                _value(hvars, defaults, "streaming_topic_replication_factor"),
                None if env == "local" else brokers,
            )
        )
    return collapse(errors, list(hosts))
