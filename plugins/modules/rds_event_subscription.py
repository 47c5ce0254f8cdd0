#!/usr/bin/python
# ruff: noqa: EXE001 - Ansible modules carry a shebang but are not executable files
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rds_event_subscription
short_description: An RDS event subscription (instance events to an SNS topic), idempotent with check mode and diff
version_added: 0.1.0
description:
  - Converges one RDS event notification subscription
    (C(CreateEventSubscription) / C(ModifyEventSubscription) / C(AddSourceIdentifierToSubscription) /
    C(RemoveSourceIdentifierFromSubscription) / C(DeleteEventSubscription)), that is the SNS topic, the source
    type, the sources, the event categories, whether it is enabled, and its tags.
  - Reads the subscription with one C(DescribeEventSubscriptions) by name (plus C(ListTagsForResource)) and writes
    only what differs; a re-run makes no mutating request. No stock amazon.aws or community.aws module manages
    RDS event subscriptions.
  - The topic must allow C(events.rds.amazonaws.com) to publish (and, when it is KMS-encrypted, the key must let
    that service use it), or RDS cannot deliver.
author:
  - Manufacturing Platform Team (@manufacturing-platform)
options:
  name:
    description: Subscription name (C(SubscriptionName)), unique in the account and region.
    type: str
    required: true
  state:
    description: Whether the subscription should exist.
    type: str
    choices: [present, absent]
    default: present
  sns_topic_arn:
    description: ARN of the SNS topic that receives the events. Required with O(state=present).
    type: str
  source_type:
    description: Kind of RDS resource whose events are sent.
    type: str
    choices: [db-instance, db-cluster, db-parameter-group, db-security-group, db-snapshot, db-cluster-snapshot,
              db-proxy, custom-engine-version, blue-green-deployment]
    default: db-instance
  source_ids:
    description:
      - Identifiers of the resources whose events are sent (DB instance identifiers for V(db-instance)).
      - An empty list subscribes to every resource of O(source_type) in the account and region.
    type: list
    elements: str
    default: []
  event_categories:
    description:
      - Event categories to send (for V(db-instance), e.g. V(availability), V(failover), V(failure),
        V(low storage), V(maintenance), V(recovery)). An empty list sends every category.
    type: list
    elements: str
    default: []
  enabled:
    description: Whether events are sent.
    type: bool
    default: true
  tags:
    description: Tags of the subscription (O(purge_tags) decides what happens to others).
    type: dict
    default: {}
  purge_tags:
    description: Remove tags that are not in O(tags).
    type: bool
    default: true
notes:
  - Check mode makes read requests only and reports the actions it would take; diff mode shows the subscription's
    settings before and after.
  - The local AWS emulator (moto) implements create, describe, delete and tags, but not C(ModifyEventSubscription)
    or the source-identifier calls; those paths are covered by Stubber unit tests (docs/emulator-gaps.md).
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
- name: Failover, storage and maintenance events of the environment's instance to the ops topic
  manufacturing.platform.rds_event_subscription:
    name: mfg-prod-shared-postgres-events
    sns_topic_arn: arn:aws:sns:eu-west-1:123456789012:mfg-prod-ops
    source_type: db-instance
    source_ids: [mfg-prod-shared-postgres]
    event_categories: [availability, failover, failure, low storage, maintenance, recovery]
    tags: {Environment: prod}

- name: Remove it
  manufacturing.platform.rds_event_subscription:
    name: mfg-prod-shared-postgres-events
    state: absent
"""

RETURN = r"""
subscription:
  description: The subscription after the run (in check mode, what it would be); empty when absent.
  returned: always
  type: dict
  contains:
    name:
      description: Subscription name.
      type: str
    arn:
      description: Subscription ARN (empty in check mode before it exists).
      type: str
    sns_topic_arn:
      description: The topic that receives the events.
      type: str
    source_type:
      description: Kind of RDS resource.
      type: str
    source_ids:
      description: Sorted source identifiers.
      type: list
      elements: str
    event_categories:
      description: Sorted event categories (empty = all).
      type: list
      elements: str
    enabled:
      description: Whether events are sent.
      type: bool
    tags:
      description: Tags.
      type: dict
actions:
  description: The API operations run (or that would run in check mode), in order, each with its target.
  returned: always
  type: list
  elements: str
  sample: ["create_event_subscription(mfg-prod-shared-postgres-events)"]
"""

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.tagging import (
    ansible_dict_to_boto3_tag_list,
    boto3_tag_list_to_ansible_dict,
    compare_aws_tags,
)
from ansible_collections.manufacturing.platform.plugins.module_utils import aws_retry

try:  # noqa: SIM105 - the usual optional-import pattern of AWS modules
    import botocore
except ImportError:
    pass  # caught by AnsibleAWSModule

SETTINGS = ("sns_topic_arn", "source_type", "source_ids", "event_categories", "enabled")


def read(client, name):
    """The subscription as this module describes it, or None."""
    try:
        found = client.describe_event_subscriptions(aws_retry=True, SubscriptionName=name)
    except is_boto3_error_code("SubscriptionNotFound"):
        return None
    subs = found.get("EventSubscriptionsList", [])
    if not subs:
        return None
    sub = subs[0]
    arn = sub.get("EventSubscriptionArn", "")
    tags = {}
    if arn:
        tags = boto3_tag_list_to_ansible_dict(
            client.list_tags_for_resource(aws_retry=True, ResourceName=arn).get("TagList", []))
    return {
        "name": sub.get("CustSubscriptionId", name),
        "arn": arn,
        "sns_topic_arn": sub.get("SnsTopicArn", ""),
        "source_type": sub.get("SourceType", ""),
        "source_ids": sorted(sub.get("SourceIdsList") or []),
        "event_categories": sorted(sub.get("EventCategoriesList") or []),
        "enabled": bool(sub.get("Enabled")),
        "tags": tags,
    }


def desired_state(params):
    return {
        "name": params["name"],
        "sns_topic_arn": params["sns_topic_arn"],
        "source_type": params["source_type"],
        "source_ids": sorted(set(params["source_ids"])),
        "event_categories": sorted(set(params["event_categories"])),
        "enabled": params["enabled"],
        "tags": {str(k): str(v) for k, v in params["tags"].items()},
    }


def plan(current, wanted, purge_tags):
    """[(action, kwargs)] that turn ``current`` (None = absent) into ``wanted``."""
    name = wanted["name"]
    if current is None:
        kwargs = {"SubscriptionName": name, "SnsTopicArn": wanted["sns_topic_arn"],
                  "SourceType": wanted["source_type"], "Enabled": wanted["enabled"]}
        if wanted["source_ids"]:
            kwargs["SourceIds"] = wanted["source_ids"]
        if wanted["event_categories"]:
            kwargs["EventCategories"] = wanted["event_categories"]
        if wanted["tags"]:
            kwargs["Tags"] = ansible_dict_to_boto3_tag_list(wanted["tags"])
        return [("create_event_subscription", kwargs)]
    steps = []
    modify = {}
    if current["sns_topic_arn"] != wanted["sns_topic_arn"]:
        modify["SnsTopicArn"] = wanted["sns_topic_arn"]
    if current["source_type"] != wanted["source_type"]:
        modify["SourceType"] = wanted["source_type"]
    if current["event_categories"] != wanted["event_categories"]:
        # An empty list cannot be sent to mean "all": RDS keeps the old list. Recreate the subscription instead.
        if not wanted["event_categories"]:
            return [("delete_event_subscription", {"SubscriptionName": name})] + plan(None, wanted, purge_tags)
        modify["EventCategories"] = wanted["event_categories"]
    if current["enabled"] != wanted["enabled"]:
        modify["Enabled"] = wanted["enabled"]
    if modify:
        steps.append(("modify_event_subscription", dict(modify, SubscriptionName=name)))
    for source in sorted(set(wanted["source_ids"]) - set(current["source_ids"])):
        steps.append(("add_source_identifier_to_subscription", {"SubscriptionName": name, "SourceIdentifier": source}))
    for source in sorted(set(current["source_ids"]) - set(wanted["source_ids"])):
        steps.append(("remove_source_identifier_from_subscription",
                      {"SubscriptionName": name, "SourceIdentifier": source}))
    add, remove = compare_aws_tags(current["tags"], wanted["tags"], purge_tags=purge_tags)
    if add:
        steps.append(("add_tags_to_resource", {"ResourceName": current["arn"],
                                               "Tags": ansible_dict_to_boto3_tag_list(add)}))
    if remove:
        steps.append(("remove_tags_from_resource", {"ResourceName": current["arn"], "TagKeys": sorted(remove)}))
    return steps


def describe_action(action, kwargs):
    target = kwargs.get("SubscriptionName") or kwargs.get("ResourceName", "")
    if "SourceIdentifier" in kwargs:
        target += ", " + kwargs["SourceIdentifier"]
    if action == "modify_event_subscription":
        target += ": " + ", ".join(sorted(k for k in kwargs if k != "SubscriptionName"))
    return "%s(%s)" % (action, target)


def after_state(current, wanted, purge_tags):
    if current is None:
        return dict(wanted, arn="")
    after = dict(wanted, arn=current["arn"])
    if not purge_tags:
        after["tags"] = dict(current["tags"], **wanted["tags"])
    return after


def main():
    module = AnsibleAWSModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "sns_topic_arn": {"type": "str"},
            "source_type": {"type": "str", "default": "db-instance",
                            "choices": ["db-instance", "db-cluster", "db-parameter-group", "db-security-group",
                                        "db-snapshot", "db-cluster-snapshot", "db-proxy", "custom-engine-version",
                                        "blue-green-deployment"]},
            "source_ids": {"type": "list", "elements": "str", "default": []},
            "event_categories": {"type": "list", "elements": "str", "default": []},
            "enabled": {"type": "bool", "default": True},
            "tags": {"type": "dict", "default": {}},
            "purge_tags": {"type": "bool", "default": True},
        },
        required_if=[("state", "present", ["sns_topic_arn"])],
        supports_check_mode=True,
    )
    params = module.params
    if params["state"] == "present" and not params["sns_topic_arn"].startswith("arn:"):
        module.fail_json(msg="sns_topic_arn must be an SNS topic ARN, got %r" % params["sns_topic_arn"])
    client = aws_retry.client(module, "rds")
    errors = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)
    name = params["name"]
    try:
        current = read(client, name)
    except errors as exc:
        module.fail_json_aws(exc, msg="cannot read the RDS event subscription %s" % name)

    if params["state"] == "absent":
        steps = [("delete_event_subscription", {"SubscriptionName": name})] if current else []
        after = {}
    else:
        wanted = desired_state(params)
        steps = plan(current, wanted, params["purge_tags"])
        after = after_state(current, wanted, params["purge_tags"])

    actions = []
    for action, kwargs in steps:
        actions.append(describe_action(action, kwargs))
        if module.check_mode:
            continue
        try:
            response = getattr(client, action)(aws_retry=True, **kwargs)
        except errors as exc:
            module.fail_json_aws(exc, msg="%s failed for the RDS event subscription %s" % (action, name),
                                 actions=actions)
        if action == "create_event_subscription":
            after["arn"] = response.get("EventSubscription", {}).get("EventSubscriptionArn", "")

    result = {"changed": bool(actions), "actions": actions, "subscription": after}
    if module._diff:
        result["diff"] = {"before": current or {}, "after": after}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
