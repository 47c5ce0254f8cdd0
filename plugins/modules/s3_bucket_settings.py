#!/usr/bin/python
# ruff: noqa: EXE001 - Ansible modules carry a shebang but are not executable files
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: s3_bucket_settings
short_description: Create an S3 bucket and converge its security settings in one task, with check mode and diff
version_added: 1.0.0
description:
  - Creates the bucket if needed and converges default encryption (SSE-KMS with bucket key or SSE-S3),
    versioning, the public access block (all four settings), object ownership, server access logging, the
    bucket policy and the tags.
  - Every setting is read first and written only when it differs, so a re-run makes no mutating request.
  - Check mode reads the current settings and reports what would change without changing anything; diff
    mode returns the settings that differ, before and after.
  - The bucket policy can be generated from O(secure_transport_only), O(require_kms_encryption),
    O(tenant_isolation) and O(allow_log_delivery); statements from O(policy) are added to it.
  - Settings whose option is omitted are left alone.
  - With O(state=absent) the bucket is deleted; a bucket that still holds objects is only emptied
    (every version and delete marker) and deleted with O(force=true).
author:
  - Manufacturing Platform Team (@manufacturing-platform)
options:
  name:
    description: Bucket name.
    type: str
    required: true
  state:
    description: Whether the bucket should exist.
    type: str
    choices: [present, absent]
    default: present
  encryption:
    description: Default encryption.
    type: dict
    suboptions:
      sse_algorithm:
        description: V(aws:kms) for SSE-KMS, V(AES256) for SSE-S3 (required for a server access log target bucket).
        type: str
        choices: ['aws:kms', AES256]
        default: 'aws:kms'
      kms_key_id:
        description: ARN of the KMS key (with V(aws:kms)). Give the key ARN, not an alias, so the value compares equal.
        type: str
      bucket_key_enabled:
        description: Use an S3 Bucket Key (fewer KMS requests; the KMS encryption context becomes the bucket ARN).
        type: bool
        default: true
  versioning:
    description: V(true) enables versioning, V(false) suspends it (a versioned bucket cannot go back to unversioned).
    type: bool
  block_public_access:
    description: V(true) sets all four public access block settings.
    type: bool
  object_ownership:
    description: Object ownership; V(BucketOwnerEnforced) disables ACLs.
    type: str
    choices: [BucketOwnerEnforced, BucketOwnerPreferred, ObjectWriter]
  logging:
    description: Server access logging. An empty dict (V({})) turns logging off.
    type: dict
    suboptions:
      target_bucket:
        description: Bucket receiving the logs (same account and region).
        type: str
      target_prefix:
        description: Key prefix of the log objects.
        type: str
        default: ''
  secure_transport_only:
    description: Add a statement denying every request made without TLS (C(aws:SecureTransport=false)).
    type: bool
    default: false
  require_kms_encryption:
    description:
      - Add statements denying C(PutObject) without C(x-amz-server-side-encryption=aws:kms) (a missing header
        counts as unencrypted) and, when O(encryption.kms_key_id) is set, with another KMS key.
    type: bool
    default: false
  tenant_isolation:
    description:
      - Add statements denying principals tagged O(tenant_isolation.tag_key) everything outside
        C(<prefix_root><their tag value>/) and listing other prefixes. The same statements serve every
        tenant (policy variables), so adding a tenant does not change the policy.
    type: dict
    suboptions:
      prefix_root:
        description: Key prefix under which each tenant has its folder.
        type: str
        default: tenants/
      tag_key:
        description: Principal tag carrying the tenant id.
        type: str
        default: Tenant
      owner:
        description:
          - For a dedicated bucket, the owning tenant.
          - Principals tagged with another tenant are denied the whole bucket.
        type: str
  allow_log_delivery:
    description: Allow the S3 logging service to write server access logs into this bucket.
    type: dict
    suboptions:
      source_account:
        description: Account whose buckets may deliver logs here (C(aws:SourceAccount)).
        type: str
        required: true
      source_bucket_prefix:
        description: Only buckets whose name starts with this may deliver logs (C(aws:SourceArn)).
        type: str
  policy:
    description:
      - Additional bucket policy statements (a policy document). Statements whose C(Sid) is one of the
        generated ones are ignored.
      - When no statement results from the options above and O(policy) is omitted, the policy is left alone.
    type: json
  tags:
    description: Bucket tags.
    type: dict
  purge_tags:
    description: Remove tags not listed in O(tags).
    type: bool
    default: true
  force:
    description:
      - With O(state=absent), delete the bucket policy (a C(Deny) in it must not stop the emptying), then every
        object version and delete marker, then the bucket. Objects S3 refuses to delete fail the task with their
        keys and reasons.
    type: bool
    default: false
notes:
  - Supports check mode and diff mode.
requirements:
  - python >= 3.9
  - boto3
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Data-lake bucket
  manufacturing.platform.s3_bucket_settings:
    name: mfg-prod-data-123456789012
    encryption:
      kms_key_id: "{{ storage_kms_key_arn }}"
    versioning: true
    block_public_access: true
    object_ownership: BucketOwnerEnforced
    logging:
      target_bucket: mfg-prod-s3-access-logs-123456789012
      target_prefix: mfg-prod-data-123456789012/
    secure_transport_only: true
    require_kms_encryption: true
    tenant_isolation:
      prefix_root: tenants/
    tags:
      Environment: prod

- name: Log bucket (server access logs need SSE-S3)
  manufacturing.platform.s3_bucket_settings:
    name: mfg-prod-s3-access-logs-123456789012
    encryption:
      sse_algorithm: AES256
    block_public_access: true
    object_ownership: BucketOwnerEnforced
    secure_transport_only: true
    allow_log_delivery:
      source_account: "123456789012"
      source_bucket_prefix: mfg-prod-
"""

RETURN = r"""
bucket:
  description: The bucket.
  returned: always
  type: dict
  contains:
    name:
      description: Bucket name.
      type: str
      sample: mfg-prod-data-123456789012
    arn:
      description: Bucket ARN.
      type: str
      sample: arn:aws:s3:::mfg-prod-data-123456789012
    exists:
      description: Whether the bucket exists after the task (in check mode, would exist).
      type: bool
changes:
  description: Names of the settings that were (or in check mode would be) changed, in order.
  returned: always
  type: list
  elements: str
  sample: [create, encryption, policy]
policy:
  description: The bucket policy the module wants (generated plus O(policy) statements).
  returned: when a policy is managed
  type: dict
"""

import json

try:  # noqa: SIM105 - the import guard ansible-test expects
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.manufacturing.platform.plugins.module_utils.storage_policies import (
    build_bucket_policy,
    normalize_policy,
)
from ansible_collections.manufacturing.platform.plugins.module_utils import aws_retry

MISSING = (
    "ServerSideEncryptionConfigurationNotFoundError",
    "NoSuchPublicAccessBlockConfiguration",
    "OwnershipControlsNotFoundError",
    "NoSuchBucketPolicy",
    "NoSuchTagSet",
    "NoSuchTagSetError",
)
ALL_BLOCKED = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
               "RestrictPublicBuckets": True}


def _get(call, missing=None, **kwargs):
    """Call a Get* API; a 'not configured' error code means ``missing``."""
    try:
        return call(aws_retry=True, **kwargs)
    except is_boto3_error_code(list(MISSING)):
        return missing


def bucket_exists(client, name):
    try:
        client.head_bucket(aws_retry=True, Bucket=name)
        return True
    except is_boto3_error_code(["404", "NoSuchBucket", "NotFound"]):
        return False


def read_settings(client, name):
    current = {}
    enc = _get(client.get_bucket_encryption, Bucket=name)
    if enc:
        rule = enc["ServerSideEncryptionConfiguration"]["Rules"][0]
        default = rule.get("ApplyServerSideEncryptionByDefault", {})
        current["encryption"] = {
            "sse_algorithm": default.get("SSEAlgorithm"),
            "kms_key_id": default.get("KMSMasterKeyID"),
            "bucket_key_enabled": bool(rule.get("BucketKeyEnabled", False)),
        }
    else:
        current["encryption"] = None
    current["versioning"] = client.get_bucket_versioning(aws_retry=True, Bucket=name).get("Status")
    pab = _get(client.get_public_access_block, Bucket=name)
    current["block_public_access"] = (pab or {}).get("PublicAccessBlockConfiguration")
    own = _get(client.get_bucket_ownership_controls, Bucket=name)
    current["object_ownership"] = own["OwnershipControls"]["Rules"][0]["ObjectOwnership"] if own else None
    log = client.get_bucket_logging(aws_retry=True, Bucket=name).get("LoggingEnabled")
    current["logging"] = ({"target_bucket": log["TargetBucket"], "target_prefix": log.get("TargetPrefix", "")}
                          if log else {})
    pol = _get(client.get_bucket_policy, Bucket=name)
    current["policy"] = json.loads(pol["Policy"]) if pol else None
    tags = _get(client.get_bucket_tagging, Bucket=name)
    current["tags"] = {t["Key"]: t["Value"] for t in (tags or {}).get("TagSet", [])}
    return current


def desired_settings(module, current):
    p = module.params
    want = {}
    if p["encryption"] is not None:
        e = p["encryption"]
        kms = e["sse_algorithm"] == "aws:kms"
        if kms and not e.get("kms_key_id"):
            module.fail_json(msg="encryption.kms_key_id is required with sse_algorithm=aws:kms")
        want["encryption"] = {
            "sse_algorithm": e["sse_algorithm"],
            "kms_key_id": e["kms_key_id"] if kms else None,
            "bucket_key_enabled": bool(e["bucket_key_enabled"]) if kms else False,
        }
    if p["versioning"] is not None:
        want["versioning"] = "Enabled" if p["versioning"] else ("Suspended" if current.get("versioning") else None)
    if p["block_public_access"] is not None:
        want["block_public_access"] = dict(ALL_BLOCKED) if p["block_public_access"] else {k: False for k in ALL_BLOCKED}
    if p["object_ownership"] is not None:
        want["object_ownership"] = p["object_ownership"]
    if p["logging"] is not None:
        lg = p["logging"]
        want["logging"] = {"target_bucket": lg["target_bucket"], "target_prefix": lg.get("target_prefix") or ""} \
            if lg.get("target_bucket") else {}
    kms_key = (p["encryption"] or {}).get("kms_key_id")
    policy = build_bucket_policy(
        p["name"],
        secure_transport=p["secure_transport_only"],
        require_kms=p["require_kms_encryption"],
        kms_key_arn=kms_key,
        tenant_isolation=p["tenant_isolation"],
        log_delivery=p["allow_log_delivery"],
        extra=p["policy"],
    )
    if policy is not None:
        want["policy"] = policy
    if p["tags"] is not None:
        tags = {k: str(v) for k, v in p["tags"].items()}
        want["tags"] = tags if p["purge_tags"] else dict(current.get("tags") or {}, **tags)
    return want


def _same(key, current, wanted):
    if key == "policy":
        return normalize_policy(current) == normalize_policy(wanted)
    if key == "encryption" and current and wanted:
        return current == wanted
    return current == wanted


def apply(client, name, key, value):
    if key == "encryption":
        default = {"SSEAlgorithm": value["sse_algorithm"]}
        if value["kms_key_id"]:
            default["KMSMasterKeyID"] = value["kms_key_id"]
        client.put_bucket_encryption(aws_retry=True, Bucket=name, ServerSideEncryptionConfiguration={"Rules": [
            {"ApplyServerSideEncryptionByDefault": default, "BucketKeyEnabled": value["bucket_key_enabled"]}]})
    elif key == "versioning":
        client.put_bucket_versioning(aws_retry=True, Bucket=name, VersioningConfiguration={"Status": value})
    elif key == "block_public_access":
        client.put_public_access_block(aws_retry=True, Bucket=name, PublicAccessBlockConfiguration=value)
    elif key == "object_ownership":
        client.put_bucket_ownership_controls(aws_retry=True, Bucket=name,
                                             OwnershipControls={"Rules": [{"ObjectOwnership": value}]})
    elif key == "logging":
        status = {"LoggingEnabled": {"TargetBucket": value["target_bucket"], "TargetPrefix": value["target_prefix"]}} \
            if value else {}
        client.put_bucket_logging(aws_retry=True, Bucket=name, BucketLoggingStatus=status)
    elif key == "policy":
        client.put_bucket_policy(aws_retry=True, Bucket=name, Policy=json.dumps(value))
    elif key == "tags":
        if value:
            client.put_bucket_tagging(aws_retry=True, Bucket=name,
                                      Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in sorted(value.items())]})
        else:
            client.delete_bucket_tagging(aws_retry=True, Bucket=name)


# Order matters: ownership before policy (ACL-less), encryption before anything writes objects,
# the policy (which may deny) last but one.
ORDER = ("object_ownership", "block_public_access", "encryption", "versioning", "logging", "policy", "tags")


def ensure_present(module, client):
    name = module.params["name"]
    exists = bucket_exists(client, name)
    changes, before, after = [], {}, {}
    if exists:
        current = read_settings(client, name)
    else:
        changes.append("create")
        current = {"encryption": None, "versioning": None, "block_public_access": None, "object_ownership": None,
                   "logging": {}, "policy": None, "tags": {}}
        before["exists"], after["exists"] = False, True
    want = desired_settings(module, current)
    for key in ORDER:
        if key in want and not _same(key, current.get(key), want[key]):
            changes.append(key)
            before[key], after[key] = current.get(key), want[key]
    if changes and not module.check_mode:
        if not exists:
            kwargs = {"Bucket": name}
            region = module.region
            if region and region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
            if want.get("object_ownership"):
                kwargs["ObjectOwnership"] = want["object_ownership"]
            try:
                client.create_bucket(aws_retry=True, **kwargs)
            except is_boto3_error_code("BucketAlreadyOwnedByYou"):
                pass
            aws_retry.retrying_waiter(client, "bucket_exists").wait(Bucket=name)
        for key in changes:
            if key == "create":
                continue
            if key == "object_ownership" and not exists:
                continue  # set by CreateBucket
            apply(client, name, key, want[key])
    result = {
        "changed": bool(changes),
        "changes": changes,
        "bucket": {"name": name, "arn": "arn:aws:s3:::%s" % name, "exists": True},
    }
    if "policy" in want:
        result["policy"] = want["policy"]
    if module._diff:
        result["diff"] = {"before": before, "after": after, "before_header": "s3://%s" % name,
                          "after_header": "s3://%s" % name}
    return result


def empty_bucket(client, name):
    """Delete every object version and delete marker; return the errors S3 reported (key, code, message)."""
    errors = []
    paginator = aws_retry.retrying_paginator(client, "list_object_versions")
    for page in paginator.paginate(Bucket=name):
        objects = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                   for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        if objects:
            response = client.delete_objects(aws_retry=True, Bucket=name, Delete={"Objects": objects, "Quiet": True})
            errors.extend("%s: %s %s" % (e.get("Key"), e.get("Code"), e.get("Message", ""))
                          for e in response.get("Errors", []))
    return errors


def ensure_absent(module, client):
    name = module.params["name"]
    bucket = {"name": name, "arn": "arn:aws:s3:::%s" % name, "exists": False}
    result = {"changed": False, "changes": [], "bucket": bucket}
    if not bucket_exists(client, name):
        return result
    result.update(changed=True, changes=["delete"])
    if module._diff:
        result["diff"] = {"before": {"exists": True}, "after": {"exists": False}}
    if module.check_mode:
        return result
    if module.params["force"]:
        client.delete_bucket_policy(aws_retry=True, Bucket=name)
        errors = empty_bucket(client, name)
        if errors:
            module.fail_json(msg="bucket %s: %d object versions could not be deleted: %s"
                             % (name, len(errors), "; ".join(errors[:10])), errors=errors)
    try:
        client.delete_bucket(aws_retry=True, Bucket=name)
    except is_boto3_error_code("BucketNotEmpty"):
        module.fail_json(msg="bucket %s is not empty; set force=true to delete every object version first" % name)
    return result


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        encryption=dict(type="dict", options=dict(
            sse_algorithm=dict(type="str", choices=["aws:kms", "AES256"], default="aws:kms"),
            kms_key_id=dict(type="str"),
            bucket_key_enabled=dict(type="bool", default=True),
        )),
        versioning=dict(type="bool"),
        block_public_access=dict(type="bool"),
        object_ownership=dict(type="str", choices=["BucketOwnerEnforced", "BucketOwnerPreferred", "ObjectWriter"]),
        logging=dict(type="dict", options=dict(
            target_bucket=dict(type="str"),
            target_prefix=dict(type="str", default=""),
        )),
        secure_transport_only=dict(type="bool", default=False),
        require_kms_encryption=dict(type="bool", default=False),
        tenant_isolation=dict(type="dict", options=dict(
            prefix_root=dict(type="str", default="tenants/"),
            tag_key=dict(type="str", default="Tenant", no_log=False),
            owner=dict(type="str"),
        )),
        allow_log_delivery=dict(type="dict", options=dict(
            source_account=dict(type="str", required=True),
            source_bucket_prefix=dict(type="str"),
        )),
        policy=dict(type="json"),
        tags=dict(type="dict"),
        purge_tags=dict(type="bool", default=True),
        force=dict(type="bool", default=False),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    client = aws_retry.client(module, "s3")
    try:
        if module.params["state"] == "present":
            result = ensure_present(module, client)
        else:
            result = ensure_absent(module, client)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError, botocore.exceptions.WaiterError) as e:
        module.fail_json_aws(e, msg="Failed to converge bucket %s" % module.params["name"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
