"""Unit tests of lifecycle normalisation, comparison, merging and validation (module_utils/storage_lifecycle.py)."""

import pytest

from ansible_collections.manufacturing.platform.plugins.module_utils import storage_lifecycle as lc

PARAMS = {
    "id": "tenant-a", "enabled": True, "prefix": "tenants/a/", "tags": None,
    "transitions": [{"days": 90, "storage_class": "GLACIER"}, {"days": 30, "storage_class": "STANDARD_IA"}],
    "expiration_days": None, "expired_object_delete_marker": False, "noncurrent_version_expiration_days": 30,
    "newer_noncurrent_versions": None, "noncurrent_version_transitions": None,
    "abort_incomplete_multipart_upload_days": 7,
}


def params(**changes):
    return dict(PARAMS, **changes)


def test_rule_from_params_is_canonical_and_sorted():
    rule = lc.rule_from_params(PARAMS)
    assert rule == {
        "ID": "tenant-a", "Status": "Enabled", "Filter": {"Prefix": "tenants/a/"},
        "Transitions": [{"Days": 30, "StorageClass": "STANDARD_IA"}, {"Days": 90, "StorageClass": "GLACIER"}],
        "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
    }


@pytest.mark.parametrize("returned", [
    # S3 today: Filter.Prefix, fields in another order, transitions in another order
    {"Status": "Enabled", "ID": "tenant-a", "Filter": {"Prefix": "tenants/a/"},
     "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
     "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
     "Transitions": [{"StorageClass": "GLACIER", "Days": 90}, {"StorageClass": "STANDARD_IA", "Days": 30}]},
    # legacy top-level Prefix, ExpiredObjectDeleteMarker false default, string numbers
    {"ID": "tenant-a", "Prefix": "tenants/a/", "Status": "Enabled",
     "Expiration": {"ExpiredObjectDeleteMarker": False},
     "NoncurrentVersionExpiration": {"NoncurrentDays": "30"},
     "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
     "Transitions": [{"Days": 30, "StorageClass": "STANDARD_IA"}, {"Days": 90, "StorageClass": "GLACIER"}]},
    # And-filter with only a prefix
    {"ID": "tenant-a", "Filter": {"And": {"Prefix": "tenants/a/", "Tags": []}}, "Status": "Enabled",
     "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
     "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
     "Transitions": [{"Days": 30, "StorageClass": "STANDARD_IA"}, {"Days": 90, "StorageClass": "GLACIER"}]},
])
def test_what_s3_returns_compares_equal(returned):
    assert lc.normalize_rule(returned) == lc.rule_from_params(PARAMS)


@pytest.mark.parametrize("flt", [None, {}, {"Prefix": ""}, {"And": {}}])
def test_whole_bucket_filter_forms_are_equal(flt):
    rule = {"ID": "x", "Status": "Enabled", "Expiration": {"Days": 3}}
    if flt is not None:
        rule["Filter"] = flt
    assert lc.normalize_rule(rule)["Filter"] == {"Prefix": ""}


def test_tags_filter_forms():
    one = lc.normalize_rule({"ID": "x", "Filter": {"And": {"Tags": [{"Key": "k", "Value": "v"}]}}})
    assert one["Filter"] == {"Tag": {"Key": "k", "Value": "v"}}
    two = lc.rule_from_params(params(prefix="p/", tags={"b": "2", "a": 1}))
    assert two["Filter"] == {"And": {"Prefix": "p/", "Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]}}
    assert lc.normalize_rule(two) == two


def test_merge_without_purge_keeps_other_rules_in_place():
    current = [{"ID": "tenant-b", "Status": "Enabled"}, {"ID": "tenant-a", "Status": "Disabled"},
               {"ID": "tenant-c", "Status": "Enabled"}]
    merged = lc.merge_rules(current, [{"ID": "tenant-a", "Status": "Enabled"}, {"ID": "tenant-d", "Status": "Enabled"}],
                            purge=False)
    assert [r["ID"] for r in merged] == ["tenant-b", "tenant-a", "tenant-c", "tenant-d"]
    assert merged[1]["Status"] == "Enabled"


def test_merge_with_purge_is_exactly_desired():
    current = [{"ID": "tenant-b"}, {"ID": "tenant-a"}]
    assert lc.merge_rules(current, [{"ID": "tenant-a", "Status": "Enabled"}], purge=True) == [
        {"ID": "tenant-a", "Status": "Enabled"}]


def test_diff_names_only_the_changed_rule():
    a = lc.rule_from_params(PARAMS)
    b = lc.rule_from_params(params(id="tenant-b", prefix="tenants/b/"))
    a2 = lc.rule_from_params(params(transitions=[{"days": 45, "storage_class": "STANDARD_IA"}]))
    changed, before, after = lc.diff_rules([a, b], [a2, b])
    assert changed == ["tenant-a"]
    assert list(before) == list(after) == ["tenant-a"]
    assert after["tenant-a"]["Transitions"] == [{"Days": 45, "StorageClass": "STANDARD_IA"}]


def test_diff_ignores_rule_order():
    a = lc.rule_from_params(PARAMS)
    b = lc.rule_from_params(params(id="tenant-b"))
    assert lc.diff_rules([a, b], [b, a])[0] == []


def test_remove_rules():
    assert lc.remove_rules([{"ID": "a"}, {"ID": "b"}], ["a"]) == [{"ID": "b"}]


GOOD = [{"days": 30, "storage_class": "STANDARD_IA"}, {"days": 90, "storage_class": "GLACIER"},
        {"days": 180, "storage_class": "DEEP_ARCHIVE"}]


def test_good_transitions():
    assert lc.validate_transitions(GOOD) == []
    assert lc.validate_transitions([{"days": 0, "storage_class": "GLACIER"}]) == []
    assert lc.validate_transitions([{"days": 60, "storage_class": "STANDARD_IA"},
                                    {"days": 120, "storage_class": "GLACIER"},
                                    {"days": 365, "storage_class": "DEEP_ARCHIVE"}]) == []


@pytest.mark.parametrize("transitions, field, words", [
    ([{"days": 30, "storage_class": "STANDARD_IA"}, {"days": 30, "storage_class": "GLACIER"}],
     "transitions[1].days", "strictly increasing"),
    ([{"days": 30, "storage_class": "STANDARD_IA"}, {"days": 20, "storage_class": "GLACIER"}],
     "transitions[1].days", "strictly increasing"),
    ([{"days": 30, "storage_class": "GLACIER"}, {"days": 60, "storage_class": "STANDARD_IA"}],
     "transitions[1].storage_class", "cannot follow"),
    ([{"days": 30, "storage_class": "STANDARD_IA"}, {"days": 45, "storage_class": "GLACIER"}],
     "transitions[1].days", "at least 30"),
    ([{"days": 90, "storage_class": "GLACIER"}, {"days": 120, "storage_class": "DEEP_ARCHIVE"}],
     "transitions[1].days", "at least 90"),
    ([{"days": 10, "storage_class": "STANDARD_IA"}], "transitions[0].days", "at least 30 days"),
    ([{"days": -1, "storage_class": "GLACIER"}], "transitions[0].days", "negative"),
    ([{"days": "soon", "storage_class": "GLACIER"}], "transitions[0].days", "whole number"),
    ([{"days": 30, "storage_class": "GLACIER_FLEXIBLE"}], "transitions[0].storage_class", "not a storage class"),
    ([{"days": 30, "storage_class": "STANDARD"}], "transitions[0].storage_class", "not a storage class"),
    ([{"days": 30, "storage_class": "STANDARD_IA", "dayz": 3}], "transitions[0]", "unknown keys"),
    ("GLACIER", "transitions", "must be a list"),
])
def test_bad_transitions(transitions, field, words):
    problems = lc.validate_transitions(transitions)
    assert any(f == field and words in m for f, m in problems), problems
