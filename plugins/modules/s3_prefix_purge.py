#!/usr/bin/python
# ruff: noqa: EXE001 - Ansible modules carry a shebang but are not executable files
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: s3_prefix_purge
short_description: Delete every object version and delete marker under one prefix of an S3 bucket
version_added: 1.0.0
description:
  - Deletes all versions and delete markers of the objects whose keys start with O(prefix), in batches of up to
    1000 keys per C(DeleteObjects) call, so a shared-tier tenant's data can be removed from the shared bucket
    without touching any other tenant's prefix.
  - The prefix must be a non-empty folder-like prefix ending with C(/) (C(tenants/customer-456/)), so that
    C(tenants/customer-4) can never match C(tenants/customer-45/...) by accident.
  - Nothing under the prefix, or a bucket that does not exist, is no change.
  - Check mode lists only and reports how many versions and delete markers would be deleted.
  - Fails, naming the keys, when S3 refuses to delete some of them (nothing is reported as done that was not).
author:
  - Manufacturing Platform Team (@manufacturing-platform)
options:
  bucket:
    description: Bucket name.
    type: str
    required: true
  prefix:
    description: Key prefix to purge; must end with C(/) and must not be C(/) alone.
    type: str
    required: true
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
      - The number of versions and delete markers under the prefix, before and after.
seealso:
  - module: manufacturing.platform.s3_bucket_settings
"""

EXAMPLES = r"""
- name: Remove tenant customer-456's data from the shared data-lake bucket
  manufacturing.platform.s3_prefix_purge:
    bucket: mfg-prod-data-123456789012
    prefix: tenants/customer-456/
"""

RETURN = r"""
deleted:
  description: Number of object versions and delete markers that were (would be) deleted.
  returned: always
  type: int
  sample: 1532
object_keys:
  description: Distinct object keys concerned (at most the first 100).
  returned: always
  type: list
  elements: str
  sample: [tenants/customer-456/telemetry/2026/11/25/part-0000.parquet]
"""

try:  # noqa: SIM105 - the import guard ansible-test expects
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.manufacturing.platform.plugins.module_utils import aws_retry

BATCH = 1000  # DeleteObjects limit


def versions_under(client, bucket, prefix):
    """Yield batches (lists of {Key, VersionId}) of every version and delete marker under the prefix."""
    paginator = aws_retry.retrying_paginator(client, "list_object_versions")
    batch = []
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("Versions", []) + page.get("DeleteMarkers", []):
            if not entry["Key"].startswith(prefix):  # defensive: S3 already filters
                continue
            batch.append({"Key": entry["Key"], "VersionId": entry["VersionId"]})
            if len(batch) == BATCH:
                yield batch
                batch = []
    if batch:
        yield batch


def purge(module, client):
    bucket, prefix = module.params["bucket"], module.params["prefix"]
    result = {"changed": False, "deleted": 0, "object_keys": []}
    keys = set()
    errors = []
    try:
        for batch in versions_under(client, bucket, prefix):
            keys.update(o["Key"] for o in batch)
            result["deleted"] += len(batch)
            if module.check_mode:
                continue
            response = client.delete_objects(aws_retry=True, Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
            errors.extend("%s (%s): %s %s" % (e.get("Key"), e.get("VersionId"), e.get("Code"), e.get("Message", ""))
                          for e in response.get("Errors", []))
    except is_boto3_error_code("NoSuchBucket"):
        return result
    result.update(changed=result["deleted"] > 0, object_keys=sorted(keys)[:100])
    if module._diff:
        where = "s3://%s/%s" % (bucket, prefix)
        result["diff"] = {"before": {"versions": result["deleted"]}, "after": {"versions": 0},
                          "before_header": where, "after_header": where}
    if errors:
        module.fail_json(msg="s3://%s/%s: %d of %d object versions could not be deleted: %s"
                         % (bucket, prefix, len(errors), result["deleted"], "; ".join(errors[:10])),
                         errors=errors, **result)
    return result


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(bucket=dict(type="str", required=True), prefix=dict(type="str", required=True)),
        supports_check_mode=True,
    )
    prefix = module.params["prefix"]
    if not prefix.endswith("/") or not prefix.strip("/"):
        module.fail_json(msg="s3_prefix_purge: prefix %r must be a non-empty prefix ending with '/'; "
                         "nothing was deleted" % prefix)
    client = aws_retry.client(module, "s3")
    try:
        result = purge(module, client)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Failed to purge s3://%s/%s" % (module.params["bucket"], prefix))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
