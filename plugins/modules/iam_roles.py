#!/usr/bin/python
# ruff: noqa: EXE001 - Ansible modules carry a shebang but are not executable files
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: iam_roles
short_description: Many IAM roles with their trust, managed and inline policies and tags in one call
version_added: 0.1.0
description:
  - Converges a list of IAM roles with one task, for each role its trust policy, description, maximum session
    duration, permissions boundary, attached managed policies, inline policies and tags.
  - A role that exists is read with C(GetRole) (trust policy, description, tags, boundary in one answer),
    C(ListAttachedRolePolicies) only when O(roles[].managed_policies) is given, C(ListRolePolicies) only when
    O(roles[].inline_policies) is given and C(GetRolePolicy) per inline policy; a no-op run of a role with one
    inline policy is four requests and no mutating one. The stock M(amazon.aws.iam_role) plus
    M(amazon.aws.iam_policy) pair makes two tasks and more requests per role.
  - Policy documents are compared as canonical JSON (IAM's re-serialisation is never a change).
  - O(roles[].managed_policies) and O(roles[].inline_policies) are exact sets by default; a policy attached or put
    by hand is removed (O(roles[].purge_managed_policies), O(roles[].purge_inline_policies)).
  - With state V(absent) the role's managed policies are detached, its inline policies deleted, it is removed from
    its instance profiles and deleted. A missing role is unchanged.
  - Check mode makes no mutating request and reports what would be done (RV(actions)), for a role that does not
    exist yet too (its ARN is computed from O(account_id) or STS C(GetCallerIdentity)).
author:
  - Manufacturing Platform Team (@manufacturing-platform)
options:
  roles:
    description: The roles.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Role name.
        type: str
        required: true
      path:
        description: Path of the role (set at creation; IAM cannot change it).
        type: str
        default: /
      description:
        description: Description of the role. Omitted leaves it alone.
        type: str
      assume_role_policy:
        description: The trust policy (dict or JSON text). Required for state V(present).
        type: raw
      max_session_duration:
        description: Maximum session duration in seconds (3600 to 43200). Omitted leaves it alone.
        type: int
      permissions_boundary:
        description: ARN of the managed policy that bounds the role; V('') removes a boundary. Omitted leaves it alone.
        type: str
      managed_policies:
        description: ARNs of the managed policies attached to the role. Omitted leaves the attachments alone.
        type: list
        elements: str
      purge_managed_policies:
        description: Detach managed policies not in O(roles[].managed_policies).
        type: bool
        default: true
      inline_policies:
        description: Inline policies of the role, name to document (dict or JSON text). Omitted leaves them alone.
        type: dict
      purge_inline_policies:
        description: Delete inline policies not in O(roles[].inline_policies).
        type: bool
        default: true
      tags:
        description: Tags of the role. Defaults to O(tags); both omitted leaves the tags alone.
        type: dict
      purge_tags:
        description: Remove tags not in O(roles[].tags). Defaults to O(purge_tags).
        type: bool
      state:
        description: Whether the role should exist. Defaults to O(state).
        type: str
        choices: [present, absent]
  state:
    description: State of the roles that do not set their own.
    type: str
    choices: [present, absent]
    default: present
  tags:
    description: Tags of the roles that do not set their own.
    type: dict
  purge_tags:
    description: Default of O(roles[].purge_tags).
    type: bool
    default: true
  account_id:
    description:
      - AWS account of the roles; only needed for the ARN of a role that check mode would create. Omitted, STS
        C(GetCallerIdentity) tells it (one request, only then).
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
notes:
  - Instance profiles are not managed (the platform's roles are for services, not EC2); a role that belongs to one
    is removed from it before it is deleted.
seealso:
  - module: amazon.aws.iam_role
  - module: amazon.aws.iam_policy
  - module: manufacturing.platform.iam_managed_policies
"""

EXAMPLES = r"""
- name: The roles of a tenant's functions
  manufacturing.platform.iam_roles:
    account_id: "123456789012"
    roles:
      - name: mfg-prod-customer-123-alert-processor
        description: alert processor of tenant customer-123
        assume_role_policy: "{{ lookup('ansible.builtin.template', 'trust-policy.json.j2') | from_json }}"
        managed_policies:
          - arn:aws:iam::123456789012:policy/mfg-prod-customer-123-storage
        inline_policies:
          alert-processor: "{{ lookup('ansible.builtin.template', 'execution-policy.json.j2') | from_json }}"
        tags: {Environment: prod, Tenant: customer-123}
  register: tenant_roles

- name: The alert processor's role ARN
  ansible.builtin.debug:
    msg: "{{ tenant_roles.roles['mfg-prod-customer-123-alert-processor'].arn }}"

- name: Delete them
  manufacturing.platform.iam_roles:
    state: absent
    roles:
      - name: mfg-prod-customer-123-alert-processor
"""

RETURN = r"""
roles:
  description:
    - Per role name, its ARN (computed in check mode for a role that would be created), id and whether it exists
      after the run.
  returned: always
  type: dict
  sample: {"mfg-prod-customer-123-alert-processor": {
           "arn": "arn:aws:iam::123456789012:role/mfg-prod-customer-123-alert-processor",
           "role_id": "AROA...", "exists": true}}
actions:
  description: What was (in check mode, would be) done, in order.
  returned: always
  type: list
  elements: str
  sample: ["create role mfg-prod-customer-123-alert-processor", "put inline policy alert-processor of role ..."]
"""

try:  # noqa: SIM105 - the import guard ansible-test expects
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.manufacturing.platform.plugins.module_utils import aws_retry
from ansible_collections.manufacturing.platform.plugins.module_utils import iam_converge as ic


class Roles:
    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.check = module.check_mode
        self.actions = []
        self.diff = {"before": {}, "after": {}}
        self._account = None

    def do(self, action, method, **kwargs):
        """Record ``action``; outside check mode call ``client.<method>(**kwargs)`` and return its answer."""
        self.actions.append(action)
        if self.check:
            return {}
        return getattr(self.client, method)(aws_retry=True, **kwargs)

    def arn(self, item):
        if self._account is None:
            self._account = ic.account_and_partition(self.module, lambda: aws_retry.client(self.module, "sts"))
        account, partition = self._account
        return ic.iam_arn(partition, account, "role", item["path"], item["name"])

    def get_role(self, name):
        try:
            return self.client.get_role(aws_retry=True, RoleName=name)["Role"]
        except botocore.exceptions.ClientError as e:
            if ic.error_code(e) == "NoSuchEntity":
                return None
            raise

    def attached(self, name):
        page = aws_retry.paginate(self.client, "list_attached_role_policies", RoleName=name)
        return sorted(p["PolicyArn"] for p in page.get("AttachedPolicies", []))

    def inline_names(self, name):
        return sorted(aws_retry.paginate(self.client, "list_role_policies", RoleName=name).get("PolicyNames", []))

    def inline_document(self, role, policy):
        try:
            answer = self.client.get_role_policy(aws_retry=True, RoleName=role, PolicyName=policy)
        except botocore.exceptions.ClientError as e:
            if ic.error_code(e) == "NoSuchEntity":  # deleted between the list and the read
                return None
            raise
        return ic.load_document(answer["PolicyDocument"])

    # ------------------------------------------------------------------------------------------------ present
    def present(self, item):
        name, trust, inline = item["name"], item["_trust"], item["_inline"]
        role = self.get_role(name)
        if role is None:
            return self.create(item, trust, inline)

        before = {"assume_role_policy": ic.load_document(role["AssumeRolePolicyDocument"]),
                  "description": role.get("Description", ""),
                  "max_session_duration": role.get("MaxSessionDuration"),
                  "permissions_boundary": role.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn", ""),
                  "tags": ic.tags_dict(role.get("Tags"))}
        after = dict(before)
        mark = len(self.actions)
        if not ic.same_document(role["AssumeRolePolicyDocument"], trust):
            after["assume_role_policy"] = trust
            self.do("update trust policy of role %s" % name, "update_assume_role_policy", RoleName=name,
                    PolicyDocument=ic.canonical(trust))
        self.update_settings(item, before, after)
        self.converge_boundary(item, before, after)
        if item["managed_policies"] is not None:
            current = self.attached(name)
            before["managed_policies"] = current
            after["managed_policies"] = self.converge_managed(item, current)
        if item["inline_policies"] is not None:
            documents = {p: self.inline_document(name, p) for p in self.inline_names(name)}
            documents = {p: d for p, d in documents.items() if d is not None}
            before["inline_policies"] = documents
            after["inline_policies"] = self.converge_inline(item, inline, documents)
        self.converge_tags(item, before["tags"], after)
        if len(self.actions) > mark:
            self.diff["before"][name] = before
            self.diff["after"][name] = after
        return {"arn": role["Arn"], "role_id": role.get("RoleId", ""), "exists": True}

    def create(self, item, trust, inline):
        name = item["name"]
        kwargs = {"RoleName": name, "Path": item["path"], "AssumeRolePolicyDocument": ic.canonical(trust)}
        if item["description"]:
            kwargs["Description"] = item["description"]
        if item["max_session_duration"]:
            kwargs["MaxSessionDuration"] = item["max_session_duration"]
        if item["permissions_boundary"]:
            kwargs["PermissionsBoundary"] = item["permissions_boundary"]
        tags = ic.tag_changes({}, item["tags"])[0]
        if tags:
            kwargs["Tags"] = ic.boto_tags(tags)
        created = self.do("create role %s" % name, "create_role", **kwargs).get("Role")
        for arn in sorted(set(item["managed_policies"] or [])):
            self.do("attach policy %s to role %s" % (arn, name), "attach_role_policy", RoleName=name, PolicyArn=arn)
        for policy, document in sorted(inline.items()):
            self.do("put inline policy %s of role %s" % (policy, name), "put_role_policy", RoleName=name,
                    PolicyName=policy, PolicyDocument=ic.canonical(document))
        self.diff["before"][name] = {}
        self.diff["after"][name] = {
            "assume_role_policy": trust, "description": item["description"] or "",
            "max_session_duration": item["max_session_duration"],
            "permissions_boundary": item["permissions_boundary"] or "",
            "managed_policies": sorted(set(item["managed_policies"] or [])), "inline_policies": inline, "tags": tags}
        if created:
            return {"arn": created["Arn"], "role_id": created.get("RoleId", ""), "exists": True}
        return {"arn": self.arn(item), "role_id": "", "exists": False}

    def update_settings(self, item, before, after):
        kwargs = {}
        if item["description"] is not None and item["description"] != before["description"]:
            kwargs["Description"] = after["description"] = item["description"]
        if item["max_session_duration"] and item["max_session_duration"] != before["max_session_duration"]:
            kwargs["MaxSessionDuration"] = after["max_session_duration"] = item["max_session_duration"]
        if kwargs:
            self.do("update %s of role %s" % (" and ".join(sorted(k.lower() for k in kwargs)), item["name"]),
                    "update_role", RoleName=item["name"], **kwargs)

    def converge_boundary(self, item, before, after):
        wanted = item["permissions_boundary"]
        if wanted is None or wanted == before["permissions_boundary"]:
            return
        after["permissions_boundary"] = wanted
        if wanted:
            self.do("set permissions boundary %s of role %s" % (wanted, item["name"]),
                    "put_role_permissions_boundary", RoleName=item["name"], PermissionsBoundary=wanted)
        else:
            self.do("remove permissions boundary of role %s" % item["name"], "delete_role_permissions_boundary",
                    RoleName=item["name"])

    def converge_managed(self, item, current):
        name, wanted = item["name"], set(item["managed_policies"])
        for arn in sorted(wanted - set(current)):
            self.do("attach policy %s to role %s" % (arn, name), "attach_role_policy", RoleName=name, PolicyArn=arn)
        kept = set(current)
        if item["purge_managed_policies"]:
            for arn in sorted(set(current) - wanted):
                self.do("detach policy %s from role %s" % (arn, name), "detach_role_policy", RoleName=name,
                        PolicyArn=arn)
            kept &= wanted
        return sorted(kept | wanted)

    def converge_inline(self, item, wanted, current):
        name = item["name"]
        result = dict(current)
        for policy, document in sorted(wanted.items()):
            if policy not in current or not ic.same_document(current[policy], document):
                self.do("put inline policy %s of role %s" % (policy, name), "put_role_policy", RoleName=name,
                        PolicyName=policy, PolicyDocument=ic.canonical(document))
                result[policy] = document
        if item["purge_inline_policies"]:
            for policy in sorted(set(current) - set(wanted)):
                self.do("delete inline policy %s of role %s" % (policy, name), "delete_role_policy", RoleName=name,
                        PolicyName=policy)
                result.pop(policy)
        return result

    def converge_tags(self, item, current, after):
        name = item["name"]
        to_set, to_remove = ic.tag_changes(current, item["tags"], item["purge_tags"])
        if to_set:
            self.do("tag role %s: %s" % (name, ", ".join(sorted(to_set))), "tag_role", RoleName=name,
                    Tags=ic.boto_tags(to_set))
        if to_remove:
            self.do("untag role %s: %s" % (name, ", ".join(to_remove)), "untag_role", RoleName=name,
                    TagKeys=to_remove)
        if to_set or to_remove:
            after["tags"] = {k: v for k, v in dict(current, **to_set).items() if k not in to_remove}

    # ------------------------------------------------------------------------------------------------- absent
    def absent(self, item):
        name = item["name"]
        role = self.get_role(name)
        if role is None:
            return {"arn": "", "role_id": "", "exists": False}
        self.diff["before"][name] = {"arn": role["Arn"], "description": role.get("Description", "")}
        self.diff["after"][name] = {}
        for arn in self.attached(name):
            self.do("detach policy %s from role %s" % (arn, name), "detach_role_policy", RoleName=name, PolicyArn=arn)
        for policy in self.inline_names(name):
            self.do("delete inline policy %s of role %s" % (policy, name), "delete_role_policy", RoleName=name,
                    PolicyName=policy)
        profiles = aws_retry.paginate(self.client, "list_instance_profiles_for_role", RoleName=name)
        for profile in profiles.get("InstanceProfiles", []):
            self.do("remove role %s from instance profile %s" % (name, profile["InstanceProfileName"]),
                    "remove_role_from_instance_profile", RoleName=name,
                    InstanceProfileName=profile["InstanceProfileName"])
        self.do("delete role %s" % name, "delete_role", RoleName=name)
        return {"arn": role["Arn"], "role_id": role.get("RoleId", ""), "exists": self.check}


def main():
    item_spec = dict(
        name=dict(type="str", required=True),
        path=dict(type="str", default="/"),
        description=dict(type="str"),
        assume_role_policy=dict(type="raw"),
        max_session_duration=dict(type="int"),
        permissions_boundary=dict(type="str"),
        managed_policies=dict(type="list", elements="str"),
        purge_managed_policies=dict(type="bool", default=True),
        inline_policies=dict(type="dict"),
        purge_inline_policies=dict(type="bool", default=True),
        tags=dict(type="dict"),
        purge_tags=dict(type="bool"),
        state=dict(type="str", choices=["present", "absent"]),
    )
    argument_spec = dict(
        roles=dict(type="list", elements="dict", required=True, options=item_spec),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        tags=dict(type="dict"),
        purge_tags=dict(type="bool", default=True),
        account_id=dict(type="str"),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    items = []
    for item in module.params["roles"]:
        item = dict(item, path=ic.normalize_path(item["path"]), state=item["state"] or module.params["state"])
        if item["purge_tags"] is None:
            item["purge_tags"] = module.params["purge_tags"]
        if item["tags"] is None:
            item["tags"] = module.params["tags"]
        if item["state"] == "present" and item["assume_role_policy"] is None:
            module.fail_json(msg="iam_roles: role %s needs 'assume_role_policy' (state=present)" % item["name"])
        duration = item["max_session_duration"]
        if duration is not None and not 3600 <= duration <= 43200:
            module.fail_json(msg="iam_roles: max_session_duration of role %s must be 3600 to 43200, got %s"
                             % (item["name"], duration))
        try:  # every document is read before the first request: a bad one changes nothing
            item["_trust"] = ic.load_document(item["assume_role_policy"]) if item["state"] == "present" else None
            item["_inline"] = {k: ic.load_document(v) for k, v in (item["inline_policies"] or {}).items()}
        except ic.DocumentError as e:
            module.fail_json(msg="iam_roles: role %s: %s" % (item["name"], e))
        items.append(item)
    names = [i["name"] for i in items]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        module.fail_json(msg="iam_roles: roles listed more than once: %s" % ", ".join(duplicates))

    roles = Roles(module, aws_retry.client(module, "iam"))
    results = {}
    try:
        for item in items:
            converge = roles.present if item["state"] == "present" else roles.absent
            results[item["name"]] = converge(item)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Failed to converge IAM roles", actions=roles.actions)
    result = {"changed": bool(roles.actions), "actions": roles.actions, "roles": results}
    if module._diff:
        result["diff"] = roles.diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
