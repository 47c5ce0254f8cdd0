"""s3_prefix_purge against the local cloud's S3 (moto): a versioned bucket of its own, no bucket policy (moto applies
the data-lake buckets' Deny statements without their conditions, so their objects cannot be written locally; see
docs/emulator-gaps.md). Deletes every version and delete marker under exactly one tenant prefix, check mode lists
only, a second run changes nothing, a prefix that is not a folder is refused."""

from __future__ import annotations

import uuid

import pytest
from support.playbook import SHARED_HOST_PLAY_HEADER, run_playbook

pytestmark = pytest.mark.integration

PLAYBOOK = """
- name: Purge one prefix
""" + SHARED_HOST_PLAY_HEADER + """  tasks:
    - name: Purge the prefix
      manufacturing.platform.s3_prefix_purge:
        bucket: "{{ bucket }}"
        prefix: "{{ prefix }}"
"""


@pytest.fixture
def bucket(aws):
    s3 = aws("s3")
    name = "purge-test-%s" % uuid.uuid4().hex[:12]
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    keys = ("tenants/a/x.json", "tenants/a/x.json", "tenants/a/deep/y.json", "tenants/ab/z.json", "tenants/b/w.json")
    for key in keys:
        s3.put_object(Bucket=name, Key=key, Body=b"{}")
    s3.delete_object(Bucket=name, Key="tenants/a/deep/y.json")  # a delete marker on top of a version
    yield name
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
        for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
            s3.delete_object(Bucket=name, Key=v["Key"], VersionId=v["VersionId"])
    s3.delete_bucket(Bucket=name)


def versions(aws, name):
    found = []
    for page in aws("s3").get_paginator("list_object_versions").paginate(Bucket=name):
        found += [v["Key"] for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
    return sorted(found)


def purge(tmp_path, name, prefix, *args):
    playbook = tmp_path / "purge.yml"
    playbook.write_text(PLAYBOOK)
    run = run_playbook(playbook, "-e", "env=local", "-e", "bucket=" + name, "-e", "prefix=" + prefix, *args)
    results = [r for _t, _h, r in run.task_results("Purge the prefix")]
    return run, results[0] if results else {}


def test_purges_exactly_one_prefix_with_check_mode_and_idempotence(aws, bucket, tmp_path, request_log):
    before = versions(aws, bucket)
    assert before.count("tenants/a/x.json") == 2 and before.count("tenants/a/deep/y.json") == 2

    mark = request_log.mark()
    run, result = purge(tmp_path, bucket, "tenants/a/", "--check", "--diff")
    assert run.rc == 0, run.explain()
    assert result["changed"] and result["deleted"] == 4
    assert result["object_keys"] == ["tenants/a/deep/y.json", "tenants/a/x.json"]
    assert request_log.mutating_since(mark) == [] and versions(aws, bucket) == before

    run, result = purge(tmp_path, bucket, "tenants/a/")
    assert run.rc == 0, run.explain()
    assert result["changed"] and result["deleted"] == 4
    assert versions(aws, bucket) == ["tenants/ab/z.json", "tenants/b/w.json"]  # tenants/ab/ is not tenants/a/

    mark = request_log.mark()
    run, result = purge(tmp_path, bucket, "tenants/a/")
    assert run.rc == 0 and not result["changed"] and result["deleted"] == 0, run.explain()
    assert request_log.mutating_since(mark) == []


@pytest.mark.parametrize("prefix", ["tenants/a", "/", "//"])
def test_a_prefix_that_is_not_a_folder_is_refused(aws, bucket, tmp_path, prefix):
    before = versions(aws, bucket)
    run, result = purge(tmp_path, bucket, prefix)
    assert run.rc != 0 and "nothing was deleted" in result.get("msg", ""), run.explain()
    assert versions(aws, bucket) == before


def test_missing_bucket_is_no_change(tmp_path):
    run, result = purge(tmp_path, "purge-test-missing-%s" % uuid.uuid4().hex[:8], "tenants/a/")
    assert run.rc == 0 and not result["changed"], run.explain()
