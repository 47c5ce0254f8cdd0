"""Unit tests of the storage preflight checks (plugins/plugin_utils/preflight_storage.py)."""

import pytest

from ansible_collections.manufacturing.platform.plugins.plugin_utils import preflight_storage as ps

TRANSITIONS = [{"days": 30, "storage_class": "STANDARD_IA"}, {"days": 90, "storage_class": "GLACIER"},
               {"days": 180, "storage_class": "DEEP_ARCHIVE"}]
COMMON = {"platform_prefix": "mfg-prod", "platform_aws_account_id": "", "storage_bucket_suffix": "",
          "storage_lifecycle_transitions": TRANSITIONS, "storage_noncurrent_version_expiration_days": 90,
          "storage_abort_incomplete_multipart_days": 7, "storage_access_log_expiration_days": 365}


def fleet(**overrides):
    hosts = {
        "platform-shared": dict(COMMON),
        "t-shared": dict(COMMON, tenant_id="customer-456", tenancy_tier="shared"),
        "t-dedicated": dict(COMMON, tenant_id="customer-123", tenancy_tier="dedicated"),
    }
    for host, values in overrides.items():
        hosts[host].update(values)
    return hosts


def run(hosts):
    return [str(e) for e in ps.check("prod", hosts, ["t-shared", "t-dedicated"], ["platform-shared"])]


def test_reference_values_pass():
    assert run(fleet()) == []


@pytest.mark.parametrize("value, field", [
    ([{"days": 90, "storage_class": "STANDARD_IA"}, {"days": 60, "storage_class": "GLACIER"}],
     "storage_lifecycle_transitions[1].days"),
    ([{"days": 30, "storage_class": "COLD"}], "storage_lifecycle_transitions[0].storage_class"),
    ([{"days": -5, "storage_class": "GLACIER"}], "storage_lifecycle_transitions[0].days"),
])
def test_bad_override_names_host_and_field(value, field):
    problems = run(fleet(**{"t-shared": {"storage_lifecycle_transitions": value}}))
    assert len(problems) == 1 and problems[0].startswith("t-shared: %s: " % field), problems


def test_same_problem_everywhere_is_reported_once_for_group_vars():
    bad = [{"days": 10, "storage_class": "STANDARD_IA"}]
    problems = run(fleet(**{h: {"storage_lifecycle_transitions": bad}
                            for h in ("platform-shared", "t-shared", "t-dedicated")}))
    assert problems == ["all hosts (group_vars): storage_lifecycle_transitions[0].days: 10 is too early: S3 "
                        "requires at least 30 days before a transition to STANDARD_IA"]


@pytest.mark.parametrize("days", [0, -1, "7"])
def test_bad_day_counts(days):
    problems = run(fleet(**{"t-dedicated": {"storage_abort_incomplete_multipart_days": days}}))
    assert len(problems) == 1 and problems[0].startswith("t-dedicated: storage_abort_incomplete_multipart_days: ")


def test_bucket_suffix_charset_and_length():
    problems = run(fleet(**{"platform-shared": {"storage_bucket_suffix": "Acme_Corp"}}))
    assert problems and problems[0].startswith("platform-shared: storage_bucket_suffix: ")
    long = "x" * 40
    problems = run(fleet(**{"t-dedicated": {"storage_bucket_suffix": long}}))
    assert len(problems) == 1 and "dedicated bucket" in problems[0] and "S3 allows 3-63" in problems[0]


def test_long_tenant_id_makes_dedicated_name_too_long():
    problems = run(fleet(**{"t-dedicated": {"tenant_id": "c" * 32, "storage_bucket_suffix": "acme-platform-data"}}))
    assert any("t-dedicated: storage_bucket_suffix: dedicated bucket" in p for p in problems), problems


def test_bucket_names():
    assert ps.bucket_names("mfg-prod", "123456789012") == {
        "shared bucket": "mfg-prod-data-123456789012", "access-log bucket": "mfg-prod-s3-access-logs-123456789012"}
    assert ps.bucket_name_problem("mfg-prod-data-123456789012") is None
    assert ps.bucket_name_problem("xn--bad") is not None
