"""Unit tests of the IAM policy evaluator (plugins/module_utils/msk_iam_policy.py) and of the streaming role's
tenant policy template rendered with it.

The local emulator has no IAM policy simulator (``iam.simulate_custom_policy`` answers 500), so tenant isolation of
the MSK policies is judged by this evaluator; these tests pin it to IAM's documented rules first.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jinja2
import pytest

_COLLECTIONS = Path(__file__).resolve().parents[4] / "collections"
if str(_COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(_COLLECTIONS))

from ansible_collections.manufacturing.platform.plugins.module_utils import msk_iam_policy as iam  # noqa: E402

ROOT = Path(__file__).resolve().parents[4]
CLUSTER = "arn:aws:kafka:us-east-1:123456789012:cluster/mfg-prod-shared/0a1b2c3d-1111-2222-3333-444455556666-2"
BASE = "mfg-prod-shared/0a1b2c3d-1111-2222-3333-444455556666-2"


def render(tenant, cluster_arn=CLUSTER, cluster_name="mfg-prod-shared"):
    template = (ROOT / "roles" / "streaming" / "templates" / "tenant-policy.json.j2").read_text()
    return json.loads(
        jinja2.Template(template).render(cluster_arn=cluster_arn, cluster_name=cluster_name, tenant=tenant)
    )


def topic(tenant_topic, base=BASE):
    return "arn:aws:kafka:us-east-1:123456789012:topic/%s/%s" % (base, tenant_topic)


def group(name, base=BASE):
    return "arn:aws:kafka:us-east-1:123456789012:group/%s/%s" % (base, name)


# ---------------------------------------------------------------------------------------------------- evaluator


def test_wildcards_case_rules_and_explicit_deny():
    doc = {
        "Statement": [
            {"Effect": "Allow", "Action": "kafka-cluster:*Topic*", "Resource": "arn:aws:kafka:*:*:topic/c/u/a.*"},
            {"Effect": "Deny", "Action": "kafka-cluster:DeleteTopic", "Resource": "*"},
        ]
    }
    assert iam.evaluate(doc, "kafka-cluster:describetopic", "arn:aws:kafka:r:1:topic/c/u/a.x") == iam.ALLOW
    assert iam.evaluate(doc, "kafka-cluster:DescribeTopic", "arn:aws:kafka:r:1:topic/c/u/A.x") == iam.IMPLICIT_DENY
    assert iam.evaluate(doc, "kafka-cluster:DeleteTopic", "arn:aws:kafka:r:1:topic/c/u/a.x") == iam.EXPLICIT_DENY
    assert iam.evaluate(doc, "kafka-cluster:ReadData", "arn:aws:kafka:r:1:topic/c/u/a.x") == iam.IMPLICIT_DENY
    assert iam.matches("a?c", "abc") and not iam.matches("a?c", "abbc")


def test_not_action_not_resource_and_unsupported_elements():
    doc = {"Statement": {"Effect": "Allow", "NotAction": "kafka-cluster:Delete*", "NotResource": "arn:x:secret*"}}
    assert iam.evaluate(doc, "kafka-cluster:ReadData", "arn:x:topic") == iam.ALLOW
    assert iam.evaluate(doc, "kafka-cluster:DeleteGroup", "arn:x:topic") == iam.IMPLICIT_DENY
    assert iam.evaluate(doc, "kafka-cluster:ReadData", "arn:x:secret1") == iam.IMPLICIT_DENY
    with pytest.raises(iam.UnsupportedPolicy):
        iam.evaluate({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {}}]}, "a:b", "c")
    with pytest.raises(iam.UnsupportedPolicy):
        iam.evaluate({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "${aws:username}"}]}, "a:b", "c")


# ---------------------------------------------------------------------------------------------------- tenant policy


def test_tenant_policy_allows_its_own_topics_groups_and_the_cluster():
    """The tenant's principals are consumers (the alert processor): connect, read its topics, use its groups."""
    doc = render("customer-456")
    assert set(iam.allowed_actions(doc, CLUSTER)) == {
        "kafka-cluster:Connect", "kafka-cluster:DescribeCluster", "kafka-cluster:DescribeClusterDynamicConfiguration"}
    assert set(iam.allowed_actions(doc, topic("customer-456.telemetry"))) == {
        "kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"}
    assert set(iam.allowed_actions(doc, group("customer-456.dashboards"))) == {
        "kafka-cluster:DescribeGroup", "kafka-cluster:AlterGroup"}


NOT_FOR_A_CONSUMER = ["kafka-cluster:" + a for a in (
    "WriteData", "WriteDataIdempotently", "CreateTopic", "AlterTopic", "DeleteTopic", "AlterTopicDynamicConfiguration",
    "DeleteGroup", "AlterCluster", "AlterClusterDynamicConfiguration", "AlterTransactionalId")]


@pytest.mark.parametrize("action", NOT_FOR_A_CONSUMER)
def test_tenant_policy_grants_no_write_and_no_administration(action):
    """Security review: the alert processor must not write to or administer even its own topics (the deployer does)."""
    doc = render("customer-456")
    for resource in (CLUSTER, topic("customer-456.telemetry"), topic("customer-456.alerts"),
                     group("customer-456.consumers")):
        assert iam.evaluate(doc, action, resource) == iam.IMPLICIT_DENY, (action, resource)


@pytest.mark.parametrize("other", ["customer-789", "customer-4567", "customer-45", "customer"])
def test_tenant_policy_grants_nothing_on_another_tenants_topics_or_groups(other):
    doc = render("customer-456")
    for name in ("%s.telemetry" % other, "%s.alerts" % other, other, "%s-x.y" % other):
        assert iam.allowed_actions(doc, topic(name)) == [], name
        assert iam.allowed_actions(doc, group(name)) == [], name
    # nor on a topic without a tenant prefix, nor on the same prefix of another cluster
    assert iam.allowed_actions(doc, topic("customer-456")) == []
    assert iam.allowed_actions(doc, topic("customer-456.telemetry", base="mfg-prod-customer-123/9999")) == []
    assert iam.allowed_actions(doc, CLUSTER.replace("mfg-prod-shared", "mfg-prod-customer-123")) == []


def test_tenant_policy_from_an_emulator_arn_names_the_cluster():
    moto = "arn:aws:kafka:us-east-1:123456789012:cluster/0edbf860-ad0d-44fb-9c3d-71d228691fa9"
    doc = render("customer-456", moto, "mfg-local-shared")
    resources = [s["Resource"] for s in doc["Statement"]]
    assert resources == [
        "arn:aws:kafka:us-east-1:123456789012:cluster/mfg-local-shared/0edbf860-ad0d-44fb-9c3d-71d228691fa9",
        "arn:aws:kafka:us-east-1:123456789012:topic/mfg-local-shared/0edbf860-ad0d-44fb-9c3d-71d228691fa9/customer-456.*",
        "arn:aws:kafka:us-east-1:123456789012:group/mfg-local-shared/0edbf860-ad0d-44fb-9c3d-71d228691fa9/customer-456.*",
    ]
