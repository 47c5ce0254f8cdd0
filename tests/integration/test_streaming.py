"""Streaming role (issue 6): MSK clusters per tier, each tenant's topics, tenant-scoped Kafka IAM policies.

State is read back after the session's converge of the reference fleet (`converged`: site.yml -e env=local, twice):
clusters with boto3 ``describe_cluster_v2`` from the emulator, topics with a confluent-kafka AdminClient from the
local broker (full listing + describe_configs: the broker auto-creates topics on metadata requests naming them).
Check mode runs the role's molecule converge (storage + network + streaming) so it measures these roles' requests.

Tenant isolation: moto has no IAM policy simulator (``simulate_custom_policy`` answers 500), so the policies the
role created are read back from the emulator and judged by plugins/module_utils/msk_iam_policy.py, an evaluator of
IAM's Allow/Deny/wildcard rules that is unit-tested on its own (tests/unit/.../test_msk_cluster_iam_policy.py).
"""

from __future__ import annotations

import copy
import json

import pytest
import yaml
from support.playbook import ROOT, load_fleet, run_playbook, write_inventory

from ansible_collections.manufacturing.platform.plugins.module_utils import msk_cluster as mc
from ansible_collections.manufacturing.platform.plugins.module_utils import msk_iam_policy as iam

confluent_kafka = pytest.importorskip("confluent_kafka")
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ACCOUNT = "123456789012"
PREFIX = "mfg-local"
STREAMING_PLAYBOOK = ROOT / "roles" / "streaming" / "molecule" / "default" / "converge.yml"


def fleet_tenants():
    return load_fleet()["all"]["children"]["tenants"]["hosts"]


def group_vars():
    base = yaml.safe_load((ROOT / "group_vars" / "all" / "streaming.yml").read_text())
    local = yaml.safe_load((ROOT / "group_vars" / "env_local.yml").read_text())
    base.update({k: v for k, v in local.items() if k.startswith(("streaming_", "network_az_count"))})
    return base


def expected_topics(tenant_id, tvars):
    gv = group_vars()
    topics = tvars.get("streaming_topics", gv["streaming_topics"])
    overrides = tvars.get("streaming_topic_overrides", {})
    out = {}
    for topic in topics:
        merged = dict(topic, **overrides.get(topic["name"], {}))
        out["%s.%s" % (tenant_id, merged["name"])] = merged
    return out


def cluster_name(tvars):
    return "%s-%s" % (PREFIX, tvars["tenant_id"] if tvars["tenancy_tier"] == "dedicated" else "shared")


def streaming_changes(run):
    return [(t, h) for t, h in run.changed_tasks() if t.startswith("manufacturing.platform.streaming")]


@pytest.fixture(scope="module")
def clusters(converged, aws):
    kafka = aws("kafka")
    found = {}
    for page in kafka.get_paginator("list_clusters_v2").paginate():
        for c in page["ClusterInfoList"]:
            found[c["ClusterName"]] = kafka.describe_cluster_v2(ClusterArn=c["ClusterArn"])["ClusterInfo"]
    return found


@pytest.fixture(scope="module")
def admin(converged, endpoints):
    return AdminClient({"bootstrap.servers": endpoints["kafka"]["bootstrap_servers"]})


@pytest.fixture(scope="module")
def policies(converged, aws):
    client = aws("iam")
    docs = {}
    for tenant in fleet_tenants():
        arn = "arn:aws:iam::%s:policy/%s-%s-streaming" % (ACCOUNT, PREFIX, tenant)
        policy = client.get_policy(PolicyArn=arn)["Policy"]
        version = client.get_policy_version(PolicyArn=arn, VersionId=policy["DefaultVersionId"])["PolicyVersion"]
        document = version["Document"]
        docs[tenant] = json.loads(document) if isinstance(document, str) else document
    return docs


# ---------------------------------------------------------------------------------------------------- clusters


def test_one_shared_cluster_and_one_per_dedicated_tenant(clusters):
    dedicated = {"%s-%s" % (PREFIX, t) for t, v in fleet_tenants().items() if v["tenancy_tier"] == "dedicated"}
    ours = {n for n in clusters if n.startswith(PREFIX + "-")}
    assert ours == {"%s-shared" % PREFIX} | dedicated


def test_clusters_encryption_auth_logs_and_size_read_back(clusters, aws):
    kms = aws("kms")
    logs = aws("logs")
    ec2 = aws("ec2")
    gv = group_vars()
    aliases = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}
    for name, info in clusters.items():
        if not name.startswith(PREFIX + "-"):
            continue
        scope = name[len(PREFIX) + 1 :]
        prov = info["Provisioned"]
        enc = prov["EncryptionInfo"]
        assert enc["EncryptionInTransit"] == {"ClientBroker": "TLS", "InCluster": True}, name
        key_alias = "alias/%s" % (PREFIX if scope == "shared" else "%s-%s" % (PREFIX, scope))
        key_arn = kms.describe_key(KeyId=aliases[key_alias])["KeyMetadata"]["Arn"]
        assert enc["EncryptionAtRest"]["DataVolumeKMSKeyId"] == key_arn, name
        auth = prov["ClientAuthentication"]
        assert auth["Sasl"]["Iam"]["Enabled"] is True and auth["Sasl"]["Scram"]["Enabled"] is False, name
        assert auth["Unauthenticated"]["Enabled"] is False and auth["Tls"]["Enabled"] is False, name
        group = "/%s/%s/msk/broker-logs" % (PREFIX, scope)
        assert prov["LoggingInfo"]["BrokerLogs"]["CloudWatchLogs"] == {"Enabled": True, "LogGroup": group}
        log_group = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]
        assert log_group["kmsKeyId"] == key_arn and log_group["retentionInDays"] == 7
        assert prov["NumberOfBrokerNodes"] == gv["network_az_count"] * gv["streaming_brokers_per_az"]
        assert prov["BrokerNodeGroupInfo"]["InstanceType"] == gv["streaming_broker_instance_type"]
        assert (
            prov["BrokerNodeGroupInfo"]["StorageInfo"]["EbsStorageInfo"]["VolumeSize"]
            == gv["streaming_broker_volume_size"]
        )
        # isolated subnets of the data VPC, msk security group
        subnets = ec2.describe_subnets(SubnetIds=prov["BrokerNodeGroupInfo"]["ClientSubnets"])["Subnets"]
        assert len({s["AvailabilityZone"] for s in subnets}) == gv["network_az_count"]
        assert all(
            t["Value"].endswith("isolated") or "isolated" in t["Value"]
            for s in subnets
            for t in s.get("Tags", [])
            if t["Key"] == "NetworkRole"
        ), subnets
        sgs = ec2.describe_security_groups(GroupIds=prov["BrokerNodeGroupInfo"]["SecurityGroups"])["SecurityGroups"]
        assert len(sgs) == 1 and "msk" in json.dumps(sgs[0].get("Tags", [])).lower(), sgs
        assert info["Tags"]["Component"] == "streaming" and info["Tags"]["Environment"] == "local"
        # the emulator never makes it ACTIVE: the converge did not wait (streaming_wait: false in env_local.yml)
        assert info["State"] == "CREATING"


# ---------------------------------------------------------------------------------------------------- topics


def test_each_tenants_topics_on_the_local_broker_with_partitions_and_retention(admin):
    listed = admin.list_topics(timeout=10).topics
    expected = {}
    for tenant, tvars in fleet_tenants().items():
        expected.update(expected_topics(tenant, tvars))
    missing = sorted(set(expected) - set(listed))
    assert not missing, missing
    resources = [ConfigResource(ResourceType.TOPIC, name) for name in expected]
    configs = {r.name: f.result(timeout=10) for r, f in admin.describe_configs(resources).items()}
    for name, spec in expected.items():
        assert len(listed[name].partitions) == spec["partitions"], name
        assert int(configs[name]["retention.ms"].value) == spec["retention_ms"], name
        assert configs[name]["cleanup.policy"].value == spec["cleanup_policy"], name
        assert {len(p.replicas) for p in listed[name].partitions.values()} == {1}, name


def test_second_converge_changes_nothing(converged):
    _first, second = converged
    # whole-site idempotence is test_site.py's; this role's tasks must not change anything on the second run
    assert streaming_changes(second) == [], streaming_changes(second)
    assert second.stats and all(s.get("failures", 0) == 0 for s in second.stats.values())


def test_topics_in_one_msk_topic_call_per_tenant(converged):
    first, _second = converged
    calls = [
        (h, r)
        for t, h, r in first.task_results()
        if t == "manufacturing.platform.streaming : Topics of the tenant (one call for all of them)"
    ]
    assert sorted(h for h, _r in calls) == sorted(fleet_tenants())
    for _host, result in calls:
        assert len(result["topics"]) == 3


def test_facts_published_for_later_roles(converged):
    first, _second = converged
    facts = {
        h: r["ansible_facts"]
        for t, h, r in first.task_results()
        if t == "manufacturing.platform.streaming : Publish the streaming facts (structure in README.md)"
    }
    assert set(facts) == set(fleet_tenants()) | {"platform-shared"}
    for host, tvars in fleet_tenants().items():
        f = facts[host]
        assert f["streaming_cluster_name"] == cluster_name(tvars)
        assert f["streaming_cluster_arn"].startswith("arn:aws:kafka:us-east-1:%s:cluster/" % ACCOUNT)
        assert f["streaming_bootstrap_servers"].startswith("127.0.0.1:")
        assert f["streaming_topics"] == list(expected_topics(host, tvars))
        assert f["streaming_tenant_policy_arn"] == "arn:aws:iam::%s:policy/%s-%s-streaming" % (ACCOUNT, PREFIX, host)
    assert (
        facts["platform-shared"]["streaming_topics"] == []
        and facts["platform-shared"]["streaming_tenant_policy_arn"] == ""
    )
    outputs = json.loads((ROOT / "outputs" / "local.json").read_text())
    assert outputs["hosts"]["customer-456"]["streaming_cluster_arn"] == facts["customer-456"]["streaming_cluster_arn"]


def test_check_mode_makes_no_mutating_request_and_no_topic_change(site_check_diff):
    run = site_check_diff.run
    assert run.rc == 0, run.explain()
    assert site_check_diff.mutating == []
    assert streaming_changes(run) == []
    assert site_check_diff.databases_after["kafka"] == site_check_diff.databases_before["kafka"]
    assert any(e["service"] == "kafka" for e in site_check_diff.requests)


# ---------------------------------------------------------------------------------------------------- isolation

CONSUMER_CLUSTER_ACTIONS = {"kafka-cluster:Connect", "kafka-cluster:DescribeCluster",
                            "kafka-cluster:DescribeClusterDynamicConfiguration"}
CONSUMER_TOPIC_ACTIONS = {"kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"}
CONSUMER_GROUP_ACTIONS = {"kafka-cluster:DescribeGroup", "kafka-cluster:AlterGroup"}


def test_tenant_policies_grant_nothing_on_other_tenants_topics_or_groups(policies, clusters):
    tenants = fleet_tenants()
    resources = {name: mc.iam_resource_arns(info["ClusterArn"], name) for name, info in clusters.items()}
    for tenant, tvars in tenants.items():
        own = resources[cluster_name(tvars)]
        doc = policies[tenant]
        # its own topics, groups and cluster
        assert iam.evaluate(doc, "kafka-cluster:Connect", own["cluster"]) == iam.ALLOW
        # a consumer: reads its own topics and uses its own groups; no write, no topic administration
        for name in expected_topics(tenant, tvars):
            assert set(iam.allowed_actions(doc, "%s/%s" % (own["topic"], name))) == CONSUMER_TOPIC_ACTIONS
        assert set(iam.allowed_actions(doc, "%s/%s.consumers" % (own["group"], tenant))) == CONSUMER_GROUP_ACTIONS
        assert set(iam.allowed_actions(doc, own["cluster"])) == CONSUMER_CLUSTER_ACTIONS
        # nothing on any other tenant's topics or groups, on any cluster
        for other, ovars in tenants.items():
            if other == tenant:
                continue
            for res in resources.values():
                for name in list(expected_topics(other, ovars)) + [other, other + ".anything"]:
                    assert iam.allowed_actions(doc, "%s/%s" % (res["topic"], name)) == [], (tenant, name)
                    assert iam.allowed_actions(doc, "%s/%s" % (res["group"], name)) == [], (tenant, name)
            # and cannot even connect to another tenant's dedicated cluster
            if ovars["tenancy_tier"] == "dedicated":
                assert iam.allowed_actions(doc, resources[cluster_name(ovars)]["cluster"]) == [], (tenant, other)


# ------------------------------------------------------------------------------------- per-tenant override, --limit


def topic_state(admin, names):
    listed = admin.list_topics(timeout=10).topics
    resources = [ConfigResource(ResourceType.TOPIC, name) for name in names]
    configs = {r.name: f.result(timeout=10) for r, f in admin.describe_configs(resources).items()}
    return {n: (len(listed[n].partitions), int(configs[n]["retention.ms"].value)) for n in names}


def test_topic_override_of_one_tenant_with_limit_changes_only_that_topic(converged, admin, tmp_path):
    """streaming_topic_overrides on one tenant, converged with --limit <tenant>: exactly that topic's retention
    changes, no other tenant's topic and no task of another host; the reference setting is then restored the
    same way (retention only: partitions can only grow, and the reference fleet must stay as it is)."""
    tenant = "customer-789"
    every = {}
    for host, tvars in fleet_tenants().items():
        every.update(expected_topics(host, tvars))
    before = topic_state(admin, sorted(every))
    fleet = copy.deepcopy(load_fleet())
    tvars = fleet["all"]["children"]["tenants"]["hosts"][tenant]
    tvars["streaming_topic_overrides"] = {"alerts": {"retention_ms": 5 * 86400000}}
    changed_inventory = write_inventory(tmp_path / "override", fleet)
    reference_inventory = write_inventory(tmp_path / "reference", load_fleet())
    target = "%s.alerts" % tenant
    try:
        run = run_playbook(STREAMING_PLAYBOOK, "-i", str(changed_inventory), "-e", "env=local", "--limit", tenant)
        assert run.rc == 0, run.explain()
        assert {h for _t, h in run.changed_tasks()} == {tenant}, run.changed_tasks()
        after = topic_state(admin, sorted(every))
        assert after[target] == (before[target][0], 5 * 86400000)
        assert {n: v for n, v in after.items() if n != target} == {n: v for n, v in before.items() if n != target}
    finally:
        restore = run_playbook(STREAMING_PLAYBOOK, "-i", str(reference_inventory), "-e", "env=local", "--limit", tenant)
    assert restore.rc == 0, restore.explain()
    assert topic_state(admin, sorted(every)) == before
