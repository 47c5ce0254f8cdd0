#!/usr/bin/python
# ruff: noqa: EXE001 - Ansible modules carry a shebang but are not executable files
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cloudwatch_dashboard
short_description: A CloudWatch dashboard, written only when its body differs
version_added: 1.0.0
description:
  - Creates or updates a CloudWatch dashboard from a body given as data. The current body is read with
    C(GetDashboard) and compared as JSON (key order and whitespace do not matter); C(PutDashboard) is sent only
    when it differs, so a re-run makes no mutating request.
  - With O(state=absent) the dashboard is deleted.
  - Check mode reads only; diff mode shows the bodies before and after.
author:
  - Manufacturing Platform Team (@manufacturing-platform)
options:
  name:
    description: Dashboard name (letters, digits, V(-) and V(_)).
    type: str
    required: true
  body:
    description: The dashboard body (a dict with C(widgets), optionally C(start), C(periodOverride), ...).
    type: dict
  state:
    description: Whether the dashboard should exist.
    type: str
    choices: [present, absent]
    default: present
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
"""

EXAMPLES = r"""
- name: The environment's dashboard
  manufacturing.platform.cloudwatch_dashboard:
    name: mfg-prod-overview
    body:
      widgets:
        - {type: text, x: 0, y: 0, width: 24, height: 2, properties: {markdown: "# mfg-prod"}}
"""

RETURN = r"""
name:
  description: Dashboard name.
  returned: always
  type: str
arn:
  description: Dashboard ARN (empty when it does not exist, or in check mode before creation).
  returned: always
  type: str
"""

import json
import re

try:  # noqa: SIM105 - the import guard ansible-test expects
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.manufacturing.platform.plugins.module_utils import aws_retry

NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


def read(client, name):
    try:
        got = client.get_dashboard(aws_retry=True, DashboardName=name)
    except is_boto3_error_code(("ResourceNotFound", "ResourceNotFoundException")):
        return None
    return {"arn": got.get("DashboardArn", ""), "body": json.loads(got.get("DashboardBody") or "{}")}


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        body=dict(type="dict"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec, supports_check_mode=True, required_if=[("state", "present", ["body"])]
    )
    name = module.params["name"]
    if not NAME_RE.fullmatch(name):
        module.fail_json(msg="dashboard name %r: only letters, digits, '-' and '_' (1-255 characters)" % name)
    client = aws_retry.client(module, "cloudwatch")
    result = {"changed": False, "name": name, "arn": ""}
    try:
        current = read(client, name)
        if module.params["state"] == "absent":
            if current is not None:
                result.update(changed=True, arn=current["arn"])
                if module._diff:
                    result["diff"] = {"before": current["body"], "after": {}}
                if not module.check_mode:
                    client.delete_dashboards(aws_retry=True, DashboardNames=[name])
            module.exit_json(**result)
        # Round-trip through JSON so the comparison sees what CloudWatch stores (numbers, key order).
        body = json.loads(json.dumps(module.params["body"], sort_keys=True))
        if current is not None:
            result["arn"] = current["arn"]
        if current is None or current["body"] != body:
            result["changed"] = True
            if module._diff:
                result["diff"] = {"before": current["body"] if current else {}, "after": body}
            if not module.check_mode:
                put = client.put_dashboard(
                    aws_retry=True,
                    DashboardName=name,
                    DashboardBody=json.dumps(body, sort_keys=True, separators=(",", ":")),
                )
                problems = put.get("DashboardValidationMessages") or []
                if problems:
                    module.warn("dashboard %s: %s" % (name, "; ".join(p.get("Message", "") for p in problems)))
                if current is None:
                    result["arn"] = (read(client, name) or {}).get("arn", "")
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Failed to converge dashboard %s" % name)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
