#!/usr/bin/python
# ruff: noqa: EXE001 - Ansible modules carry a shebang but are not executable files
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rds_proxy_auth
short_description: Register (or remove) database user secrets in an RDS Proxy's authentication list
version_added: 1.0.0
description:
  - Adds the given Secrets Manager secrets to (O(state=present)) or removes them from (O(state=absent)) the
    C(Auth) list of an RDS Proxy, keeping every other entry (the master user secret, other tenants' secrets).
  - One C(DescribeDBProxies) and at most one C(ModifyDBProxy) call per task, whatever the number of secrets.
  - The proxy's role must be allowed to read the secrets (the C(databases) role grants it the environment's
    database secrets).
  - Concurrent tasks on the same proxy must not overlap, because C(ModifyDBProxy) replaces the whole list; run
    them one host at a time (task keyword C(throttle) set to 1).
author:
  - Manufacturing Platform Team (@manufacturing-platform)
options:
  proxy_name:
    description: Name of the RDS Proxy.
    type: str
    required: true
  secret_arns:
    description:
      - ARNs of the secrets (one database user each).
      - With O(state=absent), secret names are accepted too (a teardown may not know the ARN's random suffix).
    type: list
    elements: str
    required: true
  iam_auth:
    description: Whether clients of these users must use IAM authentication through the proxy.
    type: str
    choices: [REQUIRED, DISABLED, ENABLED]
    default: REQUIRED
  client_password_auth_type:
    description: Password authentication the proxy uses towards PostgreSQL for these users.
    type: str
    choices: [POSTGRES_SCRAM_SHA_256, POSTGRES_MD5]
    default: POSTGRES_SCRAM_SHA_256
  state:
    description: Whether the secrets are in the list.
    type: str
    choices: [present, absent]
    default: present
  missing_proxy:
    description: What to do when the proxy does not exist (V(ignore) suits a teardown).
    type: str
    choices: [fail, ignore]
    default: fail
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
  - The moto emulator does not implement C(ModifyDBProxy); the module is tested with botocore's Stubber
    (docs/emulator-gaps.md).
"""

EXAMPLES = r"""
- name: Let tenant customer-456's database user connect through the shared proxy
  manufacturing.platform.rds_proxy_auth:
    proxy_name: mfg-prod-shared-postgres
    secret_arns: ["{{ tenant_secret.arn }}"]
  throttle: 1

- name: Remove it on teardown
  manufacturing.platform.rds_proxy_auth:
    proxy_name: mfg-prod-shared-postgres
    secret_arns: [mfg-prod/customer-456/postgres]  # a name is enough here
    state: absent
    missing_proxy: ignore
  throttle: 1
"""

RETURN = r"""
added:
  description: Secrets that were (would be) added or whose settings were (would be) corrected.
  returned: always
  type: list
  elements: str
  sample: ["arn:aws:secretsmanager:us-east-1:123456789012:secret:mfg-prod/customer-456/postgres-AbCdEf"]
removed:
  description: Secrets that were (would be) removed.
  returned: always
  type: list
  elements: str
  sample: []
auth_secret_arns:
  description: The proxy's secrets after the change (sorted).
  returned: always
  type: list
  elements: str
  sample: ["arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1234"]
"""

try:  # noqa: SIM105 - the import guard ansible-test expects
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.manufacturing.platform.plugins.module_utils import aws_retry


def auth_entry(arn, params):
    return {"AuthScheme": "SECRETS", "SecretArn": arn, "IAMAuth": params["iam_auth"],
            "ClientPasswordAuthType": params["client_password_auth_type"]}


def comparable(entry):
    """The settable fields of a DescribeDBProxies Auth entry (the response adds Description/UserName)."""
    keys = ("AuthScheme", "SecretArn", "IAMAuth", "ClientPasswordAuthType")
    return {k: entry[k] for k in keys if entry.get(k) is not None}


def refers_to(arn, ref):
    """Whether ``ref`` (an ARN or a secret name) designates the secret ``arn``."""
    if arn == ref:
        return True
    name = arn.split(":secret:", 1)[1] if ":secret:" in arn else ""
    return len(name) > 7 and name[-7] == "-" and name[:-7] == ref


def plan(current_auth, params):
    """(new Auth list, added, removed) for the wanted secrets; other entries are kept as they are."""
    wanted = sorted(set(params["secret_arns"]))
    entries = [comparable(e) for e in current_auth]
    by_arn = {e.get("SecretArn"): e for e in entries}
    added, removed = [], []
    if params["state"] == "present":
        for arn in wanted:
            entry = auth_entry(arn, params)
            current = by_arn.get(arn)
            if current is None or any(current.get(k) != v for k, v in entry.items()):
                added.append(arn)
                by_arn[arn] = entry
        known = {e.get("SecretArn") for e in entries}
        new = [by_arn[e.get("SecretArn")] for e in entries] + [by_arn[a] for a in added if a not in known]
    else:
        removed = sorted(arn for arn in by_arn if arn and any(refers_to(arn, ref) for ref in wanted))
        new = [e for e in entries if e.get("SecretArn") not in removed]
    return new, added, removed


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            proxy_name=dict(type="str", required=True),
            secret_arns=dict(type="list", elements="str", required=True, no_log=False),
            iam_auth=dict(type="str", choices=["REQUIRED", "DISABLED", "ENABLED"], default="REQUIRED"),
            client_password_auth_type=dict(type="str", choices=["POSTGRES_SCRAM_SHA_256", "POSTGRES_MD5"],
                                           default="POSTGRES_SCRAM_SHA_256"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            missing_proxy=dict(type="str", choices=["fail", "ignore"], default="fail"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    name = params["proxy_name"]
    client = aws_retry.client(module, "rds")
    result = {"changed": False, "added": [], "removed": [], "auth_secret_arns": []}
    try:
        try:
            proxy = client.describe_db_proxies(aws_retry=True, DBProxyName=name)["DBProxies"][0]
        except is_boto3_error_code("DBProxyNotFoundFault"):
            if params["missing_proxy"] == "ignore":
                module.exit_json(**result)
            module.fail_json(msg="rds_proxy_auth: RDS Proxy %s does not exist" % name)
        current = proxy.get("Auth") or []
        new, added, removed = plan(current, params)
        result.update(added=added, removed=removed, changed=bool(added or removed),
                      auth_secret_arns=sorted(e["SecretArn"] for e in new if e.get("SecretArn")))
        if module._diff:
            result["diff"] = {"before": {"auth_secret_arns": sorted(e["SecretArn"] for e in current
                                                                    if e.get("SecretArn"))},
                              "after": {"auth_secret_arns": result["auth_secret_arns"]}}
        if result["changed"] and not module.check_mode:
            if not new:
                module.fail_json(msg="rds_proxy_auth: refusing to leave RDS Proxy %s without any secret" % name,
                                 **result)
            client.modify_db_proxy(aws_retry=True, DBProxyName=name, Auth=new)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Failed to converge the authentication list of RDS Proxy %s" % name)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
