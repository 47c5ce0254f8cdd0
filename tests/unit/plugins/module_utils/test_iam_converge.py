"""Unit tests of plugins/module_utils/iam_converge.py (policy documents, tags, ARNs of the IAM modules)."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from ansible_collections.manufacturing.platform.plugins.module_utils import iam_converge as ic

DOC = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}


def test_documents_compare_as_canonical_json_whatever_their_form():
    text = json.dumps(DOC, indent=2)
    assert ic.same_document(DOC, text)
    assert ic.same_document(DOC, quote(json.dumps(DOC)))
    assert not ic.same_document(DOC, dict(DOC, Version="2008-10-17"))


def test_a_document_must_be_a_json_object():
    with pytest.raises(ic.DocumentError):
        ic.load_document("[1, 2]")
    with pytest.raises(ic.DocumentError):
        ic.load_document(42)


def test_tag_changes_ignore_aws_keys_and_follow_purge():
    current = {"aws:cloudformation:stack-name": "x", "Env": "old", "Extra": "y"}
    assert ic.tag_changes(current, {"Env": "new"}) == ({"Env": "new"}, ["Extra"])
    assert ic.tag_changes(current, {"Env": "new"}, purge=False) == ({"Env": "new"}, [])
    assert ic.tag_changes(current, None) == ({}, [])
    assert ic.tag_changes(current, {"aws:x": "1", "Env": "old", "Extra": "y"}) == ({}, [])


def test_arns_and_paths():
    assert ic.normalize_path("") == "/" and ic.normalize_path("a/b") == "/a/b/"
    assert ic.iam_arn("aws", "123456789012", "policy", "/", "p") == "arn:aws:iam::123456789012:policy/p"
    assert ic.iam_arn("aws-cn", "1", "role", "x", "r") == "arn:aws-cn:iam::1:role/x/r"
    assert ic.partition_of_region("cn-north-1") == "aws-cn" and ic.partition_of_region("eu-west-1") == "aws"
