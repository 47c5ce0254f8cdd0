# -*- coding: utf-8 -*-
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure helpers of the lambda_event_source_mapping module (Amazon MSK event sources)."""

from __future__ import annotations

# Settings CreateEventSourceMapping takes but UpdateEventSourceMapping cannot change for MSK.
IMMUTABLE = ("Topics", "StartingPosition", "ConsumerGroupId")


def desired(params):
    """The mapping's managed settings in Lambda's vocabulary."""
    out = {
        "BatchSize": params["batch_size"],
        "MaximumBatchingWindowInSeconds": params["maximum_batching_window"],
        "Enabled": params["enabled"],
        "Topics": [params["topic"]],
        "StartingPosition": params["starting_position"],
        "ConsumerGroupId": params.get("consumer_group_id") or "",
        "OnFailureDestination": params.get("on_failure_destination") or "",
    }
    return out


def current(mapping):
    """The same settings read from a GetEventSourceMapping / ListEventSourceMappings entry."""
    state = mapping.get("State", "")
    return {
        "BatchSize": mapping.get("BatchSize"),
        "MaximumBatchingWindowInSeconds": mapping.get("MaximumBatchingWindowInSeconds", 0),
        "Enabled": state not in ("Disabled", "Disabling"),
        "Topics": list(mapping.get("Topics") or []),
        "StartingPosition": mapping.get("StartingPosition", ""),
        "ConsumerGroupId": ((mapping.get("AmazonManagedKafkaEventSourceConfig") or {}).get("ConsumerGroupId")) or "",
        "OnFailureDestination": (((mapping.get("DestinationConfig") or {}).get("OnFailure") or {})
                                 .get("Destination")) or "",
    }


def changes(want, have):
    """(mutable fields that differ, immutable fields that differ) — both sorted."""
    differ = sorted(k for k in want if want[k] != have.get(k))
    return [k for k in differ if k not in IMMUTABLE], [k for k in differ if k in IMMUTABLE]


def create_arguments(function_arn, cluster_arn, want):
    kwargs = {
        "FunctionName": function_arn,
        "EventSourceArn": cluster_arn,
        "Topics": want["Topics"],
        "StartingPosition": want["StartingPosition"],
        "BatchSize": want["BatchSize"],
        "MaximumBatchingWindowInSeconds": want["MaximumBatchingWindowInSeconds"],
        "Enabled": want["Enabled"],
    }
    if want["ConsumerGroupId"]:
        kwargs["AmazonManagedKafkaEventSourceConfig"] = {"ConsumerGroupId": want["ConsumerGroupId"]}
    if want["OnFailureDestination"]:
        kwargs["DestinationConfig"] = {"OnFailure": {"Destination": want["OnFailureDestination"]}}
    return kwargs


def update_arguments(uuid, want, fields):
    kwargs = {"UUID": uuid}
    for field in fields:
        if field == "OnFailureDestination":
            kwargs["DestinationConfig"] = {"OnFailure": {"Destination": want[field]} if want[field] else {}}
        else:
            kwargs[field] = want[field]
    return kwargs
