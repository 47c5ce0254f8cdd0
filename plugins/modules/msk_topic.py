#!/usr/bin/python
# ruff: noqa: EXE001 - Ansible modules carry a shebang but are not executable files
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: msk_topic
short_description: Manage a list of Kafka topics on Amazon MSK (or any Kafka cluster)
version_added: 1.0.0
description:
  - Creates, updates and deletes a B(list) of Kafka topics in one task.
  - Missing topics are created (on the Kafka protocol in one batched CreateTopics request), partition counts
    are increased (never decreased), topic configs are changed with incremental alter (only the keys listed
    are managed unless O(purge_configs=true)) and topics with O(state=absent) are deleted.
  - Everything is validated and the whole plan is computed before any change is made. With
    O(transport=kafka) the brokers also validate every create, partition and config change
    (C(validate_only)) before the first change is applied, so invalid input changes nothing.
  - Two transports. O(transport=kafka) talks the Kafka admin protocol through confluent-kafka to
    O(bootstrap_servers) (plaintext, TLS, or MSK IAM authentication with SASL OAUTHBEARER tokens from
    C(aws-msk-iam-sasl-signer-python)). O(transport=msk_api) uses the MSK topic API of the AWS C(kafka)
    service (no network path to the brokers needed; MSK Provisioned, Kafka 3.6 or later, cluster ACTIVE).
  - The module accepts the common AWS options so that C(module_defaults) for the collection's AWS
    action group apply. They are used by O(transport=msk_api) and for the MSK IAM token of
    O(transport=kafka) with O(sasl_mechanism=OAUTHBEARER).
author:
  - Manufacturing Platform Team (@manufacturing-platform)
options:
  topics:
    description:
      - The topics to manage.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Topic name. ASCII alphanumerics, V(.), V(_) and V(-); at most 249 characters; not V(.) or V(..).
        type: str
        required: true
      partitions:
        description:
          - Number of partitions. Required to create a topic.
          - For an existing topic a larger number adds partitions; a smaller number is an error (Kafka
            cannot remove partitions).
        type: int
      replication_factor:
        description:
          - Replication factor used to create the topic; must not exceed the number of brokers.
          - Defaults to the smaller of 3 and the number of brokers when a topic is created.
          - Changing it for an existing topic is an error (it needs a partition reassignment).
        type: int
      configs:
        description:
          - Topic configs, for example C(retention.ms). Values are sent as strings; numbers and booleans
            are converted (V(true) becomes C("true")).
          - Only the keys listed are managed, see O(purge_configs).
          - Omit to leave the configs of the topic alone.
        type: dict
      state:
        description:
          - Overrides the module-level O(state) for this topic.
        type: str
        choices: [present, absent]
  state:
    description:
      - Whether the topics should exist. Can be overridden per topic with O(topics[].state).
    type: str
    choices: [present, absent]
    default: present
  purge_configs:
    description:
      - Reset configs that are set on a topic but not listed in its O(topics[].configs) to the cluster default.
      - Only for topics whose O(topics[].configs) is given. Only with O(transport=kafka) (the MSK topic API
        does not tell which configs are set on the topic).
    type: bool
    default: false
  wait:
    description:
      - With O(transport=msk_api), poll DescribeTopic after each change until the topic is ACTIVE (or gone).
      - Writes of the MSK topic API are asynchronous and its reads lag up to about a minute.
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds to wait for a topic with O(wait=true), and for a topic that CreateTopic reports as existing
        but ListTopics did not list yet (created moments ago) to become visible.
    type: int
    default: 120
notes:
  - Check mode computes and returns the plan (and with O(transport=kafka) lets the brokers validate it)
    without changing anything. Diff mode returns, per changed topic, partitions, replication factor and
    the managed configs before and after.
  - Topic existence is read from a full topic listing, never from a metadata request naming the topic
    (brokers with C(auto.create.topics.enable) would create it).
  - The MSK topic API is not batched (one call per topic); the Kafka protocol transport batches each
    kind of operation into one request.
requirements:
  - python >= 3.9
  - boto3
  - botocore >= 1.42.46 (for O(transport=msk_api))
  - confluent-kafka (for O(transport=kafka))
  - aws-msk-iam-sasl-signer-python (for O(sasl_mechanism=OAUTHBEARER))
extends_documentation_fragment:
  - manufacturing.platform.kafka_connection
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Topics of a tenant on MSK, Kafka protocol with IAM authentication
  manufacturing.platform.msk_topic:
    bootstrap_servers: "{{ msk_bootstrap_brokers_sasl_iam.split(',') }}"
    security_protocol: SASL_SSL
    sasl_mechanism: OAUTHBEARER
    region: eu-west-1
    topics:
      - name: tenant-a.telemetry
        partitions: 12
        replication_factor: 3
        configs:
          retention.ms: 604800000
          cleanup.policy: delete
      - name: tenant-a.commands
        partitions: 3
        replication_factor: 3
      - name: tenant-a.legacy
        state: absent

- name: Same through the MSK topic API (no network path to the brokers needed)
  manufacturing.platform.msk_topic:
    transport: msk_api
    cluster_arn: "{{ msk_cluster_arn }}"
    wait: true
    topics:
      - name: tenant-a.telemetry
        partitions: 12
        replication_factor: 3
        configs:
          retention.ms: "604800000"

- name: Local broker, reset every config that is not listed
  manufacturing.platform.msk_topic:
    bootstrap_servers: 127.0.0.1:19092
    purge_configs: true
    topics:
      - name: orders
        partitions: 6
        replication_factor: 1
        configs:
          retention.ms: 86400000

- name: Delete topics
  manufacturing.platform.msk_topic:
    bootstrap_servers: 127.0.0.1:19092
    state: absent
    topics:
      - name: tenant-b.telemetry
      - name: tenant-b.commands
"""

RETURN = r"""
topics:
  description: The requested topics and what the task did (or would do in check mode) to each.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Topic name.
      type: str
      sample: tenant-a.telemetry
    state:
      description: Requested state.
      type: str
      sample: present
    action:
      description: V(created), V(updated), V(deleted) or V(unchanged).
      type: str
      sample: created
    partitions:
      description: Partition count after the task (topics with state present).
      type: int
      sample: 12
    replication_factor:
      description: Replication factor (topics with state present).
      type: int
      sample: 3
    configs:
      description: The managed configs (and, with O(transport=kafka), configs set on the topic) after the task.
      type: dict
      sample: {"retention.ms": "604800000"}
actions:
  description:
    - Human-readable operations done, in order (in check mode the operations that would be done).
  returned: always
  type: list
  elements: str
  sample:
    - "create topic tenant-a.telemetry (partitions=12, replication_factor=3, configs: retention.ms=604800000)"
    - "increase partitions of topic tenant-a.commands from 3 to 6"
    - "set configs of topic tenant-a.commands: retention.ms=86400000"
    - "delete topic tenant-a.legacy"
transport:
  description: The transport used.
  returned: always
  type: str
  sample: kafka
broker_count:
  description: Number of brokers in the cluster.
  returned: always
  type: int
  sample: 3
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.manufacturing.platform.plugins.module_utils.kafka_topics import (
    KafkaTopicError,
    build_diff,
    build_result_topics,
    compute_plan,
    connection_argument_spec,
    describe_actions,
    normalize_topics,
    plan_changed,
    transport_from_module,
)


def argument_spec():
    return {
        **connection_argument_spec(),
        "topics": {
            "type": "list",
            "elements": "dict",
            "required": True,
            "options": {
                "name": {"type": "str", "required": True},
                "partitions": {"type": "int"},
                "replication_factor": {"type": "int"},
                "configs": {"type": "dict"},
                "state": {"type": "str", "choices": ["present", "absent"]},
            },
        },
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        "purge_configs": {"type": "bool", "default": False},
        "wait": {"type": "bool", "default": False},
        "wait_timeout": {"type": "int", "default": 120},
    }


def main():
    module = AnsibleAWSModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
        required_if=[
            ("transport", "kafka", ["bootstrap_servers"]),
            ("transport", "msk_api", ["cluster_arn"]),
        ],
    )
    params = module.params

    specs, errors = normalize_topics(params["topics"], params["state"])
    for name in ("connect_timeout", "request_timeout", "wait_timeout"):
        if params[name] < 1:
            errors.append(f"{name} must be >= 1, got {params[name]}")
    if params["max_retries"] < 0:
        errors.append(f"max_retries must be >= 0, got {params['max_retries']}")
    if params["purge_configs"] and params["transport"] == "msk_api":
        errors.append("purge_configs=true is only supported with transport=kafka")
    if errors:
        module.fail_json(msg="invalid topics: " + "; ".join(errors), errors=errors, changed=False)

    done = []
    try:
        transport = transport_from_module(module)
        broker_count = transport.broker_count()
        current = transport.fetch([spec["name"] for spec in specs])
        plan = compute_plan(specs, current, purge_configs=params["purge_configs"], broker_count=broker_count)
        transport.validate(plan)
        changed = plan_changed(plan)
        if changed and not module.check_mode:
            transport.apply(plan, done)
            changed = plan_changed(plan)
            actions = done
        else:
            actions = describe_actions(plan)
    except KafkaTopicError as exc:
        extra = dict(exc.extra)
        extra.setdefault("actions", done)
        module.fail_json(msg=exc.msg, changed=bool(done), **extra)

    for note in getattr(transport, "notes", []):
        module.warn(note)

    result = {
        "changed": changed,
        "topics": build_result_topics(plan),
        "actions": actions,
        "transport": params["transport"],
        "broker_count": broker_count,
    }
    if module._diff:
        result["diff"] = build_diff(plan)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
