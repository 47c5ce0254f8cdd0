# -*- coding: utf-8 -*-
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A conservative evaluator of identity-based policies, for the compute role's tenant-isolation tests.

The emulator has no IAM policy simulator (``simulate_principal_policy``/``simulate_custom_policy`` answer 500),
so the Lambda role's documents are read back and judged here. The question the tests ask is "could this role
possibly do X on another tenant's resource?", so the evaluator errs on the side of *allowing*:

* ``Action``/``NotAction``/``Resource``/``NotResource`` follow IAM's wildcard rules (msk_iam_policy.matches);
* a ``Condition`` is evaluated only for the operators and keys given in ``context`` (``StringEquals``,
  ``StringLike``, ``ArnEquals``, ``ArnLike`` and their ``ForAnyValue:`` forms); a condition on a key missing from
  the context, or with another operator, is assumed to hold for an Allow (it might) and NOT to hold for a Deny
  (it might not) — so a "not allowed" answer is trustworthy, an "allowed" one may be a false alarm;
* policy variables (``${aws:PrincipalTag/...}``) in a Resource make the statement match (Allow) / not match (Deny).
"""

from __future__ import annotations

import json
import operator

from ansible_collections.manufacturing.platform.plugins.module_utils.msk_iam_policy import matches

ALLOW, DENY, IMPLICIT_DENY = "allow", "explicit_deny", "implicit_deny"
_OPERATORS = {
    "StringEquals": operator.eq,
    "StringLike": matches,
    "ArnEquals": operator.eq,
    "ArnLike": matches,
}


def _list(value):
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _statements(document):
    if isinstance(document, str):
        document = json.loads(document)
    statements = document.get("Statement", [])
    return [statements] if isinstance(statements, dict) else list(statements)


def _condition_may_hold(condition, context, optimistic):
    for op_name, block in (condition or {}).items():
        base = op_name.split(":", 1)[-1]
        check = _OPERATORS.get(base)
        for key, patterns in block.items():
            if check is None or key not in context:
                if not optimistic:
                    return False
                continue
            values = _list(context[key])
            if not any(check(p, v) for p in _list(patterns) for v in values):
                return False
    return True


def _resource_match(patterns, resource, optimistic):
    for pattern in _list(patterns):
        if "${" in pattern:
            if optimistic:
                return True
            continue
        if matches(pattern, resource):
            return True
    return False


def _applies(stmt, action, resource, context, optimistic):
    if "Action" in stmt:
        if not any(matches(a, action, case_sensitive=False) for a in _list(stmt["Action"])):
            return False
    elif any(matches(a, action, case_sensitive=False) for a in _list(stmt.get("NotAction"))):
        return False
    if "Resource" in stmt:
        if not _resource_match(stmt["Resource"], resource, optimistic):
            return False
    elif _resource_match(stmt.get("NotResource"), resource, not optimistic):
        return False
    return _condition_may_hold(stmt.get("Condition"), context, optimistic)


def evaluate(documents, action, resource, context=None):
    """ALLOW when some statement may allow and no statement certainly denies."""
    context = context or {}
    if isinstance(documents, (dict, str)):
        documents = [documents]
    allowed = False
    for document in documents:
        for stmt in _statements(document):
            if stmt.get("Effect") == "Deny" and _applies(stmt, action, resource, context, optimistic=False):
                return DENY
            if stmt.get("Effect") == "Allow" and _applies(stmt, action, resource, context, optimistic=True):
                allowed = True
    return ALLOW if allowed else IMPLICIT_DENY


def granted(documents, actions, resource, context=None):
    """The actions of ``actions`` the documents may allow on ``resource``."""
    return [a for a in actions if evaluate(documents, a, resource, context) == ALLOW]
