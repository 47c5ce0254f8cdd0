# -*- coding: utf-8 -*-
# Copyright: contributors to manufacturing.platform
# Apache License 2.0 (see LICENSE)
"""Fleet-wide preflight checks of the storage role (loaded by fleet.role_checks).

Pure data: lifecycle transitions (storage classes, day ordering, S3's minimum spacing), the other lifecycle day
counts, and the bucket names the role will create (length and charset; the names include the account id or
``storage_bucket_suffix`` so they are globally unique).
"""

from __future__ import annotations

import re

from ansible_collections.manufacturing.platform.plugins.module_utils.storage_lifecycle import validate_transitions
from ansible_collections.manufacturing.platform.plugins.plugin_utils.fleet import PreflightError, collapse

VARS = (
    "platform_prefix",
    "platform_aws_account_id",
    "storage_bucket_suffix",
    "storage_lifecycle_transitions",
    "storage_noncurrent_version_expiration_days",
    "storage_abort_incomplete_multipart_days",
    "storage_access_log_expiration_days",
)
DAY_FIELDS = (
    "storage_noncurrent_version_expiration_days",
    "storage_abort_incomplete_multipart_days",
    "storage_access_log_expiration_days",
)
# S3 general purpose bucket names; dots are excluded on purpose (they break TLS for virtual-hosted requests).
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
SUFFIX_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
ACCOUNT_PLACEHOLDER = "0" * 12  # an account id always has 12 digits


def bucket_names(prefix, suffix, tenant_id=None, dedicated=False):
    """The names the role uses (roles/storage/vars/main.yml builds the same)."""
    names = {"shared bucket": "%s-data-%s" % (prefix, suffix),
             "access-log bucket": "%s-s3-access-logs-%s" % (prefix, suffix)}
    if dedicated and tenant_id:
        names = {"dedicated bucket": "%s-%s-data-%s" % (prefix, tenant_id, suffix)}
    return names


def bucket_name_problem(name):
    if len(name) < 3 or len(name) > 63:
        return "bucket name %r is %d characters; S3 allows 3-63" % (name, len(name))
    if not BUCKET_RE.fullmatch(name):
        return ("bucket name %r is not valid: lowercase letters, digits and hyphens, starting and ending with a "
                "letter or digit" % name)
    if name.endswith(("-s3alias", "--ol-s3", "--x-s3")) or name.startswith(("xn--", "sthree-")):
        return "bucket name %r uses a prefix or suffix S3 reserves" % name
    return None


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def check(env, hosts, tenants, shared):
    errors = []
    for host in sorted(hosts):
        hvars = hosts[host]
        is_tenant = host in tenants
        if not is_tenant and host not in shared:
            continue
        if "storage_lifecycle_transitions" in hvars:
            for field, problem in validate_transitions(hvars["storage_lifecycle_transitions"],
                                                       "storage_lifecycle_transitions"):
                errors.append(PreflightError(host, field, problem))
        for field in DAY_FIELDS:
            if field not in hvars:
                continue
            value = hvars[field]
            if not _is_int(value):
                errors.append(PreflightError(host, field, "%r is not a whole number of days" % (value,)))
            elif value < 1:
                errors.append(PreflightError(host, field, "%d must be at least 1 day" % value))

        suffix = hvars.get("storage_bucket_suffix") or ""
        if not isinstance(suffix, str) or (suffix and not SUFFIX_RE.fullmatch(suffix)):
            problem = ("%r is not valid in a bucket name: lowercase letters, digits and hyphens, not starting or "
                       "ending with a hyphen" % (suffix,))
            errors.append(PreflightError(host, "storage_bucket_suffix", problem))
            continue
        prefix = hvars.get("platform_prefix")
        if not isinstance(prefix, str):
            continue
        if not suffix:
            account = str(hvars.get("platform_aws_account_id") or "") or ACCOUNT_PLACEHOLDER
            suffix = account
        tenant_id = hvars.get("tenant_id")
        dedicated = is_tenant and hvars.get("tenancy_tier") == "dedicated"
        if is_tenant and not dedicated:
            continue  # shared-tier tenants use the shared layer's buckets
        if is_tenant and not isinstance(tenant_id, str):
            continue  # reported by the tenant checks
        for what, name in bucket_names(prefix, suffix, tenant_id, dedicated).items():
            problem = bucket_name_problem(name)
            if problem:
                field = "storage_bucket_suffix" if hvars.get("storage_bucket_suffix") else (
                    "tenant_id" if dedicated else "platform_prefix")
                errors.append(PreflightError(host, field, "%s: %s" % (what, problem)))
    # A problem on every host comes from group_vars: say it once.
    return collapse(errors, list(hosts))
