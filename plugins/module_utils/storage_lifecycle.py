# -*- coding: utf-8 -*-
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""S3 lifecycle rules: build from module input, normalise what S3 returns, compare, merge, validate.

Pure functions over plain data (no boto3), unit tested in tests/unit/plugins/module_utils/test_storage_lifecycle.py.

Every rule is brought into one canonical form so that a rule read back from S3 compares equal to the rule
that was written: the filter in its shortest equivalent form (legacy top-level ``Prefix``, ``Filter: {}``,
``Filter: {Prefix: ""}`` and a missing filter are the same thing), transitions sorted by age, tags sorted,
defaults S3 adds (``ExpiredObjectDeleteMarker: false``) dropped, numbers as ints.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

# S3's storage-class waterfall: an object may only move down this list.
STORAGE_CLASS_ORDER = (
    "STANDARD_IA",
    "INTELLIGENT_TIERING",
    "ONEZONE_IA",
    "GLACIER_IR",
    "GLACIER",
    "DEEP_ARCHIVE",
)
STORAGE_CLASSES = frozenset(STORAGE_CLASS_ORDER)
# Minimum age (days since creation) S3 accepts for a transition into the class.
MIN_TRANSITION_DAYS = {"STANDARD_IA": 30, "ONEZONE_IA": 30}
# Minimum number of days an object must stay in a class before the next transition (S3 rejects less).
MIN_DAYS_IN_CLASS = {"STANDARD_IA": 30, "ONEZONE_IA": 30, "GLACIER_IR": 90, "GLACIER": 90}


def _as_int(value):
    if isinstance(value, bool):
        raise ValueError("%r is not an integer" % (value,))
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ValueError("%r is not an integer" % (value,))


def _canonical_filter(prefix, tags, size_gt=None, size_lt=None):
    tags = sorted(({"Key": t["Key"], "Value": t.get("Value", "")} for t in tags or []), key=lambda t: t["Key"])
    parts = {}
    if prefix:
        parts["Prefix"] = prefix
    if tags:
        parts["Tags"] = tags
    if size_gt is not None:
        parts["ObjectSizeGreaterThan"] = int(size_gt)
    if size_lt is not None:
        parts["ObjectSizeLessThan"] = int(size_lt)
    if len(parts) <= 1 and len(tags) <= 1:
        if "Tags" in parts:
            return {"Tag": tags[0]}
        if not parts:
            return {"Prefix": ""}
        return parts
    return {"And": parts}


def _filter_parts(rule):
    """(prefix, tags, size_gt, size_lt) of an S3 rule in any of its filter forms."""
    if "Filter" not in rule:
        return rule.get("Prefix", ""), [], None, None
    flt = rule.get("Filter") or {}
    if "And" in flt:
        a = flt["And"] or {}
        return a.get("Prefix", ""), a.get("Tags", []), a.get("ObjectSizeGreaterThan"), a.get("ObjectSizeLessThan")
    tags = [flt["Tag"]] if "Tag" in flt else []
    return flt.get("Prefix", ""), tags, flt.get("ObjectSizeGreaterThan"), flt.get("ObjectSizeLessThan")


def _canonical_transitions(items, days_key):
    result = []
    for item in items or []:
        entry = {"StorageClass": item["StorageClass"]}
        if item.get(days_key) is not None:
            entry[days_key] = _as_int(item[days_key])
        if item.get("Date") is not None:
            entry["Date"] = str(item["Date"])
        if item.get("NewerNoncurrentVersions") is not None:
            entry["NewerNoncurrentVersions"] = _as_int(item["NewerNoncurrentVersions"])
        result.append(entry)
    return sorted(result, key=lambda t: (t.get(days_key, 0), t.get("Date", ""), t["StorageClass"]))


def normalize_rule(rule):
    """The canonical form of one rule as S3 returns it (or as sent to S3)."""
    out = {"ID": rule.get("ID", ""), "Status": rule.get("Status", "Enabled"),
           "Filter": _canonical_filter(*_filter_parts(rule))}
    transitions = _canonical_transitions(rule.get("Transitions"), "Days")
    if transitions:
        out["Transitions"] = transitions
    exp = rule.get("Expiration") or {}
    expiration = {}
    if exp.get("Days") is not None:
        expiration["Days"] = _as_int(exp["Days"])
    if exp.get("Date") is not None:
        expiration["Date"] = str(exp["Date"])
    if exp.get("ExpiredObjectDeleteMarker"):
        expiration["ExpiredObjectDeleteMarker"] = True
    if expiration:
        out["Expiration"] = expiration
    nve = rule.get("NoncurrentVersionExpiration") or {}
    if nve.get("NoncurrentDays") is not None:
        out["NoncurrentVersionExpiration"] = {"NoncurrentDays": _as_int(nve["NoncurrentDays"])}
        if nve.get("NewerNoncurrentVersions") is not None:
            out["NoncurrentVersionExpiration"]["NewerNoncurrentVersions"] = _as_int(nve["NewerNoncurrentVersions"])
    nvt = _canonical_transitions(rule.get("NoncurrentVersionTransitions"), "NoncurrentDays")
    if nvt:
        out["NoncurrentVersionTransitions"] = nvt
    abort = rule.get("AbortIncompleteMultipartUpload") or {}
    if abort.get("DaysAfterInitiation") is not None:
        out["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": _as_int(abort["DaysAfterInitiation"])}
    return out


def normalize_rules(rules):
    return [normalize_rule(r) for r in rules or []]


def rule_from_params(params):
    """Build a canonical S3 rule from the module's snake_case rule options."""
    rule = {"ID": params["id"], "Status": "Enabled" if params.get("enabled", True) else "Disabled"}
    tags = [{"Key": k, "Value": str(v)} for k, v in sorted((params.get("tags") or {}).items())]
    rule["Filter"] = _canonical_filter(params.get("prefix") or "", tags)
    transitions = [{"Days": t["days"], "StorageClass": t["storage_class"]} for t in params.get("transitions") or []]
    if transitions:
        rule["Transitions"] = transitions
    if params.get("expiration_days"):
        rule["Expiration"] = {"Days": params["expiration_days"]}
    elif params.get("expired_object_delete_marker"):
        rule["Expiration"] = {"ExpiredObjectDeleteMarker": True}
    if params.get("noncurrent_version_expiration_days"):
        rule["NoncurrentVersionExpiration"] = {"NoncurrentDays": params["noncurrent_version_expiration_days"]}
        if params.get("newer_noncurrent_versions"):
            rule["NoncurrentVersionExpiration"]["NewerNoncurrentVersions"] = params["newer_noncurrent_versions"]
    nvt = [{"NoncurrentDays": t["days"], "StorageClass": t["storage_class"]}
           for t in params.get("noncurrent_version_transitions") or []]
    if nvt:
        rule["NoncurrentVersionTransitions"] = nvt
    if params.get("abort_incomplete_multipart_upload_days"):
        days = params["abort_incomplete_multipart_upload_days"]
        rule["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": days}
    return normalize_rule(rule)


def validate_transitions(transitions, field="transitions"):
    """Problems with a list of ``{days, storage_class}`` transitions, as ``(field, message)`` tuples.

    Mirrors what S3 rejects (and what would silently never happen): unknown class, negative or non-integer
    days, days not strictly increasing, classes out of waterfall order, IA before day 30, and too little
    time in IA (30 days) or Glacier Instant/Flexible Retrieval (90 days) before the next transition.
    """
    problems = []
    if transitions is None:
        return problems
    if not isinstance(transitions, (list, tuple)):
        return [(field, "must be a list of {days, storage_class}")]
    previous = None
    seen = set()
    for index, item in enumerate(transitions):
        where = "%s[%d]" % (field, index)
        if not isinstance(item, dict):
            problems.append((where, "must be a mapping with days and storage_class"))
            previous = None
            continue
        unknown = sorted(set(item) - {"days", "storage_class"})
        if unknown:
            problems.append((where, "unknown keys: %s" % ", ".join(unknown)))
        cls = item.get("storage_class")
        try:
            days = _as_int(item.get("days"))
        except ValueError:
            problems.append((where + ".days", "%r is not a whole number of days" % (item.get("days"),)))
            days = None
        if days is not None and days < 0:
            problems.append((where + ".days", "%d is negative" % days))
            days = None
        if cls not in STORAGE_CLASSES:
            problems.append((where + ".storage_class", "%r is not a storage class S3 can transition to (one of: %s)"
                             % (cls, ", ".join(STORAGE_CLASS_ORDER))))
            previous = None
            continue
        if cls in seen:
            problems.append((where + ".storage_class", "%s appears twice" % cls))
        seen.add(cls)
        if days is not None and days < MIN_TRANSITION_DAYS.get(cls, 0):
            problems.append((where + ".days", "%d is too early: S3 requires at least %d days before a transition to %s"
                             % (days, MIN_TRANSITION_DAYS[cls], cls)))
        if previous is not None and days is not None:
            prev_days, prev_cls = previous
            if STORAGE_CLASS_ORDER.index(cls) <= STORAGE_CLASS_ORDER.index(prev_cls):
                problems.append((where + ".storage_class", "%s cannot follow %s (order: %s)"
                                 % (cls, prev_cls, " -> ".join(STORAGE_CLASS_ORDER))))
            elif days <= prev_days:
                problems.append((where + ".days", "%d is not after the previous transition (%s at day %d): "
                                 "days must be strictly increasing" % (days, prev_cls, prev_days)))
            elif days - prev_days < MIN_DAYS_IN_CLASS.get(prev_cls, 0):
                problems.append((where + ".days", "%d is only %d days after %s at day %d: S3 requires at least %d"
                                 % (days, days - prev_days, prev_cls, prev_days, MIN_DAYS_IN_CLASS[prev_cls])))
        previous = (days, cls) if days is not None else None
    return problems


def merge_rules(current, desired, purge):
    """The configuration to send: ``desired`` rules replace current rules with the same ID.

    With ``purge`` the result is exactly ``desired``; without it current rules that ``desired`` does not
    name are kept, in their current order, and new rules are appended.
    """
    desired = [copy.deepcopy(r) for r in desired]
    if purge:
        return desired
    by_id = {r["ID"]: r for r in desired}
    result = []
    for rule in current:
        result.append(by_id.pop(rule["ID"]) if rule["ID"] in by_id else rule)
    result.extend(r for r in desired if r["ID"] in by_id)
    return result


def remove_rules(current, ids):
    return [r for r in current if r["ID"] not in set(ids)]


def diff_rules(current, wanted):
    """Rule-level diff: only rules that differ, keyed by ID. Returns (changed_ids, before, after)."""
    cur = {r["ID"]: r for r in current}
    new = {r["ID"]: r for r in wanted}
    changed = sorted(i for i in set(cur) | set(new) if cur.get(i) != new.get(i))
    before = {i: cur[i] for i in changed if i in cur}
    after = {i: new[i] for i in changed if i in new}
    return changed, before, after
