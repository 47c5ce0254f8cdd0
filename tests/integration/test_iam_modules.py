"""iam_managed_policies against the local cloud's IAM (moto), without the fleet converge: create, a second run
changes nothing and reads by ARN (no ListPolicies), drift of the document and tags is put back, check mode sends
no mutating request, absent detaches and deletes."""

from __future__ import annotations

import json
import uuid

import pytest
from support.playbook import SHARED_HOST_PLAY_HEADER, run_playbook

pytestmark = pytest.mark.integration

POLICY_PLAY = """
- name: Managed policies
""" + SHARED_HOST_PLAY_HEADER + """  tasks:
    - name: Converge the policies
      manufacturing.platform.iam_managed_policies:
        state: "{{ wanted_state | default('present') }}"
        policies: "{{ policies }}"
      register: _result
"""


def doc(action):
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]}


def converge(tmp_path, policies, *args, state="present"):
    playbook = tmp_path / "policies.yml"
    playbook.write_text(POLICY_PLAY)
    extra = tmp_path / "vars.json"
    extra.write_text(json.dumps({"policies": policies, "wanted_state": state}))
    run = run_playbook(playbook, "-e", "env=local", "-e", "@" + str(extra), *args)
    assert run.rc == 0, run.explain()
    results = [r for _t, _h, r in run.task_results("Converge the policies")]
    return results[0]


def iam_requests(request_log, mark):
    return [e for e in request_log.since(mark) if e.get("service") == "iam"]


def test_managed_policies_lifecycle(aws, tmp_path, request_log):
    iam = aws("iam")
    suffix = uuid.uuid4().hex[:8]
    names = ["iamtest-%s-a" % suffix, "iamtest-%s-b" % suffix]
    policies = [
        {"name": names[0], "description": "first", "policy": doc("s3:GetObject"), "tags": {"Env": "t", "Tenant": "a"}},
        {"name": names[1], "path": "/platform/", "policy": json.dumps(doc("sqs:SendMessage")), "tags": {"Env": "t"}},
    ]
    account = aws("sts").get_caller_identity()["Account"]
    arns = ["arn:aws:iam::%s:policy/%s" % (account, names[0]),
            "arn:aws:iam::%s:policy/platform/%s" % (account, names[1])]

    mark = request_log.mark()
    result = converge(tmp_path, policies, "--check", "--diff")
    assert result["changed"] and [a for a in result["actions"] if a.startswith("create policy")] == [
        "create policy " + n for n in names]
    assert [result["policies"][n]["arn"] for n in names] == arns
    assert [e for e in request_log.mutating_since(mark) if e.get("service") == "iam"] == []

    result = converge(tmp_path, policies)
    assert result["changed"] and [result["policies"][n]["arn"] for n in names] == arns
    got = iam.get_policy(PolicyArn=arns[1])["Policy"]
    assert got["Path"] == "/platform/"
    assert iam.get_policy_version(PolicyArn=arns[0], VersionId="v1")["PolicyVersion"]["Document"] == doc("s3:GetObject")

    mark = request_log.mark()
    result = converge(tmp_path, policies)
    assert not result["changed"] and result["actions"] == []
    requests = iam_requests(request_log, mark)
    assert not [e for e in requests if e.get("mutating")]
    assert "ListPolicies" not in {e.get("action") for e in requests}

    # drift: a new default version, a changed and an extra tag
    iam.create_policy_version(PolicyArn=arns[0], PolicyDocument=json.dumps(doc("s3:*")), SetAsDefault=True)
    iam.tag_policy(PolicyArn=arns[1], Tags=[{"Key": "Env", "Value": "changed"}, {"Key": "Extra", "Value": "x"}])
    mark = request_log.mark()
    result = converge(tmp_path, policies, "--check")
    assert result["changed"] and not request_log.mutating_since(mark)
    result = converge(tmp_path, policies)
    assert result["changed"]
    default = iam.get_policy(PolicyArn=arns[0])["Policy"]["DefaultVersionId"]
    version = iam.get_policy_version(PolicyArn=arns[0], VersionId=default)["PolicyVersion"]
    assert version["Document"] == doc("s3:GetObject")
    assert {t["Key"]: t["Value"] for t in iam.list_policy_tags(PolicyArn=arns[1])["Tags"]} == {"Env": "t"}

    # 5 versions: the oldest non-default goes before a new one is created
    for action in ("s3:A", "s3:B"):
        iam.create_policy_version(PolicyArn=arns[0], PolicyDocument=json.dumps(doc(action)), SetAsDefault=True)
    assert len(iam.list_policy_versions(PolicyArn=arns[0])["Versions"]) == 5
    result = converge(tmp_path, policies)
    assert result["changed"] and any(a.startswith("delete version") for a in result["actions"])
    assert len(iam.list_policy_versions(PolicyArn=arns[0])["Versions"]) == 5

    # absent: attached to a role, detached first; check mode touches nothing
    role = "iamtest-%s-role" % suffix
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    iam.attach_role_policy(RoleName=role, PolicyArn=arns[0])
    mark = request_log.mark()
    result = converge(tmp_path, policies, "--check", state="absent")
    assert result["changed"] and "detach policy %s from role %s" % (names[0], role) in result["actions"]
    assert not request_log.mutating_since(mark)
    result = converge(tmp_path, policies, state="absent")
    assert result["changed"]
    for arn in arns:
        with pytest.raises(iam.exceptions.NoSuchEntityException):
            iam.get_policy(PolicyArn=arn)
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
    result = converge(tmp_path, policies, state="absent")
    assert not result["changed"]
    iam.delete_role(RoleName=role)
