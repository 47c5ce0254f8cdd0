# -*- coding: utf-8 -*-
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small evaluator of identity-based IAM policy documents, for the MSK tenant-isolation tests.

The local emulator has no IAM policy simulator (``iam.simulate_custom_policy`` answers 500), so the streaming
role's tenant policies are judged by this evaluator, which follows IAM's documented rules for what those
documents use: ``Effect`` Allow/Deny (an explicit Deny wins, nothing allowed means implicit deny), ``Action`` /
``NotAction`` (case-insensitive, ``*`` and ``?`` wildcards), ``Resource`` / ``NotResource`` (case-sensitive
wildcards, ``*`` may span ``/`` and ``:``). ``Condition`` blocks and policy variables are NOT evaluated: a
statement that has one raises :class:`UnsupportedPolicy` rather than guessing.
"""

from __future__ import annotations

import json
import re

ALLOW = "allow"
EXPLICIT_DENY = "explicit_deny"
IMPLICIT_DENY = "implicit_deny"

# Every action of the kafka-cluster service prefix (MSK IAM access control, data-plane actions).
KAFKA_CLUSTER_ACTIONS = (
    "kafka-cluster:Connect",
    "kafka-cluster:DescribeCluster",
    "kafka-cluster:AlterCluster",
    "kafka-cluster:DescribeClusterDynamicConfiguration",
    "kafka-cluster:AlterClusterDynamicConfiguration",
    "kafka-cluster:WriteDataIdempotently",
    "kafka-cluster:CreateTopic",
    "kafka-cluster:DescribeTopic",
    "kafka-cluster:AlterTopic",
    "kafka-cluster:DeleteTopic",
    "kafka-cluster:DescribeTopicDynamicConfiguration",
    "kafka-cluster:AlterTopicDynamicConfiguration",
    "kafka-cluster:ReadData",
    "kafka-cluster:WriteData",
    "kafka-cluster:DescribeGroup",
    "kafka-cluster:AlterGroup",
    "kafka-cluster:DeleteGroup",
    "kafka-cluster:DescribeTransactionalId",
    "kafka-cluster:AlterTransactionalId",
)
TOPIC_ACTIONS = tuple(a for a in KAFKA_CLUSTER_ACTIONS if "Topic" in a or a.endswith(("ReadData", "WriteData")))
GROUP_ACTIONS = tuple(a for a in KAFKA_CLUSTER_ACTIONS if "Group" in a)


class UnsupportedPolicy(ValueError):
    """The document uses something this evaluator does not model (conditions, policy variables)."""


def _as_list(value):
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _pattern(glob, case_sensitive):
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile("^%s$" % regex, 0 if case_sensitive else re.IGNORECASE | re.DOTALL)


def matches(glob, value, case_sensitive=True):
    return bool(_pattern(glob, case_sensitive).fullmatch(value))


def _statements(document):
    if isinstance(document, str):
        document = json.loads(document)
    statements = document.get("Statement", [])
    return [statements] if isinstance(statements, dict) else list(statements)


def _statement_applies(stmt, action, resource):
    if "Condition" in stmt:
        raise UnsupportedPolicy(
            "statement %r has a Condition, which this evaluator does not evaluate" % stmt.get("Sid")
        )
    for key in ("Resource", "NotResource"):
        if any("${" in r for r in _as_list(stmt.get(key))):
            raise UnsupportedPolicy("statement %r uses policy variables" % stmt.get("Sid"))
    if "Principal" in stmt or "NotPrincipal" in stmt:
        raise UnsupportedPolicy("statement %r has a Principal: not an identity-based policy" % stmt.get("Sid"))
    if "Action" in stmt:
        action_ok = any(matches(a, action, case_sensitive=False) for a in _as_list(stmt["Action"]))
    elif "NotAction" in stmt:
        action_ok = not any(matches(a, action, case_sensitive=False) for a in _as_list(stmt["NotAction"]))
    else:
        raise UnsupportedPolicy("statement %r has neither Action nor NotAction" % stmt.get("Sid"))
    if not action_ok:
        return False
    if "Resource" in stmt:
        return any(matches(r, resource) for r in _as_list(stmt["Resource"]))
    if "NotResource" in stmt:
        return not any(matches(r, resource) for r in _as_list(stmt["NotResource"]))
    raise UnsupportedPolicy("statement %r has neither Resource nor NotResource" % stmt.get("Sid"))


def evaluate(documents, action, resource):
    """Decision of IAM for ``action`` on ``resource`` given identity-based policy ``documents`` (one or a list)."""
    if isinstance(documents, (dict, str)):
        documents = [documents]
    allowed = False
    for document in documents:
        for stmt in _statements(document):
            effect = stmt.get("Effect")
            if effect not in ("Allow", "Deny"):
                raise UnsupportedPolicy(
                    "statement %r: Effect must be Allow or Deny, got %r" % (stmt.get("Sid"), effect)
                )
            if _statement_applies(stmt, action, resource):
                if effect == "Deny":
                    return EXPLICIT_DENY
                allowed = True
    return ALLOW if allowed else IMPLICIT_DENY


def allowed_actions(documents, resource, actions=KAFKA_CLUSTER_ACTIONS):
    """The actions of ``actions`` the documents allow on ``resource``."""
    return [a for a in actions if evaluate(documents, a, resource) == ALLOW]
