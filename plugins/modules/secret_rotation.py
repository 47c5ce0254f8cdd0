#!/usr/bin/python
# ruff: noqa: EXE001 - Ansible modules carry a shebang but are not executable files
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: secret_rotation
short_description: Scheduled rotation of a batch of Secrets Manager secrets by one rotation function
version_added: 0.1.0
description:
  - Converges the rotation settings of every secret in O(secrets) (the rotation function and the schedule) with
    one C(DescribeSecret) per secret, and C(RotateSecret) with C(RotateImmediately=false) only for a secret whose
    settings differ, so enabling or changing rotation never rotates a password on the spot (Secrets Manager runs
    the function's C(testSecret) step to check the configuration) and a re-run makes no mutating request.
  - With O(state=absent), C(CancelRotateSecret) for each secret whose rotation is enabled.
  - The function must let C(secretsmanager.amazonaws.com) invoke it, and its role must be allowed to read and
    write the secrets (and to use their KMS key through Secrets Manager).
author:
  - Manufacturing Platform Team (@manufacturing-platform)
options:
  secrets:
    description: Names or ARNs of the secrets.
    type: list
    elements: str
    required: true
  state:
    description: Whether the secrets rotate on the schedule.
    type: str
    choices: [present, absent]
    default: present
  lambda_arn:
    description: ARN of the rotation function. Required with O(state=present).
    type: str
  rotation_days:
    description: Days between rotations (C(RotationRules.AutomaticallyAfterDays), 1 to 1000).
    type: int
    default: 30
attributes:
  check_mode:
    description: Reads only, and reports the actions it would take.
    support: full
  diff_mode:
    description: Shows each secret's rotation settings before and after.
    support: full
notes:
  - A secret scheduled for deletion is reported as an error; restore it first.
  - On the local cloud no Lambda code runs; C(RotateSecret) there records the settings as AWS does
    (docs/emulator-gaps.md).
requirements:
  - python >= 3.9
  - boto3
  - botocore
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: The tenant's database secrets rotate every 30 days (alternating users)
  manufacturing.platform.secret_rotation:
    secrets:
      - arn:aws:secretsmanager:eu-west-1:123456789012:secret:mfg-prod/customer-1/postgres-AbCdEf
      - arn:aws:secretsmanager:eu-west-1:123456789012:secret:mfg-prod/customer-1/timescaledb-GhIjKl
    lambda_arn: arn:aws:lambda:eu-west-1:123456789012:function:mfg-prod-customer-1-secret-rotation
    rotation_days: 30

- name: Stop rotating them
  manufacturing.platform.secret_rotation:
    secrets: [mfg-prod/customer-1/postgres, mfg-prod/customer-1/timescaledb]
    state: absent
"""

RETURN = r"""
secrets:
  description: Each secret's rotation settings after the run (in check mode, what they would be).
  returned: always
  type: list
  elements: dict
  contains:
    secret:
      description: The secret as given in O(secrets).
      type: str
    arn:
      description: The secret's ARN.
      type: str
    enabled:
      description: Whether rotation is enabled.
      type: bool
    lambda_arn:
      description: The rotation function.
      type: str
    rotation_days:
      description: Days between rotations (0 when not on a schedule).
      type: int
actions:
  description: The API operations run (or that would run in check mode), in order, each with its target.
  returned: always
  type: list
  elements: str
  sample: ["rotate_secret(mfg-prod/customer-1/postgres)"]
"""

import re

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.manufacturing.platform.plugins.module_utils import aws_retry

try:  # noqa: SIM105 - the usual optional-import pattern of AWS modules
    import botocore
except ImportError:
    pass  # caught by AnsibleAWSModule

RATE_DAYS = re.compile(r"^rate\((\d+) days?\)$")


def settings(described):
    """The rotation settings of a DescribeSecret answer."""
    rules = described.get("RotationRules") or {}
    days = int(rules.get("AutomaticallyAfterDays") or 0)
    match = RATE_DAYS.match(rules.get("ScheduleExpression") or "")
    if not days and match:
        days = int(match.group(1))
    return {"enabled": bool(described.get("RotationEnabled")), "lambda_arn": described.get("RotationLambdaARN") or "",
            "rotation_days": days}


def plan(secret, current, params):
    """(action, kwargs, after) for one secret."""
    if params["state"] == "absent":
        after = dict(current, enabled=False)
        return (("cancel_rotate_secret", {"SecretId": secret}) if current["enabled"] else None), after
    wanted = {"enabled": True, "lambda_arn": params["lambda_arn"], "rotation_days": params["rotation_days"]}
    if current == wanted:
        return None, wanted
    kwargs = {"SecretId": secret, "RotationLambdaARN": params["lambda_arn"],
              "RotationRules": {"AutomaticallyAfterDays": params["rotation_days"]}, "RotateImmediately": False}
    return ("rotate_secret", kwargs), wanted


def main():
    module = AnsibleAWSModule(
        argument_spec={
            "secrets": {"type": "list", "elements": "str", "required": True, "no_log": False},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "lambda_arn": {"type": "str"},
            "rotation_days": {"type": "int", "default": 30},
        },
        required_if=[("state", "present", ["lambda_arn"])],
        supports_check_mode=True,
    )
    params = module.params
    if params["state"] == "present":
        if not params["lambda_arn"].startswith("arn:"):
            module.fail_json(msg="lambda_arn must be a Lambda function ARN, got %r" % params["lambda_arn"])
        if not 1 <= params["rotation_days"] <= 1000:
            module.fail_json(msg="rotation_days must be within 1-1000, got %d" % params["rotation_days"])
    secrets = [s for s in params["secrets"] if s]
    if not secrets:
        module.fail_json(msg="secrets must name at least one secret")
    client = aws_retry.client(module, "secretsmanager")
    errors = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)

    actions, results, before = [], [], []
    for secret in secrets:
        try:
            described = client.describe_secret(aws_retry=True, SecretId=secret)
        except errors as exc:
            module.fail_json_aws(exc, msg="cannot read the secret %s" % secret, actions=actions)
        if described.get("DeletedDate"):
            module.fail_json(msg="the secret %s is scheduled for deletion; restore it first" % secret,
                             actions=actions)
        current = settings(described)
        step, after = plan(secret, current, params)
        before.append(dict(current, secret=secret))
        results.append(dict(after, secret=secret, arn=described.get("ARN", "")))
        if step is None:
            continue
        action, kwargs = step
        actions.append("%s(%s)" % (action, secret))
        if module.check_mode:
            continue
        try:
            getattr(client, action)(aws_retry=True, **kwargs)
        except errors as exc:
            module.fail_json_aws(exc, msg="%s failed for the secret %s" % (action, secret), actions=actions)

    result = {"changed": bool(actions), "actions": actions, "secrets": results}
    if module._diff:
        result["diff"] = {"before": {"secrets": before},
                          "after": {"secrets": [{k: v for k, v in r.items() if k != "arn"} for r in results]}}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
