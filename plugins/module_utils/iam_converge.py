# -*- coding: utf-8 -*-
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared helpers of the iam_roles and iam_managed_policies modules: policy documents, tags, ARNs.

Policy documents come from the user as a dict or JSON text and from IAM as a dict (botocore decodes the URL-encoded
JSON of GetRole, GetRolePolicy and GetPolicyVersion) or, with other clients, as URL-encoded JSON text. Both sides are
reduced to one canonical JSON text (sorted keys, no whitespace) before they are compared, so re-serialisation by IAM
never counts as a change.
"""

from __future__ import annotations

import json
from urllib.parse import unquote


class DocumentError(ValueError):
    """A policy document that is neither a dict nor JSON text of an object."""


def load_document(value):
    """The policy document ``value`` (dict, JSON text or URL-encoded JSON text) as a dict."""
    if isinstance(value, dict):
        return value
    if not isinstance(value, str):
        raise DocumentError("a policy document must be a dict or JSON text, got %s" % type(value).__name__)
    text = value.strip()
    for candidate in (text, unquote(text)):
        try:
            loaded = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(loaded, dict):
            return loaded
    raise DocumentError("not a JSON object: %s" % text[:200])


def canonical(value):
    """Canonical JSON text of a policy document (for comparison); None stays None."""
    if value is None:
        return None
    return json.dumps(load_document(value), sort_keys=True, separators=(",", ":"))


def same_document(left, right):
    return canonical(left) == canonical(right)


def tags_dict(tag_list):
    """IAM's [{Key, Value}] as a dict."""
    return {t["Key"]: t.get("Value", "") for t in tag_list or []}


def tag_changes(current, wanted, purge=True):
    """(tags to set {key: value}, keys to remove) that turn ``current`` into ``wanted``.

    Keys starting with ``aws:`` belong to AWS: never set, never removed. ``wanted=None`` leaves the tags alone;
    without ``purge`` only missing or different tags are set.
    """
    if wanted is None:
        return {}, []
    wanted = {str(k): "" if v is None else str(v) for k, v in wanted.items() if not str(k).startswith("aws:")}
    current = {k: v for k, v in (current or {}).items() if not k.startswith("aws:")}
    to_set = {k: v for k, v in wanted.items() if current.get(k) != v}
    to_remove = sorted(k for k in current if k not in wanted) if purge else []
    return to_set, to_remove


def boto_tags(tags):
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def normalize_path(path):
    """IAM path with leading and trailing slash ('' and None -> '/')."""
    path = path or "/"
    if not path.startswith("/"):
        path = "/" + path
    if not path.endswith("/"):
        path += "/"
    return path


def partition_of_region(region):
    region = region or ""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("us-iso-"):
        return "aws-iso"
    if region.startswith("us-isob-"):
        return "aws-iso-b"
    return "aws"


def account_and_partition(module, sts_client_factory):
    """(account id, partition): the ``account_id`` option (partition from the region) or STS GetCallerIdentity."""
    account = module.params.get("account_id")
    if account:
        return str(account), partition_of_region(module.region)
    identity = sts_client_factory().get_caller_identity(aws_retry=True)
    arn = identity.get("Arn", "")
    partition = arn.split(":")[1] if arn.count(":") >= 2 else partition_of_region(module.region)
    return identity["Account"], partition


def iam_arn(partition, account, kind, path, name):
    """arn:<partition>:iam::<account>:<kind><path><name> (kind: role, policy)."""
    return "arn:%s:iam::%s:%s%s%s" % (partition, account, kind, normalize_path(path), name)


def error_code(error):
    return getattr(error, "response", {}).get("Error", {}).get("Code", "")
