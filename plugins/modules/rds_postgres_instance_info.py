#!/usr/bin/python
# ruff: noqa: EXE001 - Ansible modules carry a shebang but are not executable files
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rds_postgres_instance_info
short_description: Read an RDS PostgreSQL instance and its RDS Proxy the way rds_postgres_instance returns them
version_added: 1.0.0
description:
  - Returns the instance (endpoint, class, encryption, master user secret ARN) and, with O(proxy_name), the
    proxy's endpoint, in the shape M(manufacturing.platform.rds_postgres_instance) returns them.
  - Empty results when they do not exist; this module never fails for a missing instance.
author:
  - Manufacturing Platform Team (@manufacturing-platform)
options:
  identifier:
    description: DB instance identifier.
    type: str
    required: true
  proxy_name:
    description: Name of the RDS Proxy to read as well.
    type: str
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
seealso:
  - module: manufacturing.platform.rds_postgres_instance
"""

EXAMPLES = r"""
- name: The shared instance a shared-tier tenant's database lives on
  manufacturing.platform.rds_postgres_instance_info:
    identifier: mfg-prod-shared-postgres
    proxy_name: mfg-prod-shared-postgres
  register: shared
"""

RETURN = r"""
instance:
  description: The instance; empty when it does not exist.
  returned: always
  type: dict
  sample: {identifier: mfg-prod-shared-postgres, address: mfg-prod-shared-postgres.x.rds.amazonaws.com, port: 5432,
           instance_class: db.r6g.large, multi_az: true, storage_encrypted: true, master_username: platform_admin,
           master_user_secret_arn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1-AbCdEf",
           arn: "arn:aws:rds:us-east-1:123456789012:db:mfg-prod-shared-postgres", resource_id: db-ABC,
           kms_key_id: "arn:aws:kms:us-east-1:123456789012:key/1", status: available}
proxy:
  description: The proxy (name, endpoint, arn); empty without O(proxy_name) or when it does not exist.
  returned: always
  type: dict
  sample: {name: mfg-prod-shared-postgres, endpoint: mfg-prod-shared-postgres.proxy-x.us-east-1.rds.amazonaws.com,
           arn: "arn:aws:rds:us-east-1:123456789012:db-proxy:prx-1"}
"""

try:  # noqa: SIM105 - the import guard ansible-test expects
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.manufacturing.platform.plugins.module_utils.rds_postgres import summarize_instance
from ansible_collections.manufacturing.platform.plugins.module_utils import aws_retry


def main():
    module = AnsibleAWSModule(argument_spec=dict(identifier=dict(type="str", required=True),
                                                 proxy_name=dict(type="str")),
                              supports_check_mode=True)
    client = aws_retry.client(module, "rds")
    result = {"changed": False, "instance": {}, "proxy": {}}
    try:
        try:
            found = client.describe_db_instances(aws_retry=True, DBInstanceIdentifier=module.params["identifier"])
            instances = found.get("DBInstances") or []
            result["instance"] = summarize_instance(instances[0] if instances else None)
        except is_boto3_error_code("DBInstanceNotFound"):
            pass
        if module.params["proxy_name"]:
            try:
                proxies = client.describe_db_proxies(aws_retry=True, DBProxyName=module.params["proxy_name"])
                proxy = (proxies.get("DBProxies") or [None])[0]
                if proxy:
                    result["proxy"] = {"name": proxy["DBProxyName"], "endpoint": proxy.get("Endpoint"),
                                       "arn": proxy.get("DBProxyArn")}
            except is_boto3_error_code("DBProxyNotFoundFault"):
                pass
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Failed to read RDS instance %s" % module.params["identifier"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
