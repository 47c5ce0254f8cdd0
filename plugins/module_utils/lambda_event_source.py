# -*- coding: utf-8 -*-
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure helpers of the lambda_event_source_mapping module (Amazon MSK event sources)."""

from __future__ import annotations

# Settings CreateEventSourceMapping takes but UpdateEventSourceMapping cannot change for MSK.
IMMUTABLE = ("Topics", "StartingPosition", "ConsumerGroupId")
# Error handling controls of Kafka event sources: Lambda takes them in provisioned mode only. None = unmanaged.
ERROR_HANDLING = {  # option: (Lambda field, the value Lambda reports when unset)
    "maximum_retry_attempts": ("MaximumRetryAttempts", -1),
    "maximum_record_age": ("MaximumRecordAgeInSeconds", -1),
    "bisect_batch_on_function_error": ("BisectBatchOnFunctionError", False),
}
REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"


def validate(params):
    """Error messages for out-of-range or inconsistent options (empty: valid)."""
    errors = []
    if not 1 <= params["batch_size"] <= 10000:
        errors.append("batch_size must be 1-10000, got %s" % params["batch_size"])
    if not 0 <= params["maximum_batching_window"] <= 300:
        errors.append("maximum_batching_window must be 0-300 s, got %s" % params["maximum_batching_window"])
    retries = params.get("maximum_retry_attempts")
    if retries is not None and not -1 <= retries <= 10000:
        errors.append("maximum_retry_attempts must be -1 (infinite) or 0-10000, got %s" % retries)
    age = params.get("maximum_record_age")
    if age is not None and age != -1 and not 60 <= age <= 604800:
        errors.append("maximum_record_age must be -1 (infinite) or 60-604800 s, got %s" % age)
    pollers = params.get("provisioned_pollers")
    if pollers is not None:
        low, high = pollers.get("minimum_pollers"), pollers.get("maximum_pollers")
        if not 1 <= low <= 200:
            errors.append("provisioned_pollers.minimum_pollers must be 1-200, got %s" % low)
        if not 1 <= high <= 2000:
            errors.append("provisioned_pollers.maximum_pollers must be 1-2000, got %s" % high)
        if low > high:
            errors.append("provisioned_pollers.minimum_pollers (%s) is above maximum_pollers (%s)" % (low, high))
    controls = [name for name, (_field, unset) in ERROR_HANDLING.items()
                if params.get(name) is not None and params[name] != unset]
    if params.get("report_batch_item_failures"):
        controls.append("report_batch_item_failures")
    if controls and pollers is None:
        errors.append("%s need(s) provisioned_pollers: Lambda accepts the error handling controls of Kafka event "
                      "sources in provisioned mode only" % ", ".join(controls))
    return errors


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
    for name, (field, _unset) in ERROR_HANDLING.items():
        if params.get(name) is not None:
            out[field] = params[name]
    if params.get("report_batch_item_failures") is not None:
        out["FunctionResponseTypes"] = [REPORT_BATCH_ITEM_FAILURES] if params["report_batch_item_failures"] else []
    if params.get("provisioned_pollers") is not None:
        out["ProvisionedPollerConfig"] = {"MinimumPollers": params["provisioned_pollers"]["minimum_pollers"],
                                          "MaximumPollers": params["provisioned_pollers"]["maximum_pollers"]}
    return out


def current(mapping):
    """The same settings read from a GetEventSourceMapping / ListEventSourceMappings entry."""
    state = mapping.get("State", "")
    pollers = mapping.get("ProvisionedPollerConfig") or {}
    have = {
        "BatchSize": mapping.get("BatchSize"),
        "MaximumBatchingWindowInSeconds": mapping.get("MaximumBatchingWindowInSeconds", 0),
        "Enabled": state not in ("Disabled", "Disabling"),
        "Topics": list(mapping.get("Topics") or []),
        "StartingPosition": mapping.get("StartingPosition", ""),
        "ConsumerGroupId": ((mapping.get("AmazonManagedKafkaEventSourceConfig") or {}).get("ConsumerGroupId")) or "",
        "OnFailureDestination": (((mapping.get("DestinationConfig") or {}).get("OnFailure") or {})
                                 .get("Destination")) or "",
        "FunctionResponseTypes": sorted(mapping.get("FunctionResponseTypes") or []),
        "ProvisionedPollerConfig": ({"MinimumPollers": pollers.get("MinimumPollers"),
                                     "MaximumPollers": pollers.get("MaximumPollers")} if pollers else {}),
    }
    for field, unset in ERROR_HANDLING.values():
        value = mapping.get(field)
        have[field] = unset if value is None else value
    return have


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
    for field in ("MaximumRetryAttempts", "MaximumRecordAgeInSeconds", "BisectBatchOnFunctionError",
                  "FunctionResponseTypes", "ProvisionedPollerConfig"):
        if field in want:
            kwargs[field] = want[field]
    return kwargs


def update_arguments(uuid, want, fields):
    kwargs = {"UUID": uuid}
    for field in fields:
        if field == "OnFailureDestination":
            kwargs["DestinationConfig"] = {"OnFailure": {"Destination": want[field]} if want[field] else {}}
        else:
            kwargs[field] = want[field]
    return kwargs
