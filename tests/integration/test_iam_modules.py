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


# ---------------------------------------------------------------------------------------------------- iam_roles
ROLES_PLAY = """
- name: Roles
""" + SHARED_HOST_PLAY_HEADER + """  tasks:
    - name: Converge the roles
      manufacturing.platform.iam_roles:
        state: "{{ wanted_state | default('present') }}"
        roles: "{{ roles }}"
        tags: {Environment: test}
      register: _result
"""


def trust(service):
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]}


def converge_roles(tmp_path, roles, *args, state="present", expect_rc=0):
    playbook = tmp_path / "roles.yml"
    playbook.write_text(ROLES_PLAY)
    extra = tmp_path / "roles-vars.json"
    extra.write_text(json.dumps({"roles": roles, "wanted_state": state}))
    run = run_playbook(playbook, "-e", "env=local", "-e", "@" + str(extra), *args)
    assert run.rc == expect_rc, run.explain()
    return [r for _t, _h, r in run.task_results("Converge the roles")][0]


def test_roles_lifecycle(aws, tmp_path, request_log):
    """Create (check mode first), a no-op run of GetRole + one list per managed set and inline set + GetRolePolicy,
    drift of every part put back (and previewed without a mutating request), absent detaches and deletes."""
    iam = aws("iam")
    suffix = uuid.uuid4().hex[:8]
    account = aws("sts").get_caller_identity()["Account"]
    managed = iam.create_policy(PolicyName="iamtest-%s-managed" % suffix,
                                PolicyDocument=json.dumps(doc("s3:GetObject")))["Policy"]["Arn"]
    names = ["iamtest-%s-fn" % suffix, "iamtest-%s-svc" % suffix]
    roles = [
        {"name": names[0], "description": "the function", "assume_role_policy": trust("lambda.amazonaws.com"),
         "managed_policies": [managed], "inline_policies": {"own": doc("sqs:SendMessage")},
         "tags": {"Environment": "test", "Tenant": "a"}},
        {"name": names[1], "path": "/service/", "assume_role_policy": json.dumps(trust("rds.amazonaws.com")),
         "max_session_duration": 7200},
    ]
    arns = ["arn:aws:iam::%s:role/%s" % (account, names[0]), "arn:aws:iam::%s:role/service/%s" % (account, names[1])]

    mark = request_log.mark()
    result = converge_roles(tmp_path, roles, "--check", "--diff")
    assert result["changed"] and [result["roles"][n]["arn"] for n in names] == arns
    assert "put inline policy own of role %s" % names[0] in result["actions"]
    assert [e for e in request_log.mutating_since(mark) if e.get("service") == "iam"] == []
    for name in names:
        with pytest.raises(iam.exceptions.NoSuchEntityException):
            iam.get_role(RoleName=name)

    result = converge_roles(tmp_path, roles)
    assert result["changed"] and [result["roles"][n]["arn"] for n in names] == arns
    fn = iam.get_role(RoleName=names[0])["Role"]
    assert fn["Description"] == "the function" and fn["AssumeRolePolicyDocument"] == trust("lambda.amazonaws.com")
    assert {t["Key"]: t["Value"] for t in fn["Tags"]} == {"Environment": "test", "Tenant": "a"}
    assert [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=names[0])["AttachedPolicies"]] == [managed]
    assert iam.get_role_policy(RoleName=names[0], PolicyName="own")["PolicyDocument"] == doc("sqs:SendMessage")
    svc = iam.get_role(RoleName=names[1])["Role"]
    assert svc["MaxSessionDuration"] == 7200 and svc["Path"] == "/service/"
    assert {t["Key"]: t["Value"] for t in svc["Tags"]} == {"Environment": "test"}  # the module-level default

    mark = request_log.mark()
    result = converge_roles(tmp_path, roles, "--diff")
    assert not result["changed"] and result["actions"] == []
    actions = sorted(e["action"] for e in iam_requests(request_log, mark))
    assert actions == sorted(["GetRole", "GetRole", "ListAttachedRolePolicies", "ListRolePolicies", "GetRolePolicy"])

    # drift of every part, made by hand
    iam.update_assume_role_policy(RoleName=names[0], PolicyDocument=json.dumps(trust("ec2.amazonaws.com")))
    iam.update_role(RoleName=names[0], Description="changed")
    iam.detach_role_policy(RoleName=names[0], PolicyArn=managed)
    iam.attach_role_policy(RoleName=names[0], PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    iam.put_role_policy(RoleName=names[0], PolicyName="own", PolicyDocument=json.dumps(doc("sqs:*")))
    iam.put_role_policy(RoleName=names[0], PolicyName="by-hand", PolicyDocument=json.dumps(doc("*")))
    iam.tag_role(RoleName=names[0], Tags=[{"Key": "Tenant", "Value": "b"}, {"Key": "Extra", "Value": "x"}])
    iam.update_role(RoleName=names[1], MaxSessionDuration=3600)
    mark = request_log.mark()
    preview = converge_roles(tmp_path, roles, "--check", "--diff")
    assert preview["changed"] and not request_log.mutating_since(mark)
    result = converge_roles(tmp_path, roles)
    assert sorted(result["actions"]) == sorted(preview["actions"])
    assert "delete inline policy by-hand of role %s" % names[0] in result["actions"]
    assert "detach policy arn:aws:iam::aws:policy/AdministratorAccess from role %s" % names[0] in result["actions"]
    fn = iam.get_role(RoleName=names[0])["Role"]
    assert fn["Description"] == "the function" and fn["AssumeRolePolicyDocument"] == trust("lambda.amazonaws.com")
    assert {t["Key"]: t["Value"] for t in fn["Tags"]} == {"Environment": "test", "Tenant": "a"}
    assert [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=names[0])["AttachedPolicies"]] == [managed]
    assert iam.list_role_policies(RoleName=names[0])["PolicyNames"] == ["own"]
    assert iam.get_role_policy(RoleName=names[0], PolicyName="own")["PolicyDocument"] == doc("sqs:SendMessage")
    assert iam.get_role(RoleName=names[1])["Role"]["MaxSessionDuration"] == 7200
    assert not converge_roles(tmp_path, roles)["changed"]

    # absent: attachments, inline policies and instance profiles go first; check mode touches nothing
    iam.create_instance_profile(InstanceProfileName="iamtest-%s-profile" % suffix)
    iam.add_role_to_instance_profile(InstanceProfileName="iamtest-%s-profile" % suffix, RoleName=names[0])
    mark = request_log.mark()
    result = converge_roles(tmp_path, roles, "--check", state="absent")
    assert result["changed"] and "delete role %s" % names[0] in result["actions"]
    assert not request_log.mutating_since(mark)
    iam.get_role(RoleName=names[0])
    result = converge_roles(tmp_path, roles, state="absent")
    assert result["changed"] and not any(r["exists"] for r in result["roles"].values())
    for name in names:
        with pytest.raises(iam.exceptions.NoSuchEntityException):
            iam.get_role(RoleName=name)
    assert iam.get_instance_profile(InstanceProfileName="iamtest-%s-profile" % suffix)["InstanceProfile"]["Roles"] == []
    assert not converge_roles(tmp_path, roles, state="absent")["changed"]
    iam.delete_instance_profile(InstanceProfileName="iamtest-%s-profile" % suffix)
    iam.delete_policy(PolicyArn=managed)


def test_roles_bad_input_changes_nothing(aws, tmp_path, request_log):
    """A trust policy that is not JSON in the second role: the module fails before its first request, so the valid
    first role is not created either."""
    suffix = uuid.uuid4().hex[:8]
    roles = [{"name": "iamtest-%s-ok" % suffix, "assume_role_policy": trust("lambda.amazonaws.com")},
             {"name": "iamtest-%s-bad" % suffix, "assume_role_policy": "{not json"}]
    mark = request_log.mark()
    result = converge_roles(tmp_path, roles, expect_rc=2)
    assert result["failed"] and "iamtest-%s-bad" % suffix in result["msg"]
    assert [e for e in request_log.since(mark) if e.get("service") == "iam"] == []
    with pytest.raises(aws("iam").exceptions.NoSuchEntityException):
        aws("iam").get_role(RoleName="iamtest-%s-ok" % suffix)
