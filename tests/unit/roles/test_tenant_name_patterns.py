"""Security review finding: a dedicated tenant's KMS key policy and log-group patterns must not admit a tenant whose
id extends this one with a hyphen (``role/mfg-prod-customer-1-*`` matched ``customer-1-eu``'s roles).

The storage role's defaults are rendered for tenant ``customer-1`` and matched with IAM's ``ArnLike`` wildcard rules
(the project's evaluator) against the real names of the resources of ``customer-1`` (admitted) and of
``customer-1-eu`` / ``customer-1-alert`` (not admitted). The monitoring role's log-group prefixes are checked the same
way (DescribeLogGroups prefix semantics).
"""

from __future__ import annotations

import sys
from pathlib import Path

import jinja2
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT / "collections") not in sys.path:
    sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.manufacturing.platform.plugins.module_utils import msk_iam_policy as iam  # noqa: E402

PREFIX = "mfg-prod"
TENANT = "customer-1"


def rendered(path, name, **values):
    defaults = yaml.safe_load((ROOT / path).read_text())
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701 (names, not HTML)
    return [env.from_string(p).render(platform_prefix=PREFIX, tenant_id=TENANT, **values) for p in defaults[name]]


def names_of(tenant):
    """The principals and log groups a tenant's resources really have (compute, databases, network, streaming)."""
    return {
        "roles": ["role/%s-%s-alert-processor" % (PREFIX, tenant)],
        "log_groups": ["/aws/lambda/%s-%s-alert-processor" % (PREFIX, tenant),
                       "/aws/rds/instance/%s-%s-postgres/postgresql" % (PREFIX, tenant),
                       "/%s/%s/api/access-logs" % (PREFIX, tenant),
                       "/%s/%s/msk/broker-logs" % (PREFIX, tenant),
                       "/%s/%s/network/flow-logs" % (PREFIX, tenant)],
    }


def admitted(patterns, name):
    return any(iam.matches(p, name) for p in patterns)


def test_a_dedicated_tenants_key_admits_its_own_principals_and_log_groups():
    own = names_of(TENANT)
    principals = rendered("roles/storage/defaults/main.yml", "storage_kms_tenant_principal_patterns")
    log_groups = rendered("roles/storage/defaults/main.yml", "storage_kms_tenant_log_groups")
    assert all(admitted(principals, r) for r in own["roles"])
    assert all(admitted(log_groups, g) for g in own["log_groups"]), log_groups


@pytest.mark.parametrize("other", ["customer-1-eu", "customer-1-alert", "customer-10", "customer-1-postgres"])
def test_a_dedicated_tenants_key_admits_no_tenant_whose_id_extends_it(other):
    theirs = names_of(other)
    principals = rendered("roles/storage/defaults/main.yml", "storage_kms_tenant_principal_patterns")
    log_groups = rendered("roles/storage/defaults/main.yml", "storage_kms_tenant_log_groups")
    assert [r for r in theirs["roles"] if admitted(principals, r)] == []
    assert [g for g in theirs["log_groups"] if admitted(log_groups, g)] == []


def test_the_check_would_see_the_old_pattern():
    """The rule is not vacuous: the former pattern role/<prefix>-<tenant>-* admits customer-1-eu."""
    assert admitted(["role/%s-%s-*" % (PREFIX, TENANT)], names_of("customer-1-eu")["roles"][0])


@pytest.mark.parametrize("other", ["customer-1-eu", "customer-10"])
def test_monitoring_reads_only_its_own_log_groups(other):
    text = (ROOT / "roles/monitoring/vars/main.yml").read_text()
    expr = yaml.safe_load(text)["_monitoring_log_group_prefixes"]
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701 (names, not HTML)
    prefixes = yaml.safe_load(env.from_string(expr).render(
        platform_prefix=PREFIX, tenant_id=TENANT, _monitoring_is_shared_host=False, _monitoring_owner=TENANT,
        platform_name="mfg", env="prod", _monitoring_owns_data=True,
        _monitoring_rds_instance_id="%s-%s-postgres" % (PREFIX, TENANT), monitoring_log_group_prefixes_extra=[]))
    assert any(g.startswith(p) for p in prefixes for g in names_of(TENANT)["log_groups"])
    assert [g for g in names_of(other)["log_groups"] if any(g.startswith(p) for p in prefixes)] == []
