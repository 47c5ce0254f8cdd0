#!/usr/bin/python
# ruff: noqa: EXE001 - Ansible modules carry a shebang but are not executable files
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: iam_managed_policies
short_description: Many customer managed IAM policies in one call, found by ARN (never ListPolicies)
version_added: 0.1.0
description:
  - Converges a list of customer managed IAM policies with one task.
  - Each policy is found by its ARN (C(arn:<partition>:iam::<account>:policy<path><name>)) with C(GetPolicy); the
    account comes from O(account_id) or STS C(GetCallerIdentity). C(ListPolicies), which pages through every
    AWS managed policy of the account, is never called.
  - The default version's document (C(GetPolicyVersion)) is compared as canonical JSON; a new default version is
    created only when it differs, deleting the oldest non-default version first when the policy has 5 versions.
  - Tags are converged with C(TagPolicy) / C(UntagPolicy); keys starting with C(aws:) are left alone.
  - With state V(absent) the policy is detached from every user, group and role, its non-default versions are
    deleted, then the policy. A missing policy is unchanged.
  - Check mode makes no mutating request and reports what would be done (RV(actions)).
author:
  - Manufacturing Platform Team (@manufacturing-platform)
options:
  policies:
    description: The policies.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Policy name.
        type: str
        required: true
      path:
        description: Path of the policy (set at creation; IAM cannot change it).
        type: str
        default: /
      description:
        description: Description (set at creation; IAM cannot change it).
        type: str
      policy:
        description: The policy document (dict or JSON text). Required for state V(present).
        type: raw
      tags:
        description: Tags of the policy. Omitted leaves the tags alone.
        type: dict
      purge_tags:
        description: Remove tags not in O(policies[].tags). Defaults to O(purge_tags).
        type: bool
      state:
        description: Whether the policy should exist. Defaults to O(state).
        type: str
        choices: [present, absent]
  state:
    description: State of the policies that do not set their own.
    type: str
    choices: [present, absent]
    default: present
  purge_tags:
    description: Default of O(policies[].purge_tags).
    type: bool
    default: true
  account_id:
    description: AWS account of the policies; omitted, STS C(GetCallerIdentity) tells it.
    type: str
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
seealso:
  - module: amazon.aws.iam_managed_policy
"""

EXAMPLES = r"""
- name: A tenant's storage policy
  manufacturing.platform.iam_managed_policies:
    policies:
      - name: mfg-prod-customer-123-storage
        description: storage access of tenant customer-123
        policy: "{{ lookup('ansible.builtin.template', 'tenant-policy.json.j2') | from_json }}"
        tags: {Environment: prod, Tenant: customer-123}

- name: Delete it
  manufacturing.platform.iam_managed_policies:
    state: absent
    policies:
      - name: mfg-prod-customer-123-storage
"""

RETURN = r"""
policies:
  description:
    - Per policy name, its ARN (computed in check mode for a policy that would be created), id and default version.
  returned: always
  type: dict
  sample: {"mfg-prod-customer-123-storage": {"arn": "arn:aws:iam::123456789012:policy/mfg-prod-customer-123-storage",
           "policy_id": "ANPA...", "default_version_id": "v2", "exists": true}}
actions:
  description: What was (in check mode, would be) done.
  returned: always
  type: list
  elements: str
"""

try:  # noqa: SIM105 - the import guard ansible-test expects
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.manufacturing.platform.plugins.module_utils import aws_retry
from ansible_collections.manufacturing.platform.plugins.module_utils import iam_converge as ic

MAX_VERSIONS = 5


def get_policy(client, arn):
    try:
        return client.get_policy(aws_retry=True, PolicyArn=arn)["Policy"]
    except botocore.exceptions.ClientError as e:
        if ic.error_code(e) == "NoSuchEntity":
            return None
        raise


def policy_tags(client, policy):
    if policy.get("Tags"):
        return ic.tags_dict(policy["Tags"])
    tags, marker = [], None
    while True:
        kwargs = {"PolicyArn": policy["Arn"]}
        if marker:
            kwargs["Marker"] = marker
        page = client.list_policy_tags(aws_retry=True, **kwargs)
        tags += page.get("Tags", [])
        marker = page.get("Marker") if page.get("IsTruncated") else None
        if not marker:
            return ic.tags_dict(tags)


def converge_present(module, client, item, arn, actions, diff):
    name = item["name"]
    wanted_doc = ic.load_document(item["policy"])
    policy = get_policy(client, arn)
    check = module.check_mode
    after = {"path": item["path"], "description": item["description"], "policy": wanted_doc, "tags": item["tags"]}
    if policy is None:
        actions.append("create policy %s" % name)
        diff["before"][name] = {}
        diff["after"][name] = after
        if check:
            return {"arn": arn, "policy_id": "", "default_version_id": "", "exists": False}
        kwargs = {"PolicyName": name, "Path": item["path"], "PolicyDocument": ic.canonical(wanted_doc)}
        if item["description"]:
            kwargs["Description"] = item["description"]
        if item["tags"]:
            kwargs["Tags"] = ic.boto_tags(ic.tag_changes({}, item["tags"])[0])
        created = client.create_policy(aws_retry=True, **kwargs)["Policy"]
        return {"arn": created["Arn"], "policy_id": created.get("PolicyId", ""),
                "default_version_id": created.get("DefaultVersionId", ""), "exists": True}

    version_id = policy["DefaultVersionId"]
    version = client.get_policy_version(aws_retry=True, PolicyArn=arn, VersionId=version_id)["PolicyVersion"]
    current_doc = version["Document"]
    current_tags = policy_tags(client, policy)
    before = {"path": policy.get("Path"), "description": policy.get("Description"),
              "policy": ic.load_document(current_doc), "tags": current_tags}
    changed = False
    if item["description"] and item["description"] != policy.get("Description", ""):
        module.warn("iam_managed_policies: the description of policy %s cannot be changed (no IAM API)" % name)
    if not ic.same_document(current_doc, wanted_doc):
        changed = True
        versions = ic_versions(client, arn)
        if len(versions) >= MAX_VERSIONS:
            oldest = sorted((v for v in versions if not v.get("IsDefaultVersion")), key=lambda v: v["CreateDate"])[0]
            actions.append("delete version %s of policy %s" % (oldest["VersionId"], name))
            if not check:
                client.delete_policy_version(aws_retry=True, PolicyArn=arn, VersionId=oldest["VersionId"])
        actions.append("create default version of policy %s" % name)
        if not check:
            created = client.create_policy_version(aws_retry=True, PolicyArn=arn, SetAsDefault=True,
                                                   PolicyDocument=ic.canonical(wanted_doc))
            version_id = created["PolicyVersion"]["VersionId"]
    to_set, to_remove = ic.tag_changes(current_tags, item["tags"], item["purge_tags"])
    if to_set:
        changed = True
        actions.append("tag policy %s: %s" % (name, ", ".join(sorted(to_set))))
        if not check:
            client.tag_policy(aws_retry=True, PolicyArn=arn, Tags=ic.boto_tags(to_set))
    if to_remove:
        changed = True
        actions.append("untag policy %s: %s" % (name, ", ".join(to_remove)))
        if not check:
            client.untag_policy(aws_retry=True, PolicyArn=arn, TagKeys=to_remove)
    if changed:
        after = dict(before, policy=wanted_doc, tags=before["tags"] if item["tags"] is None else after["tags"])
        diff["before"][name] = before
        diff["after"][name] = after
    return {"arn": arn, "policy_id": policy.get("PolicyId", ""), "default_version_id": version_id, "exists": True}


def ic_versions(client, arn):
    return aws_retry.paginate(client, "list_policy_versions", PolicyArn=arn).get("Versions", [])


def converge_absent(module, client, item, arn, actions, diff):
    name = item["name"]
    policy = get_policy(client, arn)
    if policy is None:
        return {"arn": arn, "policy_id": "", "default_version_id": "", "exists": False}
    check = module.check_mode
    diff["before"][name] = {"path": policy.get("Path"), "description": policy.get("Description")}
    diff["after"][name] = {}
    entities = aws_retry.paginate(client, "list_entities_for_policy", PolicyArn=arn)
    for key, kind, method, param in (("PolicyRoles", "role", "detach_role_policy", "RoleName"),
                                     ("PolicyUsers", "user", "detach_user_policy", "UserName"),
                                     ("PolicyGroups", "group", "detach_group_policy", "GroupName")):
        for entity in entities.get(key, []):
            entity_name = entity[param]
            actions.append("detach policy %s from %s %s" % (name, kind, entity_name))
            if not check:
                getattr(client, method)(aws_retry=True, PolicyArn=arn, **{param: entity_name})
    for version in ic_versions(client, arn):
        if not version.get("IsDefaultVersion"):
            actions.append("delete version %s of policy %s" % (version["VersionId"], name))
            if not check:
                client.delete_policy_version(aws_retry=True, PolicyArn=arn, VersionId=version["VersionId"])
    actions.append("delete policy %s" % name)
    if not check:
        client.delete_policy(aws_retry=True, PolicyArn=arn)
    return {"arn": arn, "policy_id": policy.get("PolicyId", ""), "default_version_id": "", "exists": False}


def main():
    item_spec = dict(
        name=dict(type="str", required=True),
        path=dict(type="str", default="/"),
        description=dict(type="str"),
        policy=dict(type="raw"),
        tags=dict(type="dict"),
        purge_tags=dict(type="bool"),
        state=dict(type="str", choices=["present", "absent"]),
    )
    argument_spec = dict(
        policies=dict(type="list", elements="dict", required=True, options=item_spec),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        purge_tags=dict(type="bool", default=True),
        account_id=dict(type="str"),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    client = aws_retry.client(module, "iam")
    actions, results, diff = [], {}, {"before": {}, "after": {}}
    try:
        account, partition = ic.account_and_partition(module, lambda: aws_retry.client(module, "sts"))
        for item in module.params["policies"]:
            item = dict(item, path=ic.normalize_path(item["path"]))
            item["state"] = item["state"] or module.params["state"]
            if item["purge_tags"] is None:
                item["purge_tags"] = module.params["purge_tags"]
            arn = ic.iam_arn(partition, account, "policy", item["path"], item["name"])
            if item["state"] == "present":
                if item["policy"] is None:
                    module.fail_json(msg="iam_managed_policies: %s needs 'policy' (state=present)" % item["name"])
                results[item["name"]] = converge_present(module, client, item, arn, actions, diff)
            else:
                results[item["name"]] = converge_absent(module, client, item, arn, actions, diff)
    except ic.DocumentError as e:
        module.fail_json(msg="iam_managed_policies: %s" % e, actions=actions)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Failed to converge IAM managed policies", actions=actions)
    result = {"changed": bool(actions), "actions": actions, "policies": results}
    if module._diff:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
