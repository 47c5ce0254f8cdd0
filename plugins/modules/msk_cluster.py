#!/usr/bin/python
# ruff: noqa: EXE001 - Ansible modules carry a shebang but are not executable files
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: msk_cluster
short_description: Manage an Amazon MSK provisioned cluster and its configuration
version_added: 1.0.0
description:
  - Creates, updates and deletes an Amazon MSK B(provisioned) cluster found by its name, and optionally the MSK
    configuration (C(server.properties)) it uses.
  - The cluster is read with C(ListClustersV2)/C(DescribeClusterV2) (full data; the stock
    M(community.aws.msk_cluster) reads the partial C(ListClusters) answer) and created with C(CreateCluster).
  - Settings that MSK can change in place are changed with one update operation each, in this order
    (C(UpdateSecurity), C(UpdateMonitoring), C(UpdateBrokerStorage), C(UpdateBrokerType), C(UpdateBrokerCount),
    C(UpdateClusterConfiguration), C(UpdateClusterKafkaVersion)). MSK runs one operation at a time and only on an
    C(ACTIVE) cluster.
  - Settings MSK cannot change (client subnets, security groups, the encryption-at-rest key, in-cluster
    encryption) and shrinking (broker count, storage) are refused with an error that names them; nothing is
    changed then.
  - A configuration is optional (O(configuration)). Without it the cluster uses the MSK default configuration and
    its configuration is not managed.
  - B(Waiting is always bounded.) With O(wait=true) the module polls until the cluster is C(ACTIVE) (after a
    create or an update) or gone (after a delete), at most O(wait_timeout) seconds, then fails with a message
    telling the cluster's state; the operation carries on in AWS and the next run finds the cluster by name and
    continues. With O(wait=false) the module returns at once with the cluster's current O(ignore:state) (e.g.
    C(CREATING)) and empty O(ignore:bootstrap_brokers); at most one update operation is started and the others
    are returned in RV(pending_updates) with a warning. Use O(wait=false) against emulators that keep clusters
    in C(CREATING) forever.
  - Bootstrap brokers are read (C(GetBootstrapBrokers)) only when the cluster is C(ACTIVE).
author:
  - Manufacturing Platform Team (@manufacturing-platform)
options:
  name:
    description:
      - Cluster name (1-64 characters, letters, digits and hyphens). The cluster is found by this exact name.
    type: str
    required: true
  state:
    description:
      - V(present) creates or updates the cluster, V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  kafka_version:
    description:
      - Apache Kafka version, for example V(3.6.0). Required to create. A different version upgrades the cluster.
    type: str
  instance_type:
    description:
      - Broker instance type, for example V(kafka.m7g.large). Required to create; a change runs C(UpdateBrokerType).
    type: str
  number_of_broker_nodes:
    description:
      - Number of brokers, a multiple of the number of O(subnets). Required to create; can only grow.
    type: int
  subnets:
    description:
      - Client subnets (2 or 3, in different AZs). Required to create; cannot change.
    type: list
    elements: str
  security_groups:
    description:
      - Security groups of the brokers' network interfaces. Required to create; cannot change.
    type: list
    elements: str
  ebs_volume_size:
    description:
      - EBS storage per broker in GiB (1-16384). Can only grow (C(UpdateBrokerStorage)).
    type: int
  encryption:
    description:
      - Encryption settings. Options left out are not managed.
    type: dict
    suboptions:
      kms_key_arn:
        description:
          - ARN of the KMS key (not an alias) that encrypts the brokers' volumes. Cannot change.
          - Omitted when creating, MSK uses an AWS managed key.
        type: str
      client_broker:
        description:
          - Encryption between clients and brokers.
        type: str
        choices: [TLS, TLS_PLAINTEXT, PLAINTEXT]
      in_cluster:
        description:
          - Encryption between brokers. Cannot change.
        type: bool
  authentication:
    description:
      - Client authentication. Options left out are not managed (when creating, left-out mechanisms are off).
    type: dict
    suboptions:
      sasl_iam:
        description: IAM access control (SASL/OAUTHBEARER or AWS_MSK_IAM, port 9098).
        type: bool
      sasl_scram:
        description: SASL/SCRAM with Secrets Manager secrets.
        type: bool
      tls_certificate_authority_arns:
        description: Mutual TLS with certificates issued by these ACM Private CAs; an empty list turns it off.
        type: list
        elements: str
      unauthenticated:
        description: Unauthenticated access.
        type: bool
  enhanced_monitoring:
    description:
      - CloudWatch metrics level of the cluster.
    type: str
    choices: [DEFAULT, PER_BROKER, PER_TOPIC_PER_BROKER, PER_TOPIC_PER_PARTITION]
  broker_logs:
    description:
      - Delivery of the broker logs to CloudWatch Logs. Omit to leave the logging settings alone.
    type: dict
    suboptions:
      enabled:
        description: Whether broker logs go to CloudWatch Logs.
        type: bool
        required: true
      log_group:
        description: Log group name (it must exist). Required with O(broker_logs.enabled=true).
        type: str
  configuration:
    description:
      - The MSK configuration the cluster uses, managed by this module (created, or updated with a new revision
        when its properties differ; the cluster is then moved to the new revision).
      - With O(state=absent) the configuration is deleted after the cluster is gone (only with O(wait=true)).
    type: dict
    suboptions:
      name:
        description: Configuration name (unique in the account and region).
        type: str
        required: true
      server_properties:
        description:
          - Broker properties, for example C(auto.create.topics.enable=false). Values are converted to strings
            (V(false) becomes C(false)). The configuration holds exactly these properties.
        type: dict
        required: true
      description:
        description: Description of the configuration.
        type: str
  tags:
    description:
      - Tags of the cluster. V(None) leaves the tags alone.
    type: dict
    aliases: [resource_tags]
  purge_tags:
    description:
      - Remove tags that are not in O(tags).
    type: bool
    default: true
  wait:
    description:
      - Wait (at most O(wait_timeout) seconds) for the cluster to become C(ACTIVE) after a create or an update,
        or to disappear after a delete. See the description for what happens on timeout and without waiting.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait with O(wait=true). MSK takes 15 to 45 minutes to create a cluster.
    type: int
    default: 3600
  wait_delay:
    description:
      - Seconds between two polls while waiting.
    type: int
    default: 30
notes:
  - Check mode makes read calls only and reports the operations that would run (RV(actions)); diff mode returns
    the managed settings, the tags and the configuration's properties before and after.
  - Calls are retried with jittered exponential backoff on throttling and transient MSK errors.
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
- name: MSK cluster in the isolated subnets, IAM auth only, TLS, KMS at rest, broker logs
  manufacturing.platform.msk_cluster:
    name: mfg-prod-shared
    kafka_version: "3.6.0"
    instance_type: kafka.m7g.large
    number_of_broker_nodes: 3
    subnets: "{{ network_facts.data.subnet_ids }}"
    security_groups: ["{{ network_facts.data.security_group_ids.msk }}"]
    ebs_volume_size: 1000
    encryption:
      kms_key_arn: "{{ storage_kms_key_arn }}"
      client_broker: TLS
      in_cluster: true
    authentication:
      sasl_iam: true
      sasl_scram: false
      tls_certificate_authority_arns: []
      unauthenticated: false
    enhanced_monitoring: PER_TOPIC_PER_BROKER
    broker_logs:
      enabled: true
      log_group: /mfg-prod/msk/mfg-prod-shared
    configuration:
      name: mfg-prod-shared
      server_properties:
        auto.create.topics.enable: false
        default.replication.factor: 3
        min.insync.replicas: 2
    tags:
      Environment: prod
    wait: true
    wait_timeout: 3600
  register: cluster

- name: Against an emulator that keeps clusters CREATING - no configuration API, do not wait
  manufacturing.platform.msk_cluster:
    name: mfg-local-shared
    kafka_version: "3.6.0"
    instance_type: kafka.t3.small
    number_of_broker_nodes: 2
    subnets: [subnet-01, subnet-02]
    security_groups: [sg-01]
    wait: false

- name: Delete a cluster and its configuration
  manufacturing.platform.msk_cluster:
    name: mfg-dev-customer-123
    state: absent
    configuration:
      name: mfg-dev-customer-123
      server_properties: {}
    wait: true
"""

RETURN = r"""
cluster_arn:
  description: ARN of the cluster (empty when it does not exist, or would be created in check mode).
  returned: always
  type: str
  sample: arn:aws:kafka:eu-west-1:123456789012:cluster/mfg-prod-shared/0a1b2c3d-1111-2222-3333-444455556666-2
cluster_name:
  description: Name of the cluster.
  returned: always
  type: str
  sample: mfg-prod-shared
cluster_uuid:
  description: UUID of the cluster (last segment of its ARN), used in IAM resource ARNs.
  returned: always
  type: str
  sample: 0a1b2c3d-1111-2222-3333-444455556666-2
state:
  description: State of the cluster when the module returned (V(ACTIVE), V(CREATING), V(UPDATING), ...; empty if none).
  returned: always
  type: str
  sample: ACTIVE
current_version:
  description: Current version of the cluster (needed by update calls).
  returned: when the cluster exists
  type: str
  sample: K3AEGXETSR30VB
settings:
  description: The cluster's settings in the shape of the module's options (after the task).
  returned: when the cluster exists
  type: dict
  sample: {instance_type: kafka.m7g.large, number_of_broker_nodes: 3, sasl_iam: true, client_broker: TLS}
iam_resources:
  description: IAM resource ARNs of the cluster for C(kafka-cluster) actions (C(cluster), C(topic), C(group) prefixes).
  returned: when the cluster exists
  type: dict
  sample:
    cluster: arn:aws:kafka:eu-west-1:123456789012:cluster/mfg-prod-shared/0a1b2c3d-1111-2222-3333-444455556666-2
    topic: arn:aws:kafka:eu-west-1:123456789012:topic/mfg-prod-shared/0a1b2c3d-1111-2222-3333-444455556666-2
    group: arn:aws:kafka:eu-west-1:123456789012:group/mfg-prod-shared/0a1b2c3d-1111-2222-3333-444455556666-2
bootstrap_brokers:
  description: Bootstrap broker strings per listener when the cluster is C(ACTIVE); empty strings otherwise.
  returned: always
  type: dict
  sample: {sasl_iam: "b-1.mfg.abc.c2.kafka.eu-west-1.amazonaws.com:9098", tls: "", sasl_scram: "", plaintext: ""}
configuration:
  description: The managed configuration (V(None) without O(configuration)).
  returned: always
  type: dict
  sample:
    name: mfg-prod-shared
    arn: arn:aws:kafka:eu-west-1:123456789012:configuration/mfg-prod-shared/abc-1
    revision: 2
    action: update
actions:
  description: Operations done, in order (in check mode the operations that would be done).
  returned: always
  type: list
  elements: str
  sample: ["update configuration mfg-prod-shared", "update monitoring: enhanced_monitoring 'DEFAULT' -> 'PER_BROKER'"]
pending_updates:
  description: Update operations not started because O(wait=false) (re-run to apply them).
  returned: always
  type: list
  elements: str
  sample: []
"""

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.manufacturing.platform.plugins.module_utils import aws_retry
from ansible_collections.manufacturing.platform.plugins.module_utils import msk_cluster as mc

try:  # noqa: SIM105 - the usual optional-import pattern of AWS modules
    import botocore
except ImportError:
    pass  # caught by AnsibleAWSModule

EMPTY_BROKERS = {"plaintext": "", "tls": "", "sasl_scram": "", "sasl_iam": ""}


def argument_spec():
    return {
        "name": {"type": "str", "required": True},
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        "kafka_version": {"type": "str"},
        "instance_type": {"type": "str"},
        "number_of_broker_nodes": {"type": "int"},
        "subnets": {"type": "list", "elements": "str"},
        "security_groups": {"type": "list", "elements": "str"},
        "ebs_volume_size": {"type": "int"},
        "encryption": {
            "type": "dict",
            "options": {
                "kms_key_arn": {"type": "str", "no_log": False},
                "client_broker": {"type": "str", "choices": ["TLS", "TLS_PLAINTEXT", "PLAINTEXT"]},
                "in_cluster": {"type": "bool"},
            },
        },
        "authentication": {
            "type": "dict",
            "options": {
                "sasl_iam": {"type": "bool"},
                "sasl_scram": {"type": "bool"},
                "tls_certificate_authority_arns": {"type": "list", "elements": "str"},
                "unauthenticated": {"type": "bool"},
            },
        },
        "enhanced_monitoring": {
            "type": "str",
            "choices": ["DEFAULT", "PER_BROKER", "PER_TOPIC_PER_BROKER", "PER_TOPIC_PER_PARTITION"],
        },
        "broker_logs": {
            "type": "dict",
            "options": {
                "enabled": {"type": "bool", "required": True},
                "log_group": {"type": "str"},
            },
            "required_if": [("enabled", True, ["log_group"])],
        },
        "configuration": {
            "type": "dict",
            "options": {
                "name": {"type": "str", "required": True},
                "server_properties": {"type": "dict", "required": True},
                "description": {"type": "str"},
            },
        },
        "tags": {"type": "dict", "aliases": ["resource_tags"]},
        "purge_tags": {"type": "bool", "default": True},
        "wait": {"type": "bool", "default": True},
        "wait_timeout": {"type": "int", "default": 3600},
        "wait_delay": {"type": "int", "default": 30},
    }


def validate(params):
    errors = []
    name = params["name"]
    if not 1 <= len(name) <= 64 or not all(c.isalnum() or c == "-" for c in name) or not name.isascii():
        errors.append("name %r: 1-64 ASCII letters, digits and hyphens" % name)
    for key in ("number_of_broker_nodes", "ebs_volume_size", "wait_timeout", "wait_delay"):
        if params.get(key) is not None and params[key] < 1:
            errors.append("%s must be >= 1, got %s" % (key, params[key]))
    if params.get("ebs_volume_size") is not None and params["ebs_volume_size"] > 16384:
        errors.append("ebs_volume_size must be <= 16384 GiB, got %s" % params["ebs_volume_size"])
    subnets = params.get("subnets")
    if subnets and len(subnets) not in (2, 3):
        errors.append("MSK provisioned clusters take 2 or 3 client subnets, got %d" % len(subnets))
    return errors


class Runner:
    def __init__(self, module, manager):
        self.module = module
        self.manager = manager
        self.params = module.params
        self.actions = []
        self.pending = []
        self.changed = False
        self.before = {}
        self.after = {}

    # ---------------------------------------------------------------- helpers

    def result(self, info, configuration=None, bootstrap=None):
        arn = (info or {}).get("ClusterArn", "")
        out = {
            "changed": self.changed,
            "cluster_arn": arn,
            "cluster_name": self.params["name"],
            "cluster_uuid": mc.cluster_uuid(arn),
            "state": (info or {}).get("State", ""),
            "bootstrap_brokers": bootstrap or dict(EMPTY_BROKERS),
            "configuration": None,
            "actions": self.actions,
            "pending_updates": self.pending,
        }
        if info:
            settings = mc.current_from_info(info)
            out["settings"] = settings
            out["current_version"] = info.get("CurrentVersion", "")
            out["iam_resources"] = mc.iam_resource_arns(arn, self.params["name"])
        if configuration:
            out["configuration"] = {k: configuration.get(k) for k in ("name", "arn", "revision", "action")}
        if self.module._diff:
            out["diff"] = {"before": self.before, "after": self.after}
        return out

    def bootstrap(self, info):
        if info and info.get("State") == "ACTIVE":
            return self.manager.bootstrap_brokers(info["ClusterArn"])
        return None

    # ---------------------------------------------------------------- present

    def configuration(self):
        conf = self.params.get("configuration")
        if not conf:
            return None
        result = self.manager.ensure_configuration(
            conf["name"], conf["server_properties"], conf.get("description"), self.module.check_mode
        )
        if result["changed"]:
            self.changed = True
            self.actions.append("%s configuration %s" % (result["action"], conf["name"]))
        self.before["configuration"] = result["before"]
        self.after["configuration"] = result["after"]
        return result

    def present(self):
        params = self.params
        name = params["name"]
        info = self.manager.find_cluster(name)
        configuration = self.configuration()
        desired = mc.desired_from_params(params)
        tags = params.get("tags")

        if info is None:
            self.changed = True
            self.actions.append(
                "create cluster %s (%s x %s, Kafka %s)"
                % (name, desired["number_of_broker_nodes"], desired["instance_type"], desired["kafka_version"])
            )
            self.before["cluster"] = {}
            self.after["cluster"] = mc.comparable(dict(desired, tags=tags or {}))
            if self.module.check_mode:
                # Check mode of a first converge: inputs produced by earlier tasks (subnets of a VPC that would be
                # created) may still be missing; report instead of failing.
                try:
                    mc.create_request(name, desired, tags)
                except mc.MskClusterError as exc:
                    self.module.warn("check mode: %s" % exc)
                return self.result(None, configuration)
            request = mc.create_request(name, desired, tags, configuration)
            arn = self.manager.client.create_cluster(aws_retry=True, **request)["ClusterArn"]
            info = self.manager.describe(arn) or {"ClusterArn": arn, "State": "CREATING"}
            if params["wait"]:
                info = self.manager.wait_for(arn, params["wait_timeout"])
            return self.result(info, configuration, self.bootstrap(info))

        arn = info["ClusterArn"]
        current = mc.current_from_info(info)
        ops = mc.plan_updates(name, desired, current, configuration)
        self.before["cluster"] = mc.comparable({k: current.get(k) for k in desired if desired[k] is not None})
        self.after["cluster"] = mc.comparable(desired)

        if tags is not None:
            to_set, to_remove = mc.tag_changes(info.get("Tags"), tags, params["purge_tags"])
            self.before["cluster"]["tags"] = info.get("Tags") or {}
            self.after["cluster"]["tags"] = (
                {k: str(v) for k, v in tags.items()}
                if params["purge_tags"]
                else dict(info.get("Tags") or {}, **{k: str(v) for k, v in tags.items()})
            )
            if to_set or to_remove:
                self.changed = True
                self.actions.append("tag cluster %s: set %s, remove %s" % (name, sorted(to_set), to_remove))
                if not self.module.check_mode:
                    if to_set:
                        self.manager.client.tag_resource(aws_retry=True, ResourceArn=arn, Tags=to_set)
                    if to_remove:
                        self.manager.client.untag_resource(aws_retry=True, ResourceArn=arn, TagKeys=to_remove)

        if ops:
            self.changed = True
            if self.module.check_mode:
                self.actions.extend(desc for _op, _kw, desc in ops)
                return self.result(info, configuration, self.bootstrap(info))
            if info.get("State") not in mc.UPDATABLE_STATES:
                if not params["wait"]:
                    self.module.fail_json(
                        msg="cluster %s is %s; MSK updates only ACTIVE clusters. Not applied: %s. Re-run when it is "
                        "ACTIVE (or with wait=true)." % (name, info.get("State"), "; ".join(d for _o, _k, d in ops)),
                        actions=self.actions,
                    )
                info = self.manager.wait_for(arn, params["wait_timeout"])
            for index, (operation, kwargs, desc) in enumerate(ops):
                self.manager.apply_update(arn, info["CurrentVersion"], operation, kwargs)
                self.actions.append(desc)
                remaining = ops[index + 1 :]
                if params["wait"]:
                    info = self.manager.wait_for(arn, params["wait_timeout"])
                else:
                    info = self.manager.describe(arn) or info
                    if remaining:
                        self.pending = [d for _o, _k, d in remaining]
                        self.module.warn(
                            "cluster %s: started %r; %d more update(s) need an ACTIVE cluster, re-run "
                            "to apply them: %s" % (name, operation, len(remaining), "; ".join(self.pending))
                        )
                        break
        elif self.changed and not self.module.check_mode:
            info = self.manager.describe(arn) or info
        return self.result(info, configuration, self.bootstrap(info))

    # ---------------------------------------------------------------- absent

    def absent(self):
        params = self.params
        name = params["name"]
        info = self.manager.find_cluster(name)
        self.before["cluster"] = {"name": name, "state": info.get("State")} if info else {}
        self.after["cluster"] = {}
        if info:
            self.changed = True
            self.actions.append("delete cluster %s" % name)
            if not self.module.check_mode:
                self.manager.client.delete_cluster(
                    aws_retry=True, ClusterArn=info["ClusterArn"], CurrentVersion=info["CurrentVersion"]
                )
                if params["wait"]:
                    self.manager.wait_for(info["ClusterArn"], params["wait_timeout"], target="DELETED")
        conf = params.get("configuration")
        if conf:
            if info and not params["wait"] and not self.module.check_mode:
                self.module.warn(
                    "configuration %s kept: the cluster is still being deleted (use wait=true)" % conf["name"]
                )
            elif self.manager.delete_configuration(conf["name"], self.module.check_mode):
                self.changed = True
                self.actions.append("delete configuration %s" % conf["name"])
        out = self.result(None)
        out["cluster_arn"] = (info or {}).get("ClusterArn", "")
        out["cluster_uuid"] = mc.cluster_uuid(out["cluster_arn"])
        return out


def main():
    module = AnsibleAWSModule(argument_spec=argument_spec(), supports_check_mode=True)
    errors = validate(module.params)
    if errors:
        module.fail_json(msg="invalid parameters: " + "; ".join(errors), errors=errors)
    client = aws_retry.client(module, "kafka", extra_codes=mc.MSK_CLUSTER_RETRY_CODES)
    runner = Runner(module, mc.MskClusterManager(client, delay=module.params["wait_delay"]))
    try:
        result = runner.present() if module.params["state"] == "present" else runner.absent()
    except mc.MskClusterError as exc:
        module.fail_json(msg=str(exc), actions=runner.actions)
    except is_boto3_error_code("NotFoundException") as exc:  # pylint: disable=duplicate-except
        module.fail_json_aws(exc, msg="MSK resource not found")
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:  # pylint: disable=duplicate-except
        module.fail_json_aws(exc, msg="MSK request failed (actions so far: %s)" % "; ".join(runner.actions))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
