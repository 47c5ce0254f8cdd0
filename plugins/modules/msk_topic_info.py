#!/usr/bin/python
# ruff: noqa: EXE001 - Ansible modules carry a shebang but are not executable files
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: msk_topic_info
short_description: List the Kafka topics of an Amazon MSK (or any Kafka) cluster
version_added: 0.1.0
description:
  - Lists the topic names of a cluster, optionally only those starting with O(prefix), in one request
    (a full metadata request with O(transport=kafka), paginated C(ListTopics) with O(transport=msk_api)).
  - Read only; it never names a topic in a request, so a broker with C(auto.create.topics.enable) creates nothing.
  - Used by C(playbooks/destroy.yml) to find the tenant topics still on the shared cluster before it is deleted.
author:
  - Manufacturing Platform Team (@manufacturing-platform)
options:
  prefix:
    description:
      - Only topics whose name starts with this string. Empty lists every topic.
    type: str
    default: ""
  include_internal:
    description:
      - Also list Kafka's internal topics (names starting with C(__), for example C(__consumer_offsets)).
    type: bool
    default: false
extends_documentation_fragment:
  - manufacturing.platform.kafka_connection
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Read only; it changes nothing in either mode.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
"""

EXAMPLES = r"""
- name: Topics of tenant customer-123 on the shared cluster (Kafka protocol, MSK IAM)
  manufacturing.platform.msk_topic_info:
    bootstrap_servers: "{{ streaming_bootstrap_servers.split(',') }}"
    security_protocol: SASL_SSL
    prefix: customer-123.
  register: topics

- name: Every topic of a cluster through the MSK topic API
  manufacturing.platform.msk_topic_info:
    transport: msk_api
    cluster_arn: "{{ streaming_cluster_arn }}"
"""

RETURN = r"""
topics:
  description: The topic names, sorted.
  returned: always
  type: list
  elements: str
  sample: [customer-123.alerts, customer-123.telemetry]
transport:
  description: The transport used.
  returned: always
  type: str
  sample: kafka
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.manufacturing.platform.plugins.module_utils.kafka_topics import (
    KafkaTopicError,
    connection_argument_spec,
    transport_from_module,
)


def main():
    module = AnsibleAWSModule(
        argument_spec={
            **connection_argument_spec(),
            "prefix": {"type": "str", "default": ""},
            "include_internal": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
        required_if=[
            ("transport", "kafka", ["bootstrap_servers"]),
            ("transport", "msk_api", ["cluster_arn"]),
        ],
    )
    params = module.params
    for name in ("connect_timeout", "request_timeout"):
        if params[name] < 1:
            module.fail_json(msg=f"{name} must be >= 1, got {params[name]}")
    try:
        names = transport_from_module(module).list_topic_names()
    except KafkaTopicError as exc:
        module.fail_json(msg=exc.msg, **exc.extra)
    topics = sorted(
        name
        for name in names
        if name.startswith(params["prefix"]) and (params["include_internal"] or not name.startswith("__"))
    )
    module.exit_json(changed=False, topics=topics, transport=params["transport"])


if __name__ == "__main__":
    main()
