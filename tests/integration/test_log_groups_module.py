"""manufacturing.platform.cloudwatch_log_groups against the local cloud (issue 15): several log groups converged in
one call with one DescribeLogGroups request per name-prefix cluster, idempotence, drift repair (retention, tags,
KMS key), check mode without mutating requests, deletion and early validation. Independent of the fleet converge."""

from __future__ import annotations

import json

import pytest
from support.playbook import SHARED_HOST_PLAY_HEADER, run_playbook

PREFIX = "/lgtest/"
KEY_A = "arn:aws:kms:us-east-1:123456789012:key/11111111-1111-1111-1111-111111111111"
KEY_B = "arn:aws:kms:us-east-1:123456789012:key/22222222-2222-2222-2222-222222222222"
GROUPS = [PREFIX + "a/alert-processor", PREFIX + "a/secret-rotation", PREFIX + "api/access-logs"]


def play(tmp_path, groups, state="present", check=False):
    items = [{"name": g, "retention": 7, "kms_key_id": KEY_A, "tags": {"Environment": "local", "Component": "t"}}
             for g in groups]
    path = tmp_path / "play.yml"
    path.write_text("- name: log groups\n" + SHARED_HOST_PLAY_HEADER + "  tasks:\n"
                    "    - name: Log groups\n"
                    "      manufacturing.platform.cloudwatch_log_groups:\n"
                    "        state: %s\n"
                    "        log_groups: %s\n"
                    "      register: out\n" % (state, json.dumps(items)))
    args = ["-e", "env=local", "--diff"] + (["--check"] if check else [])
    run = run_playbook(path, *args)
    assert run.rc == 0, run.explain()
    [(_t, _h, result)] = list(run.task_results("Log groups"))
    return result


def requests(request_log, mark, action=None):
    return [e for e in request_log.since(mark) if e.get("service") == "logs" and (action is None or
                                                                                  e.get("action") == action)]


def read(aws, name):
    logs = aws("logs")
    [group] = [g for g in logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"] if g["logGroupName"] == name]
    tags = logs.list_tags_for_resource(resourceArn=group["logGroupArn"])["tags"]
    return group, tags


@pytest.fixture
def clean(aws):
    logs = aws("logs")
    for g in logs.describe_log_groups(logGroupNamePrefix=PREFIX)["logGroups"]:
        logs.delete_log_group(logGroupName=g["logGroupName"])
    yield
    for g in logs.describe_log_groups(logGroupNamePrefix=PREFIX)["logGroups"]:
        logs.delete_log_group(logGroupName=g["logGroupName"])


def test_create_idempotent_drift_check_mode_absent(clean, tmp_path, aws, request_log):
    # check mode on nothing: changed, no mutating request, ARNs computed
    mark = request_log.mark()
    preview = play(tmp_path, GROUPS, check=True)
    assert preview["changed"] and request_log.mutating_since(mark) == []
    assert preview["log_groups"][GROUPS[0]]["arn"] == "arn:aws:logs:us-east-1:123456789012:log-group:" + GROUPS[0]
    assert "create " + GROUPS[0] in preview["actions"]

    mark = request_log.mark()
    created = play(tmp_path, GROUPS)
    assert created["changed"]
    # one DescribeLogGroups for the three groups (common prefix /lgtest/)
    assert len(requests(request_log, mark, "DescribeLogGroups")) == 1
    for name in GROUPS:
        group, tags = read(aws, name)
        assert group["retentionInDays"] == 7 and group["kmsKeyId"] == KEY_A
        assert tags == {"Environment": "local", "Component": "t"}
        assert created["log_groups"][name]["arn"] == group["logGroupArn"]

    mark = request_log.mark()
    again = play(tmp_path, GROUPS)
    assert not again["changed"] and again["actions"] == []
    assert request_log.mutating_since(mark) == []
    assert len(requests(request_log, mark, "DescribeLogGroups")) == 1

    # drift by hand
    logs = aws("logs")
    logs.put_retention_policy(logGroupName=GROUPS[0], retentionInDays=30)
    logs.associate_kms_key(logGroupName=GROUPS[1], kmsKeyId=KEY_B)
    logs.tag_resource(resourceArn=created["log_groups"][GROUPS[2]]["arn"], tags={"Extra": "x", "Component": "y"})

    mark = request_log.mark()
    preview = play(tmp_path, GROUPS, check=True)
    assert preview["changed"] and request_log.mutating_since(mark) == []
    assert preview["diff"]["before"][GROUPS[0]]["retention"] == 30
    assert preview["diff"]["after"][GROUPS[0]]["retention"] == 7
    assert preview["diff"]["before"][GROUPS[1]]["kms_key_id"] == KEY_B
    assert preview["diff"]["after"][GROUPS[2]]["tags"] == {"Environment": "local", "Component": "t"}
    assert read(aws, GROUPS[0])[0]["retentionInDays"] == 30

    mark = request_log.mark()
    fixed = play(tmp_path, GROUPS)
    assert fixed["changed"]
    assert sorted(e["action"] for e in request_log.mutating_since(mark)) == [
        "AssociateKmsKey", "PutRetentionPolicy", "TagResource", "UntagResource"]
    for name in GROUPS:
        group, tags = read(aws, name)
        assert group["retentionInDays"] == 7 and group["kmsKeyId"] == KEY_A
        assert tags == {"Environment": "local", "Component": "t"}

    mark = request_log.mark()
    removed = play(tmp_path, GROUPS[:2], state="absent")
    assert removed["changed"]
    assert sorted(e["action"] for e in request_log.mutating_since(mark)) == ["DeleteLogGroup", "DeleteLogGroup"]
    left = [g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix=PREFIX)["logGroups"]]
    assert left == [GROUPS[2]]
    assert not play(tmp_path, GROUPS[:2], state="absent")["changed"]


def test_bad_retention_fails_before_any_request(clean, tmp_path, request_log):
    path = tmp_path / "bad.yml"
    path.write_text("- name: bad\n" + SHARED_HOST_PLAY_HEADER + "  tasks:\n"
                    "    - name: Log groups\n"
                    "      manufacturing.platform.cloudwatch_log_groups:\n"
                    "        log_groups: [{name: '%s', retention: 8}, {name: '%s', retention: 7}]\n"
                    % (GROUPS[0], GROUPS[1]))
    mark = request_log.mark()
    run = run_playbook(path, "-e", "env=local")
    assert run.rc != 0
    assert any("retention 8 is not a value CloudWatch Logs accepts" in m for m in run.failure_messages()), \
        run.explain()
    assert requests(request_log, mark) == []


def test_info_reads_each_prefix_once_without_tags(clean, tmp_path, aws, request_log):
    """cloudwatch_log_groups_info (the monitoring role's compliance read): one DescribeLogGroups per prefix not
    covered by another, no tag reads; retention and KMS key reported as the stock info module does."""
    play(tmp_path, GROUPS)
    aws("logs").delete_retention_policy(logGroupName=GROUPS[1])
    path = tmp_path / "info.yml"
    path.write_text("- name: info\n" + SHARED_HOST_PLAY_HEADER + "  tasks:\n"
                    "    - name: Info\n"
                    "      manufacturing.platform.cloudwatch_log_groups_info:\n"
                    "        prefixes: ['%s', '%sa/', '/lgtest-none/']\n" % (PREFIX, PREFIX))
    mark = request_log.mark()
    run = run_playbook(path, "-e", "env=local", "--check")
    assert run.rc == 0, run.explain()
    [(_t, _h, result)] = list(run.task_results("Info"))
    assert not result["changed"] and result["prefixes_read"] == ["/lgtest-none/", PREFIX]
    calls = [e["action"] for e in request_log.since(mark) if e.get("service") == "logs"]
    assert calls == ["DescribeLogGroups", "DescribeLogGroups"], calls
    by_name = {g["log_group_name"]: g for g in result["log_groups"]}
    assert sorted(by_name) == sorted(GROUPS)
    assert by_name[GROUPS[0]]["retention_in_days"] == 7 and by_name[GROUPS[0]]["kms_key_id"] == KEY_A
    assert "retention_in_days" not in by_name[GROUPS[1]]
    assert by_name[GROUPS[2]]["arn"] == "arn:aws:logs:us-east-1:123456789012:log-group:" + GROUPS[2]
