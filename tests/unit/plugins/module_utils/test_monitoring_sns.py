"""monitoring_sns: topic policy comparison and subscription planning."""

from __future__ import annotations

import json

from ansible_collections.manufacturing.platform.plugins.module_utils.monitoring_sns import (
    attribute_changes,
    canonical_policy,
    plan_subscriptions,
)

POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "A",
            "Effect": "Allow",
            "Principal": {"Service": ["cloudwatch.amazonaws.com"]},
            "Action": ["sns:Publish"],
            "Resource": "arn",
        },
        {"Sid": "B", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "sns:Publish", "Resource": "arn"},
    ],
}


def test_policy_reserialised_by_sns_compares_equal():
    reserialised = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "B", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "sns:Publish", "Resource": "arn"},
                {
                    "Sid": "A",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudwatch.amazonaws.com"},
                    "Action": "sns:Publish",
                    "Resource": "arn",
                },
            ],
        }
    )
    assert canonical_policy(POLICY) == canonical_policy(reserialised)
    assert (
        attribute_changes(
            {"Policy": POLICY, "KmsMasterKeyId": "k", "DisplayName": None},
            {"Policy": reserialised, "KmsMasterKeyId": "k"},
        )
        == {}
    )


def test_attribute_changes_name_what_differs():
    changes = attribute_changes({"Policy": POLICY, "KmsMasterKeyId": "k2"}, {"Policy": "{}", "KmsMasterKeyId": "k"})
    assert sorted(changes) == ["KmsMasterKeyId", "Policy"] and json.loads(changes["Policy"]) == POLICY


def test_subscriptions_pending_count_as_present_and_are_never_unsubscribed():
    current = [
        {"Protocol": "email", "Endpoint": "a@example.com", "SubscriptionArn": "PendingConfirmation"},
        {
            "Protocol": "https",
            "Endpoint": "https://old.example.com/x",
            "SubscriptionArn": "arn:aws:sns:us-east-1:1:t:1",
        },
        {"Protocol": "email", "Endpoint": "gone@example.com", "SubscriptionArn": "PendingConfirmation"},
    ]
    wanted = [
        {"protocol": "email", "endpoint": "a@example.com"},
        {"protocol": "https", "endpoint": "https://new.example.com/x"},
    ]
    subscribe, unsubscribe, kept = plan_subscriptions(wanted, current)
    assert subscribe == [("https", "https://new.example.com/x")]
    assert unsubscribe == ["arn:aws:sns:us-east-1:1:t:1"]
    assert kept == [("email", "a@example.com")]
    assert plan_subscriptions(wanted, current, purge=False)[1] == []
