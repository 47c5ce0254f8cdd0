# -*- coding: utf-8 -*-
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bucket policy statements of the data lake (pure functions, unit tested).

Statement IDs are stable: the module replaces the statements it generates (by Sid) and keeps the rest.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

GENERATED_SIDS = (
    "AllowS3ServerAccessLogDelivery",
    "DenyInsecureTransport",
    "DenyNonKmsEncryptedPuts",
    "DenyPutsWithOtherKmsKey",
    "DenyTenantPrincipalsOutsideOwnPrefix",
    "DenyTenantPrincipalsListingOtherPrefixes",
    "DenyOtherTenantPrincipals",
)
EVERYONE = {"AWS": "*"}


def bucket_arn(bucket, partition="aws"):
    return "arn:%s:s3:::%s" % (partition, bucket)


def secure_transport_statement(bucket, partition="aws"):
    arn = bucket_arn(bucket, partition)
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": EVERYONE,
        "Action": "s3:*",
        "Resource": [arn, arn + "/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def kms_put_statements(bucket, kms_key_arn=None, partition="aws"):
    """Deny puts that do not ask for SSE-KMS (a missing header counts), and puts naming another key."""
    objects = bucket_arn(bucket, partition) + "/*"
    statements = [{
        "Sid": "DenyNonKmsEncryptedPuts",
        "Effect": "Deny",
        "Principal": EVERYONE,
        "Action": "s3:PutObject",
        "Resource": objects,
        "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}},
    }]
    if kms_key_arn:
        statements.append({
            "Sid": "DenyPutsWithOtherKmsKey",
            "Effect": "Deny",
            "Principal": EVERYONE,
            "Action": "s3:PutObject",
            "Resource": objects,
            "Condition": {"StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption-aws-kms-key-id": kms_key_arn}},
        })
    return statements


def tenant_isolation_statements(bucket, prefix_root="tenants/", tag_key="Tenant", owner=None, partition="aws"):
    """Deny principals tagged ``<tag_key>=<tenant>`` everything outside ``<prefix_root><tenant>/``.

    The statements are the same for every tenant (policy variables), so adding a tenant never rewrites the
    bucket policy and a ``--limit``-ed tenant run never needs to touch it. With ``owner`` (a dedicated
    bucket) every principal tagged with another tenant is denied the whole bucket.
    """
    arn = bucket_arn(bucket, partition)
    tag = "${aws:PrincipalTag/%s}" % tag_key
    tagged = {"Null": {"aws:PrincipalTag/%s" % tag_key: "false"}}
    statements = [
        {
            "Sid": "DenyTenantPrincipalsOutsideOwnPrefix",
            "Effect": "Deny",
            "Principal": EVERYONE,
            "Action": "s3:*",
            "NotResource": [arn, "%s/%s%s/*" % (arn, prefix_root, tag)],
            "Condition": tagged,
        },
        {
            "Sid": "DenyTenantPrincipalsListingOtherPrefixes",
            "Effect": "Deny",
            "Principal": EVERYONE,
            "Action": ["s3:ListBucket", "s3:ListBucketVersions"],
            "Resource": arn,
            "Condition": dict(tagged, StringNotLike={"s3:prefix": ["%s%s/" % (prefix_root, tag),
                                                                   "%s%s/*" % (prefix_root, tag)]}),
        },
    ]
    if owner:
        statements.append({
            "Sid": "DenyOtherTenantPrincipals",
            "Effect": "Deny",
            "Principal": EVERYONE,
            "Action": "s3:*",
            "Resource": [arn, arn + "/*"],
            "Condition": dict(tagged, StringNotEquals={"aws:PrincipalTag/%s" % tag_key: owner}),
        })
    return statements


def log_delivery_statement(bucket, source_account, source_bucket_prefix=None, partition="aws"):
    """Let S3 server access logging write into this bucket (needed with BucketOwnerEnforced: no ACLs)."""
    condition = {"StringEquals": {"aws:SourceAccount": str(source_account)}}
    if source_bucket_prefix:
        condition["ArnLike"] = {"aws:SourceArn": bucket_arn(source_bucket_prefix, partition) + "*"}
    return {
        "Sid": "AllowS3ServerAccessLogDelivery",
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": bucket_arn(bucket, partition) + "/*",
        "Condition": condition,
    }


def build_bucket_policy(bucket, secure_transport=False, require_kms=False, kms_key_arn=None, tenant_isolation=None,
                        log_delivery=None, extra=None, partition="aws"):
    """The whole bucket policy (or None when there is nothing to put in it).

    ``extra`` is a policy document (dict or JSON) whose statements are kept, except those with a generated Sid.
    """
    statements = []
    if log_delivery:
        # First: moto's logging permission check stops at the first statement it cannot read.
        statements.append(log_delivery_statement(bucket, log_delivery["source_account"],
                                                 log_delivery.get("source_bucket_prefix"), partition))
    if secure_transport:
        statements.append(secure_transport_statement(bucket, partition))
    if require_kms:
        statements.extend(kms_put_statements(bucket, kms_key_arn, partition))
    if tenant_isolation:
        statements.extend(tenant_isolation_statements(bucket, tenant_isolation.get("prefix_root") or "tenants/",
                                                      tenant_isolation.get("tag_key") or "Tenant",
                                                      tenant_isolation.get("owner"), partition))
    if extra:
        if isinstance(extra, str):
            extra = json.loads(extra)
        extra_statements = extra.get("Statement", [])
        if isinstance(extra_statements, dict):
            extra_statements = [extra_statements]
        statements.extend(s for s in extra_statements if s.get("Sid") not in GENERATED_SIDS)
    if not statements:
        return None
    return {"Version": "2012-10-17", "Statement": statements}


def _norm(value):
    """Order-insensitive canonical form of a policy fragment (single values == one-element lists)."""
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [_norm(v) for v in value]
        if len(items) == 1:
            return items[0]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, bool):
        return str(value).lower()
    return value if isinstance(value, str) else str(value)


def normalize_policy(policy):
    """Canonical form of a policy document for comparison (``"*"`` principal == ``{"AWS": "*"}``)."""
    if policy is None:
        return None
    if isinstance(policy, str):
        policy = json.loads(policy)
    policy = dict(policy)
    statements = policy.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    norm = []
    for statement in statements:
        statement = dict(statement)
        if statement.get("Principal") == "*":
            statement["Principal"] = EVERYONE
        norm.append(_norm(statement))
    policy["Statement"] = sorted(norm, key=lambda s: json.dumps(s, sort_keys=True))
    policy.setdefault("Version", "2008-10-17")
    policy.pop("Id", None) if policy.get("Id") is None else None
    return policy


def policies_differ(current, desired):
    return normalize_policy(current) != normalize_policy(desired)
