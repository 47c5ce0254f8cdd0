# -*- coding: utf-8 -*-
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SNS topics as data: policy comparison and subscription planning for the sns_topic module (no boto3)."""

from __future__ import annotations

import json

PENDING = ("PendingConfirmation", "pending confirmation")
PROTOCOLS = ("email", "email-json", "https", "http", "sqs", "lambda", "sms", "application", "firehose")


def canonical_policy(policy):
    """A policy (dict or JSON text) in a form that compares equal however IAM/SNS re-serialises it:
    one-element lists become scalars, lists of scalars are sorted, statements are sorted by Sid."""
    if isinstance(policy, str):
        policy = json.loads(policy) if policy.strip() else {}

    def norm(value):
        if isinstance(value, dict):
            return {k: norm(v) for k, v in value.items()}
        if isinstance(value, list):
            items = [norm(v) for v in value]
            if len(items) == 1:
                return items[0]
            if all(not isinstance(v, (dict, list)) for v in items):
                return sorted(items, key=str)
            return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
        return value

    return norm(policy or {})


def subscription_key(protocol, endpoint):
    return (str(protocol).lower(), str(endpoint))


def plan_subscriptions(wanted, current, purge=True):
    """(to_subscribe [(protocol, endpoint)], to_unsubscribe [subscription arns], kept [(protocol, endpoint)]).

    ``wanted``: [{protocol, endpoint}]; ``current``: ListSubscriptionsByTopic entries. A subscription pending
    confirmation counts as present (subscribing again would only resend the confirmation) and cannot be removed
    (SNS drops it after three days), so it is never in ``to_unsubscribe``.
    """
    want = []
    for sub in wanted:
        key = subscription_key(sub["protocol"], sub["endpoint"])
        if key not in want:
            want.append(key)
    have = {}
    for sub in current:
        have.setdefault(subscription_key(sub["Protocol"], sub["Endpoint"]), []).append(sub["SubscriptionArn"])
    to_subscribe = [k for k in want if k not in have]
    kept = [k for k in want if k in have]
    to_unsubscribe = []
    if purge:
        for key, arns in sorted(have.items()):
            if key not in want:
                to_unsubscribe.extend(a for a in arns if a not in PENDING and a.startswith("arn:"))
    return to_subscribe, sorted(to_unsubscribe), kept


def attribute_changes(wanted, current):
    """Topic attributes (name -> str) that differ; Policy compared as canonical JSON."""
    changes = {}
    for name, value in wanted.items():
        if value is None:
            continue
        have = current.get(name, "")
        if name == "Policy":
            if canonical_policy(value) != canonical_policy(have or "{}"):
                changes[name] = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
        elif str(value) != str(have):
            changes[name] = str(value)
    return changes
