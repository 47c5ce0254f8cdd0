"""Unit tests of the streaming role's preflight checks (plugins/plugin_utils/preflight_streaming.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

_COLLECTIONS = Path(__file__).resolve().parents[4] / "collections"
if str(_COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(_COLLECTIONS))

from ansible_collections.manufacturing.platform.plugins.plugin_utils import preflight_streaming as ps  # noqa: E402

ROOT = Path(__file__).resolve().parents[4]


def fleet(env, shared=None, **tenants):
    base = yaml.safe_load((ROOT / "group_vars" / "all" / "streaming.yml").read_text())
    env_vars = yaml.safe_load((ROOT / "group_vars" / ("env_%s.yml" % env)).read_text())
    base.update({k: v for k, v in env_vars.items() if not (isinstance(v, str) and "{{" in v)})
    base["platform_prefix"] = "mfg-%s" % env
    hosts = {
        "platform-shared": dict(base, **(shared or {})),
        "c1": dict(base, tenant_id="customer-123", tenancy_tier="dedicated"),
        "c2": dict(base, tenant_id="customer-456", tenancy_tier="shared"),
    }
    for host, over in tenants.items():
        hosts[host].update(over)
    return hosts


def problems(env, hosts):
    return [str(e) for e in ps.check(env, hosts, ["c1", "c2"], ["platform-shared"])]


@pytest.mark.parametrize("env", ["local", "dev", "prod"])
def test_reference_group_vars_pass(env):
    assert problems(env, fleet(env)) == []


def test_shared_tier_tenant_cannot_size_the_shared_cluster_but_a_dedicated_one_can():
    out = problems(
        "prod",
        fleet(
            "prod",
            c1={"streaming_broker_instance_type": "kafka.m7g.xlarge"},
            c2={"streaming_broker_instance_type": "kafka.m7g.xlarge"},
        ),
    )
    assert out == [
        "c2: streaming_broker_instance_type: 'kafka.m7g.xlarge' differs from the shared layer's "
        "'kafka.m7g.large': a shared-tier tenant uses the shared cluster, set it on a dedicated tenant only"
    ]


def test_topic_errors_name_host_and_field():
    out = problems(
        "prod",
        fleet(
            "prod",
            c2={
                "streaming_topics": [
                    {"name": "Telemetry", "partitions": 0},
                    {"name": "alerts", "partitions": 3, "cleanup_policy": "purge", "retention_ms": 0},
                ],
                "streaming_topic_overrides": {"events": {"partitions": 2}},
            },
        ),
    )
    assert (
        "c2: streaming_topics[0].name: 'Telemetry' is not a valid topic suffix: "
        "lowercase letters, digits, '_', '-' and '.'"
        in out
    )
    assert any(p.startswith("c2: streaming_topics[1].cleanup_policy: 'purge'") for p in out)
    assert any(p.startswith("c2: streaming_topics[1].retention_ms: 0") for p in out)
    assert any(p.startswith("c2: streaming_topic_overrides: 'events' names no topic") for p in out)


def test_replication_factor_must_fit_the_cluster_except_on_the_local_broker():
    hosts = fleet("dev", c2={"streaming_topic_replication_factor": 3})
    assert problems("dev", hosts) == [
        "c2: streaming_topics[%d].replication_factor: 3 exceeds the 2 broker(s) of the cluster "
        "topic customer-456.%s lives on"
        % (i, name)
        for i, name in enumerate(["telemetry", "alerts", "events"])
    ]


def test_cluster_configuration_and_az_rules():
    out = problems(
        "prod",
        fleet(
            "prod",
            shared={
                "network_az_count": 4,
                "streaming_server_properties": {
                    "auto.create.topics.enable": True,
                    "default.replication.factor": 3,
                    "min.insync.replicas": 3,
                },
            },
        ),
    )
    assert "platform-shared: network_az_count: 4: an MSK cluster needs client subnets in 2 or 3 AZs" in out
    assert any("auto.create.topics.enable must be false" in p for p in out)
    assert any("min.insync.replicas 3 must be below default.replication.factor 3" in p for p in out)
