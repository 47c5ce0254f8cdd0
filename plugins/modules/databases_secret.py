#!/usr/bin/python
# ruff: noqa: EXE001 - Ansible modules carry a shebang but are not executable files
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: databases_secret
short_description: A KMS-encrypted JSON secret in Secrets Manager whose generated fields are generated once
version_added: 1.0.0
description:
  - Creates or updates a Secrets Manager secret holding a JSON object (database connection settings).
  - Fields in O(value) are set as given; fields in O(generate) (for example V(password)) are generated
    B(only when the secret does not have them yet) and kept on every later run, so a re-run never rotates a
    password and makes no mutating request.
  - The secret is encrypted with O(kms_key_id); description and tags are converged.
  - Secret values are never logged by this module; diff mode shows only the names of the fields that change.
    With O(return_value=true) the current value is returned in RV(value) for the next task, so B(set no_log on
    the task).
author:
  - Manufacturing Platform Team (@manufacturing-platform)
options:
  name:
    description: Name of the secret.
    type: str
    required: true
  state:
    description: Whether the secret should exist.
    type: str
    choices: [present, absent]
    default: present
  description:
    description: Description of the secret.
    type: str
    default: ""
  kms_key_id:
    description: KMS key (ARN) that encrypts the secret. Required with O(state=present).
    type: str
  value:
    description:
      - Fields of the JSON object to set exactly (strings, numbers, booleans).
      - Values of fields whose names contain C(password), C(secret), C(token), C(key) or C(credential) are masked
        in the module's output; set C(no_log) on the task as well.
    type: dict
    default: {}
  generate:
    description: Fields generated when missing (letters and digits, O(length) characters), then kept.
    type: list
    elements: str
    default: []
  regenerate_on_change:
    description:
      - Fields of O(value) the generated fields belong to, for example V(username) for a generated V(password).
      - When the stored value of one of them differs from O(value), the O(generate) fields are generated anew
        instead of kept (a password never passes from one user to another).
    type: list
    elements: str
    default: []
  alternate_suffix:
    description:
      - For a secret rotated with alternating users (the C(username) of the secret changes between V(<user>) and
        V(<user><suffix>) at each rotation), the suffix of the other user, for example V(_clone).
      - A stored C(username) of O(value) plus this suffix then counts as equal to O(value)'s, and the stored
        C(username) and the generated fields are kept, so a converge after a rotation changes nothing.
    type: str
  length:
    description: Length of generated values.
    type: int
    default: 32
  return_value:
    description: Return the secret's JSON object in RV(value) (not in check mode when the secret does not exist yet).
    type: bool
    default: false
  recovery_window_days:
    description: With O(state=absent), days before the deletion is final; V(0) deletes at once.
    type: int
    default: 7
  tags:
    description: Tags of the secret (purged to exactly these).
    type: dict
    default: {}
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
    details:
      - Field names only, never values.
seealso:
  - module: community.aws.secretsmanager_secret
"""

EXAMPLES = r"""
- name: A tenant database user whose password is generated once
  manufacturing.platform.databases_secret:
    name: mfg-prod/customer-456/postgres
    kms_key_id: "{{ storage_kms_key_arn }}"
    value:
      engine: postgres
      host: mfg-prod-shared-postgres.x.us-east-1.rds.amazonaws.com
      port: 5432
      username: t_customer_456
      dbname: t_customer_456
    generate: [password]
    return_value: true
  register: tenant_secret
  no_log: true
"""

RETURN = r"""
arn:
  description: ARN of the secret (empty in check mode when it would be created).
  returned: state=present
  type: str
  sample: "arn:aws:secretsmanager:us-east-1:123456789012:secret:mfg-prod/customer-456/postgres-AbCdEf"
name:
  description: Name of the secret.
  returned: always
  type: str
  sample: mfg-prod/customer-456/postgres
changed_fields:
  description: Names of the fields that were (would be) set or generated.
  returned: always
  type: list
  elements: str
  sample: [host, password]
value:
  description: The secret's JSON object after the change, only with O(return_value=true).
  returned: when return_value
  type: dict
  sample: {username: t_customer_456, password: "<secret>"}
"""

import json
import secrets
import string

try:  # noqa: SIM105 - the import guard ansible-test expects
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.manufacturing.platform.plugins.module_utils import aws_retry

ALPHABET = string.ascii_letters + string.digits


def generated(length):
    return "".join(secrets.choice(ALPHABET) for dummy in range(length))


def wanted_value(current, value, generate, length, bound_to=()):
    """The JSON object to store: ``value`` plus the generated fields, kept from ``current`` when present and
    when none of the ``bound_to`` fields changed."""
    result = {}
    keep = all(current.get(field) == value.get(field) for field in bound_to)
    for field in generate:
        result[field] = current[field] if keep and current.get(field) not in (None, "") else generated(length)
    result.update(value)
    return result


def rotated_value(current, value, suffix):
    """``value`` with the stored user name when the secret rotates between ``<user>`` and ``<user><suffix>``."""
    user = value.get("username")
    if suffix and user and current.get("username") == "%s%s" % (user, suffix):
        return dict(value, username=current["username"])
    return value


def ensure_present(module, client):
    params = module.params
    name = params["name"]
    tags = [{"Key": str(k), "Value": str(v)} for k, v in sorted(params["tags"].items())]
    try:
        described = client.describe_secret(aws_retry=True, SecretId=name)
    except is_boto3_error_code("ResourceNotFoundException"):
        described = None
    if described is not None and described.get("DeletedDate") and not module.check_mode:
        client.restore_secret(aws_retry=True, SecretId=name)
    result = {"name": name, "changed": False, "changed_fields": []}
    if described is None:
        value = wanted_value({}, params["value"], params["generate"], params["length"])
        result.update(changed=True, changed_fields=sorted(value), arn="")
        if module._diff:
            result["diff"] = {"before": {}, "after": {"fields": sorted(value)}}
        if not module.check_mode:
            created = client.create_secret(aws_retry=True, Name=name, Description=params["description"],
                                           KmsKeyId=params["kms_key_id"], Tags=tags,
                                           SecretString=json.dumps(value, sort_keys=True))
            result["arn"] = created["ARN"]
            if params["return_value"]:
                result["value"] = value
        return result

    result["arn"] = described["ARN"]
    try:
        current = json.loads(client.get_secret_value(aws_retry=True, SecretId=name).get("SecretString") or "{}")
    except is_boto3_error_code("ResourceNotFoundException"):  # a secret without a version yet
        current = {}
    except ValueError:
        current = {}
    if not isinstance(current, dict):
        current = {}
    value = wanted_value(current, rotated_value(current, params["value"], params["alternate_suffix"]),
                         params["generate"], params["length"], params["regenerate_on_change"])
    fields = sorted(k for k in set(value) | set(current) if value.get(k) != current.get(k))
    update = {}
    if described.get("Description", "") != params["description"]:
        update["Description"] = params["description"]
    if params["kms_key_id"] and described.get("KmsKeyId") != params["kms_key_id"]:
        update["KmsKeyId"] = params["kms_key_id"]
    current_tags = {t["Key"]: t["Value"] for t in described.get("Tags", []) if not t["Key"].startswith("aws:")}
    wanted_tags = {t["Key"]: t["Value"] for t in tags}
    add = [{"Key": k, "Value": v} for k, v in sorted(wanted_tags.items()) if current_tags.get(k) != v]
    remove = sorted(k for k in current_tags if k not in wanted_tags)
    changed = bool(fields or update or add or remove)
    result.update(changed=changed, changed_fields=fields)
    if module._diff:
        settings = sorted(update) + (["tags"] if add or remove else [])
        result["diff"] = {"before": {"fields": fields, "settings": settings},
                          "after": {"fields": fields, "settings": settings}}
    if not module.check_mode:
        if update:
            client.update_secret(aws_retry=True, SecretId=name, **update)
        if fields:
            client.put_secret_value(aws_retry=True, SecretId=name, SecretString=json.dumps(value, sort_keys=True))
        if add:
            client.tag_resource(aws_retry=True, SecretId=name, Tags=add)
        if remove:
            client.untag_resource(aws_retry=True, SecretId=name, TagKeys=remove)
    if params["return_value"]:
        result["value"] = value
    return result


def ensure_absent(module, client):
    name = module.params["name"]
    try:
        described = client.describe_secret(aws_retry=True, SecretId=name)
    except is_boto3_error_code("ResourceNotFoundException"):
        return {"name": name, "changed": False, "changed_fields": []}
    if described.get("DeletedDate"):
        return {"name": name, "changed": False, "changed_fields": []}
    if not module.check_mode:
        days = module.params["recovery_window_days"]
        kwargs = {"ForceDeleteWithoutRecovery": True} if days == 0 else {"RecoveryWindowInDays": days}
        client.delete_secret(aws_retry=True, SecretId=name, **kwargs)
    return {"name": name, "changed": True, "changed_fields": []}


# Provided fields whose values are masked in the module's output (generated fields are returned only with
# return_value, for a task that sets no_log).
SENSITIVE_FIELD_WORDS = ("password", "secret", "token", "key", "credential")


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        description=dict(type="str", default=""),
        kms_key_id=dict(type="str"),
        # Not no_log as a whole: that would mask every field's value (user names, host, 'postgres') wherever it
        # appears in the result, e.g. inside the secret's ARN. Sensitive fields are masked one by one below.
        value=dict(type="dict", default={}, no_log=False),
        generate=dict(type="list", elements="str", default=[], no_log=False),
        regenerate_on_change=dict(type="list", elements="str", default=[], no_log=False),
        alternate_suffix=dict(type="str"),
        length=dict(type="int", default=32),
        return_value=dict(type="bool", default=False),
        recovery_window_days=dict(type="int", default=7),
        tags=dict(type="dict", default={}),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True,
                              required_if=[("state", "present", ["kms_key_id"])])
    for key, field in module.params["value"].items():
        if field not in (None, "") and any(word in str(key).lower() for word in SENSITIVE_FIELD_WORDS):
            module.no_log_values.add(str(field))
    client = aws_retry.client(module, "secretsmanager")
    try:
        if module.params["state"] == "present":
            result = ensure_present(module, client)
        else:
            result = ensure_absent(module, client)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Failed to converge secret %s" % module.params["name"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
