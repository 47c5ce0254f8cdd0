#!/usr/bin/python
# ruff: noqa: EXE001 - Ansible modules carry a shebang but are not executable files
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: sns_topic
short_description: A KMS-encrypted SNS topic with its access policy, subscriptions and tags, idempotent with check mode
version_added: 1.0.0
description:
  - Creates or updates a standard SNS topic and converges its KMS key (C(KmsMasterKeyId)), display name, access
    policy (compared as JSON, so re-serialisation by SNS does not count as a change), subscriptions and tags.
  - Every setting is read first and written only when it differs; a re-run makes no mutating request.
  - Subscriptions pending confirmation (e-mail, HTTPS) count as present and are not subscribed again.
  - M(community.aws.sns_topic) has no KMS option, hence this module.
  - With O(state=absent) the topic (and its subscriptions) is deleted.
author:
  - Manufacturing Platform Team (@manufacturing-platform)
options:
  name:
    description: Topic name.
    type: str
    required: true
  state:
    description: Whether the topic should exist.
    type: str
    choices: [present, absent]
    default: present
  kms_master_key_id:
    description: KMS key (ARN) that encrypts the messages at rest. Omitted leaves the setting alone.
    type: str
  display_name:
    description: Display name (the sender name of e-mail notifications). Omitted leaves it alone.
    type: str
  policy:
    description: The topic's access policy. Omitted leaves it alone.
    type: dict
  subscriptions:
    description: Subscriptions of the topic.
    type: list
    elements: dict
    default: []
    suboptions:
      protocol:
        description: Protocol.
        type: str
        required: true
        choices: [email, email-json, https, http, sqs, lambda, sms, application, firehose]
      endpoint:
        description: Endpoint (address, URL, ARN).
        type: str
        required: true
  purge_subscriptions:
    description: Remove confirmed subscriptions that are not in O(subscriptions).
    type: bool
    default: true
  tags:
    description: Tags of the topic (purged to exactly these).
    type: dict
    default: {}
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
seealso:
  - module: community.aws.sns_topic
"""

EXAMPLES = r"""
- name: A tenant's alert topic
  manufacturing.platform.sns_topic:
    name: mfg-prod-customer-123-alerts
    kms_master_key_id: "{{ storage_kms_key_arn }}"
    policy: "{{ lookup('ansible.builtin.template', 'topic-policy.json.j2') | from_json }}"
    subscriptions:
      - {protocol: email, endpoint: alerts@customer-123.example.com}
    tags: {Environment: prod, Tenant: customer-123}
"""

RETURN = r"""
topic_arn:
  description: ARN of the topic (empty in check mode when it would be created, or when absent).
  returned: always
  type: str
  sample: arn:aws:sns:us-east-1:123456789012:mfg-prod-customer-123-alerts
subscriptions:
  description: The wanted subscriptions with their ARN (V(PendingConfirmation) until confirmed).
  returned: state=present
  type: list
  elements: dict
changed_attributes:
  description: Names of the topic attributes that were (would be) set.
  returned: always
  type: list
  elements: str
"""

try:  # noqa: SIM105 - the import guard ansible-test expects
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.manufacturing.platform.plugins.module_utils.monitoring_sns import (
    PROTOCOLS,
    attribute_changes,
    plan_subscriptions,
)
from ansible_collections.manufacturing.platform.plugins.module_utils import aws_retry


def find_topic(client, name):
    for page in aws_retry.retrying_paginator(client, "list_topics").paginate():
        for topic in page.get("Topics", []):
            if topic["TopicArn"].rsplit(":", 1)[-1] == name:
                return topic["TopicArn"]
    return None


def list_subscriptions(client, arn):
    subs = []
    for page in aws_retry.retrying_paginator(client, "list_subscriptions_by_topic").paginate(TopicArn=arn):
        subs.extend(page.get("Subscriptions", []))
    return subs


def converge_tags(module, client, arn, result):
    wanted = {str(k): str(v) for k, v in module.params["tags"].items()}
    current = {
        t["Key"]: t["Value"] for t in client.list_tags_for_resource(aws_retry=True, ResourceArn=arn).get("Tags", [])
    }
    add = [{"Key": k, "Value": v} for k, v in sorted(wanted.items()) if current.get(k) != v]
    remove = sorted(k for k in current if k not in wanted and not k.startswith("aws:"))
    if add or remove:
        result["changed"] = True
        result["changed_attributes"].append("tags")
        if not module.check_mode:
            if add:
                client.tag_resource(aws_retry=True, ResourceArn=arn, Tags=add)
            if remove:
                client.untag_resource(aws_retry=True, ResourceArn=arn, TagKeys=remove)


def ensure_present(module, client):
    params = module.params
    result = {"changed": False, "topic_arn": "", "changed_attributes": [], "subscriptions": []}
    wanted_attrs = {
        "KmsMasterKeyId": params["kms_master_key_id"],
        "DisplayName": params["display_name"],
        "Policy": params["policy"],
    }
    arn = find_topic(client, params["name"])
    before = {}
    if arn is None:
        result["changed"] = True
        result["changed_attributes"] = sorted(k for k, v in wanted_attrs.items() if v is not None)
        if module.check_mode:
            result["subscriptions"] = [
                {"protocol": s["protocol"], "endpoint": s["endpoint"], "subscription_arn": ""}
                for s in params["subscriptions"]
            ]
            if module._diff:
                result["diff"] = {"before": {}, "after": {"name": params["name"]}}
            return result
        attrs = attribute_changes(wanted_attrs, {})
        tags = [{"Key": str(k), "Value": str(v)} for k, v in sorted(params["tags"].items())]
        arn = client.create_topic(aws_retry=True, Name=params["name"], Attributes=attrs, Tags=tags)["TopicArn"]
        current_subs = []
    else:
        current = client.get_topic_attributes(aws_retry=True, TopicArn=arn).get("Attributes", {})
        before = {k: current.get(k, "") for k in wanted_attrs}
        changes = attribute_changes(wanted_attrs, current)
        if changes:
            result["changed"] = True
            result["changed_attributes"] = sorted(changes)
            if not module.check_mode:
                for key, value in sorted(changes.items()):
                    client.set_topic_attributes(aws_retry=True, TopicArn=arn, AttributeName=key, AttributeValue=value)
        converge_tags(module, client, arn, result)
        current_subs = list_subscriptions(client, arn)
    result["topic_arn"] = arn

    to_subscribe, to_unsubscribe, _kept = plan_subscriptions(
        params["subscriptions"], current_subs, params["purge_subscriptions"]
    )
    if to_subscribe or to_unsubscribe:
        result["changed"] = True
        result["changed_attributes"].append("subscriptions")
    if not module.check_mode:
        for protocol, endpoint in to_subscribe:
            client.subscribe(aws_retry=True, TopicArn=arn, Protocol=protocol, Endpoint=endpoint)
        for sub_arn in to_unsubscribe:
            client.unsubscribe(aws_retry=True, SubscriptionArn=sub_arn)
        if to_subscribe or to_unsubscribe:
            current_subs = list_subscriptions(client, arn)
    by_key = {(s["Protocol"].lower(), s["Endpoint"]): s["SubscriptionArn"] for s in current_subs}
    result["subscriptions"] = [
        {
            "protocol": s["protocol"],
            "endpoint": s["endpoint"],
            "subscription_arn": by_key.get((s["protocol"].lower(), s["endpoint"]), ""),
        }
        for s in params["subscriptions"]
    ]
    if module._diff and result["changed"]:
        result["diff"] = {
            "before": {
                "attributes": before,
                "subscriptions": sorted("%s:%s" % (s["Protocol"], s["Endpoint"]) for s in current_subs),
            },
            "after": {
                "attributes": {k: v for k, v in wanted_attrs.items() if v is not None},
                "subscriptions": sorted("%s:%s" % (s["protocol"], s["endpoint"]) for s in params["subscriptions"]),
            },
        }
    return result


def ensure_absent(module, client):
    result = {"changed": False, "topic_arn": "", "changed_attributes": []}
    arn = find_topic(client, module.params["name"])
    if arn is not None:
        result.update(changed=True, topic_arn=arn)
        if module._diff:
            result["diff"] = {"before": {"name": module.params["name"]}, "after": {}}
        if not module.check_mode:
            client.delete_topic(aws_retry=True, TopicArn=arn)
    return result


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        kms_master_key_id=dict(type="str"),
        display_name=dict(type="str"),
        policy=dict(type="dict"),
        subscriptions=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(
                protocol=dict(type="str", required=True, choices=list(PROTOCOLS)),
                endpoint=dict(type="str", required=True),
            ),
        ),
        purge_subscriptions=dict(type="bool", default=True),
        tags=dict(type="dict", default={}),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    client = aws_retry.client(module, "sns")
    try:
        if module.params["state"] == "present":
            result = ensure_present(module, client)
        else:
            result = ensure_absent(module, client)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Failed to converge SNS topic %s" % module.params["name"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
