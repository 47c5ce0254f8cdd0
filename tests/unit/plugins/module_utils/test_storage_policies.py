"""Unit tests of the bucket policy generation and comparison (module_utils/storage_policies.py)."""

import json

from ansible_collections.manufacturing.platform.plugins.module_utils import storage_policies as sp

KEY = "arn:aws:kms:us-east-1:123456789012:key/k1"


def by_sid(policy):
    return {s["Sid"]: s for s in policy["Statement"]}


def test_data_bucket_policy():
    policy = sp.build_bucket_policy("b", secure_transport=True, require_kms=True, kms_key_arn=KEY,
                                    tenant_isolation={"prefix_root": "tenants/", "tag_key": "Tenant"})
    stmts = by_sid(policy)
    tls = stmts["DenyInsecureTransport"]
    assert tls["Effect"] == "Deny" and tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert tls["Resource"] == ["arn:aws:s3:::b", "arn:aws:s3:::b/*"]
    unenc = stmts["DenyNonKmsEncryptedPuts"]
    assert unenc["Action"] == "s3:PutObject"
    assert unenc["Condition"] == {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}}
    other_key = stmts["DenyPutsWithOtherKmsKey"]
    assert other_key["Condition"] == {
        "StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption-aws-kms-key-id": KEY}}
    iso = stmts["DenyTenantPrincipalsOutsideOwnPrefix"]
    assert iso["NotResource"] == ["arn:aws:s3:::b", "arn:aws:s3:::b/tenants/${aws:PrincipalTag/Tenant}/*"]
    assert iso["Condition"] == {"Null": {"aws:PrincipalTag/Tenant": "false"}}
    lst = stmts["DenyTenantPrincipalsListingOtherPrefixes"]
    assert lst["Condition"]["StringNotLike"] == {
        "s3:prefix": ["tenants/${aws:PrincipalTag/Tenant}/", "tenants/${aws:PrincipalTag/Tenant}/*"]}
    assert "DenyOtherTenantPrincipals" not in stmts
    assert "AllowS3ServerAccessLogDelivery" not in stmts


def test_dedicated_bucket_denies_other_tenants_whole_bucket():
    stmts = by_sid(sp.build_bucket_policy("b", tenant_isolation={"owner": "customer-123"}))
    deny = stmts["DenyOtherTenantPrincipals"]
    assert deny["Condition"]["StringNotEquals"] == {"aws:PrincipalTag/Tenant": "customer-123"}
    assert deny["Condition"]["Null"] == {"aws:PrincipalTag/Tenant": "false"}


def test_log_bucket_policy_first_statement_allows_log_delivery():
    policy = sp.build_bucket_policy("logs", secure_transport=True,
                                    log_delivery={"source_account": "123456789012", "source_bucket_prefix": "mfg-"})
    first = policy["Statement"][0]
    assert first["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert first["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"},
                                  "ArnLike": {"aws:SourceArn": "arn:aws:s3:::mfg-*"}}


def test_no_statements_means_no_policy():
    assert sp.build_bucket_policy("b") is None


def test_extra_statements_kept_but_generated_sids_replaced():
    extra = {"Statement": [{"Sid": "DenyInsecureTransport", "Effect": "Allow"}, {"Sid": "Mine", "Effect": "Deny"}]}
    stmts = by_sid(sp.build_bucket_policy("b", secure_transport=True, extra=json.dumps(extra)))
    assert stmts["DenyInsecureTransport"]["Effect"] == "Deny"
    assert stmts["Mine"] == {"Sid": "Mine", "Effect": "Deny"}


def test_normalised_comparison():
    a = {"Version": "2012-10-17", "Statement": [
        {"Sid": "x", "Effect": "Deny", "Principal": "*", "Action": ["s3:*"], "Resource": ["r2", "r1"]},
        {"Sid": "y", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:Get*", "Resource": "r"}]}
    b = {"Version": "2012-10-17", "Statement": [
        {"Sid": "y", "Effect": "Allow", "Principal": "*", "Action": ["s3:Get*"], "Resource": ["r"]},
        {"Resource": ["r1", "r2"], "Sid": "x", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*"}]}
    assert not sp.policies_differ(json.dumps(a), b)
    b["Statement"][1]["Resource"] = ["r1"]
    assert sp.policies_differ(a, b)
    assert sp.policies_differ(None, b)
