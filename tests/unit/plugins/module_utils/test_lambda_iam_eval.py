"""Unit tests of the conservative policy evaluator used by the compute isolation tests."""

from __future__ import annotations

from ansible_collections.manufacturing.platform.plugins.module_utils import lambda_iam_eval as ev

KEY = "arn:aws:kms:us-east-1:1:key/k"
DOC = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
     "Resource": ["arn:aws:secretsmanager:us-east-1:1:secret:a-*"]},
    {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b",
     "Condition": {"StringLike": {"s3:prefix": ["tenants/a/", "tenants/a/*"]}}},
    {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": KEY,
     "Condition": {"StringEquals": {"kms:ViaService": "sns.us-east-1.amazonaws.com"},
                   "Bool": {"aws:SecureTransport": "true"}}},
    {"Effect": "Allow", "Action": "s3:*Object", "Resource": "arn:aws:s3:::b/tenants/a/*"},
    {"Effect": "Deny", "NotAction": "s3:GetObject", "Resource": "arn:aws:s3:::b/tenants/a/locked/*"},
]}


def test_actions_and_resources_with_wildcards():
    secret = "arn:aws:secretsmanager:us-east-1:1:secret:%s-pg-x"
    assert ev.evaluate(DOC, "secretsmanager:GetSecretValue", secret % "a") == ev.ALLOW
    assert ev.evaluate(DOC, "secretsmanager:getsecretvalue", secret % "b") == ev.IMPLICIT_DENY
    assert ev.evaluate(DOC, "s3:PutObject", "arn:aws:s3:::b/tenants/a/x") == ev.ALLOW
    assert ev.evaluate(DOC, "s3:PutObject", "arn:aws:s3:::b/tenants/b/x") == ev.IMPLICIT_DENY
    assert ev.evaluate(DOC, "s3:PutObject", "arn:aws:s3:::b/tenants/a/locked/x") == ev.DENY


def test_conditions_are_evaluated_when_the_context_has_the_key_else_assumed_to_hold():
    assert ev.evaluate(DOC, "s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": "tenants/b/"}) == ev.IMPLICIT_DENY
    assert ev.evaluate(DOC, "s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": "tenants/a/x"}) == ev.ALLOW
    assert ev.evaluate(DOC, "s3:ListBucket", "arn:aws:s3:::b") == ev.ALLOW  # unknown prefix: might
    # Bool is not modelled: assumed to hold for an Allow
    assert ev.evaluate(DOC, "kms:Decrypt", KEY, {"kms:ViaService": "sns.us-east-1.amazonaws.com"}) == ev.ALLOW
    assert ev.evaluate(DOC, "kms:Decrypt", KEY, {"kms:ViaService": "s3.us-east-1.amazonaws.com"}) == ev.IMPLICIT_DENY


def test_granted_lists_the_possible_actions():
    assert ev.granted(DOC, ["s3:GetObject", "s3:DeleteObject", "sns:Publish"], "arn:aws:s3:::b/tenants/a/k") == [
        "s3:GetObject", "s3:DeleteObject"]
