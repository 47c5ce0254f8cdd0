#!/usr/bin/python
# ruff: noqa: EXE001 - Ansible modules carry a shebang but are not executable files
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: lambda_event_source_mapping
short_description: Manage the Amazon MSK event source mapping of a Lambda function (one topic)
version_added: 1.0.0
description:
  - Creates, updates and deletes the event source mapping that feeds one topic of an Amazon MSK cluster to a
    Lambda function (or alias). The mapping is found by function, cluster and topic.
  - Authentication is IAM (the function's execution role needs C(kafka-cluster:Connect),
    C(DescribeGroup)/C(AlterGroup) on its consumer group, C(DescribeTopic)/C(ReadData) on the topic, and
    C(kafka:DescribeClusterV2)/C(GetBootstrapBrokers)); no SASL/SCRAM secret is passed.
  - Batch size, batching window, enabled state, the on-failure destination, the error handling controls and the
    provisioned mode are updated in place. The topic,
    starting position and consumer group cannot change on an existing mapping; a difference fails with a
    message unless O(recreate=true), which deletes the mapping and creates it again (the new consumer group
    starts at O(starting_position)).
  - Waits until the mapping leaves C(Creating)/C(Updating)/C(Deleting) (bounded by O(wait_timeout)).
author:
  - Manufacturing Platform Team (@manufacturing-platform)
options:
  function_name:
    description:
      - Function name or ARN; a qualified ARN (alias) makes the mapping invoke that alias.
    type: str
    required: true
  cluster_arn:
    description:
      - ARN of the MSK cluster.
    type: str
    required: true
  topic:
    description:
      - The topic to consume.
    type: str
    required: true
  state:
    description:
      - V(present) creates or updates the mapping, V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  starting_position:
    description:
      - Where a new consumer group starts reading.
    type: str
    choices: [LATEST, TRIM_HORIZON]
    default: LATEST
  consumer_group_id:
    description:
      - Kafka consumer group of the mapping. Omitted, Lambda uses the mapping's UUID.
    type: str
  batch_size:
    description:
      - Maximum records per invocation (1-10000).
    type: int
    default: 100
  maximum_batching_window:
    description:
      - Seconds Lambda gathers records before invoking (0-300).
    type: int
    default: 0
  enabled:
    description:
      - Whether the mapping polls.
    type: bool
    default: true
  on_failure_destination:
    description:
      - ARN of an SQS queue, SNS topic or S3 bucket that receives records of batches that failed every retry.
    type: str
  maximum_retry_attempts:
    description:
      - Retries of a batch the function failed, before its records go to O(on_failure_destination)
        (V(-1) infinite, or 0-10000; with an on-failure destination Lambda caps infinite at 10).
      - Needs O(provisioned_pollers). Omitted, not managed.
    type: int
  maximum_record_age:
    description:
      - Seconds after which Lambda stops retrying a record and sends it to O(on_failure_destination)
        (V(-1) infinite, or 60-604800).
      - Needs O(provisioned_pollers). Omitted, not managed.
    type: int
  bisect_batch_on_function_error:
    description:
      - Split a failed batch in two and retry each half, so one record cannot hold back the others.
      - V(true) needs O(provisioned_pollers). Omitted, not managed.
    type: bool
  report_batch_item_failures:
    description:
      - Whether the function's C(batchItemFailures) response is honoured (C(FunctionResponseTypes)
        V(ReportBatchItemFailures)). Enable it only for a function that returns that response; a function that
        does not (the alert processor) must keep it V(false).
      - V(true) needs O(provisioned_pollers). Omitted, not managed.
    type: bool
  provisioned_pollers:
    description:
      - Provisioned mode (C(ProvisionedPollerConfig)), with dedicated event pollers billed per event poller unit.
        Lambda accepts the error handling controls of MSK event sources only in this mode.
      - Omitted, not managed.
    type: dict
    suboptions:
      minimum_pollers:
        description:
          - Minimum event pollers (1-200).
        type: int
        required: true
      maximum_pollers:
        description:
          - Maximum event pollers (1-2000).
        type: int
        required: true
  recreate:
    description:
      - Delete and create the mapping again when an immutable setting differs.
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds to wait for the mapping to settle.
    type: int
    default: 300
notes:
  - Check mode makes read calls only; diff mode shows the managed settings before and after.
requirements:
  - python >= 3.9
  - boto3
  - botocore
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Feed the tenant's telemetry topic to its alert processor (alias live)
  manufacturing.platform.lambda_event_source_mapping:
    function_name: "{{ function.alias_arn }}"
    cluster_arn: "{{ streaming_cluster_arn }}"
    topic: customer-123.telemetry
    consumer_group_id: customer-123.alert-processor
    starting_position: LATEST
    batch_size: 100
    maximum_batching_window: 1

- name: The same with bounded retries, a maximum record age and bisect-on-error (provisioned mode)
  manufacturing.platform.lambda_event_source_mapping:
    function_name: "{{ function.alias_arn }}"
    cluster_arn: "{{ streaming_cluster_arn }}"
    topic: customer-123.telemetry
    consumer_group_id: customer-123.alert-processor
    on_failure_destination: "{{ dlq_arn }}"
    maximum_retry_attempts: 3
    maximum_record_age: 86400
    bisect_batch_on_function_error: true
    report_batch_item_failures: false
    provisioned_pollers:
      minimum_pollers: 1
      maximum_pollers: 2
"""

RETURN = r"""
uuid:
  description: Identifier of the mapping (empty when absent, or in check mode before creation).
  returned: always
  type: str
mapping:
  description: The mapping as Lambda reports it.
  returned: when it exists
  type: dict
actions:
  description: Operations run (or that would run in check mode).
  returned: always
  type: list
  elements: str
"""

import time

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.manufacturing.platform.plugins.module_utils import aws_retry
from ansible_collections.manufacturing.platform.plugins.module_utils import lambda_event_source as les

try:  # noqa: SIM105 - the usual optional-import pattern of AWS modules
    import botocore
except ImportError:
    pass  # caught by AnsibleAWSModule

TRANSIENT_STATES = ("Creating", "Updating", "Deleting", "Enabling", "Disabling")


def find(client, params):
    """The mapping of this function, cluster and topic, or None."""
    marker = None
    while True:
        kwargs = {"FunctionName": params["function_name"], "EventSourceArn": params["cluster_arn"]}
        if marker:
            kwargs["Marker"] = marker
        page = client.list_event_source_mappings(aws_retry=True, **kwargs)
        for mapping in page.get("EventSourceMappings", []):
            if params["topic"] in (mapping.get("Topics") or []):
                return mapping
        marker = page.get("NextMarker")
        if not marker:
            return None


def settle(module, client, uuid, gone=False):
    """Poll until the mapping is in a stable state (or gone); exponential delay, bounded."""
    deadline = time.monotonic() + module.params["wait_timeout"]
    delay = 0.5
    while True:
        try:
            mapping = client.get_event_source_mapping(UUID=uuid, aws_retry=True)
        except is_boto3_error_code("ResourceNotFoundException"):
            return None
        if not gone and mapping.get("State") not in TRANSIENT_STATES:
            return mapping
        if time.monotonic() > deadline:
            module.fail_json(msg="event source mapping %s still %s after %s s"
                             % (uuid, mapping.get("State"), module.params["wait_timeout"]))
        time.sleep(delay)
        delay = min(delay * 2, 10)


def main():
    module = AnsibleAWSModule(
        argument_spec={
            "function_name": {"type": "str", "required": True},
            "cluster_arn": {"type": "str", "required": True},
            "topic": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "starting_position": {"type": "str", "choices": ["LATEST", "TRIM_HORIZON"], "default": "LATEST"},
            "consumer_group_id": {"type": "str"},
            "batch_size": {"type": "int", "default": 100},
            "maximum_batching_window": {"type": "int", "default": 0},
            "enabled": {"type": "bool", "default": True},
            "on_failure_destination": {"type": "str"},
            "maximum_retry_attempts": {"type": "int"},
            "maximum_record_age": {"type": "int"},
            "bisect_batch_on_function_error": {"type": "bool"},
            "report_batch_item_failures": {"type": "bool"},
            "provisioned_pollers": {"type": "dict", "options": {
                "minimum_pollers": {"type": "int", "required": True},
                "maximum_pollers": {"type": "int", "required": True},
            }},
            "recreate": {"type": "bool", "default": False},
            "wait_timeout": {"type": "int", "default": 300},
        },
        supports_check_mode=True,
    )
    p = module.params
    invalid = les.validate(p)
    if invalid:
        module.fail_json(msg="event source mapping of %s, topic %s: %s" % (p["function_name"], p["topic"],
                                                                           "; ".join(invalid)))
    client = aws_retry.client(module, "lambda", extra_codes=["ResourceConflictException"])
    errors = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)
    actions, before, after = [], {}, {}
    try:
        mapping = find(client, p)
    except errors as exc:
        module.fail_json_aws(exc, msg="cannot list the event source mappings of %s" % p["function_name"])
    if mapping and mapping.get("State") in TRANSIENT_STATES and not module.check_mode:
        mapping = settle(module, client, mapping["UUID"])

    if p["state"] == "absent":
        if mapping:
            before = les.current(mapping)
            actions.append("delete_event_source_mapping")
            if not module.check_mode:
                try:
                    client.delete_event_source_mapping(UUID=mapping["UUID"], aws_retry=True)
                except errors as exc:
                    module.fail_json_aws(exc, msg="cannot delete event source mapping %s" % mapping["UUID"])
                settle(module, client, mapping["UUID"], gone=True)
        result = {"changed": bool(actions), "uuid": "", "actions": actions}
        if module._diff:
            result["diff"] = {"before": before, "after": {}}
        module.exit_json(**result)

    want = les.desired(p)
    after = want
    if mapping:
        have = les.current(mapping)
        before = have
        mutable, immutable = les.changes(want, have)
        if immutable and not p["recreate"]:
            module.fail_json(msg="event source mapping %s: %s cannot change on an existing mapping (set recreate=true "
                             "to delete and create it again)" % (mapping["UUID"], ", ".join(immutable)))
        if immutable:
            actions += ["delete_event_source_mapping", "create_event_source_mapping"]
            if not module.check_mode:
                try:
                    client.delete_event_source_mapping(UUID=mapping["UUID"], aws_retry=True)
                    settle(module, client, mapping["UUID"], gone=True)
                    mapping = client.create_event_source_mapping(
                        aws_retry=True, **les.create_arguments(p["function_name"], p["cluster_arn"], want))
                    mapping = settle(module, client, mapping["UUID"])
                except errors as exc:
                    module.fail_json_aws(exc, msg="cannot recreate the event source mapping")
        elif mutable:
            actions.append("update_event_source_mapping(%s)" % ",".join(mutable))
            if not module.check_mode:
                try:
                    client.update_event_source_mapping(aws_retry=True,
                                                       **les.update_arguments(mapping["UUID"], want, mutable))
                except errors as exc:
                    module.fail_json_aws(exc, msg="cannot update event source mapping %s" % mapping["UUID"])
                mapping = settle(module, client, mapping["UUID"])
    else:
        actions.append("create_event_source_mapping")
        if not module.check_mode:
            try:
                mapping = client.create_event_source_mapping(
                    aws_retry=True, **les.create_arguments(p["function_name"], p["cluster_arn"], want))
            except errors as exc:
                module.fail_json_aws(exc, msg="cannot create the event source mapping of %s" % p["function_name"])
            mapping = settle(module, client, mapping["UUID"])
    result = {"changed": bool(actions), "uuid": (mapping or {}).get("UUID", ""), "actions": actions}
    if mapping:
        result["mapping"] = {k: v for k, v in mapping.items() if k != "ResponseMetadata"}
    if module._diff:
        result["diff"] = {"before": before, "after": after}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
