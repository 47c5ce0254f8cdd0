#!/usr/bin/python
# ruff: noqa: EXE001 - Ansible modules carry a shebang but are not executable files
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: msk_cluster_info
short_description: Find Amazon MSK provisioned clusters by name
version_added: 1.0.0
description:
  - Reads MSK provisioned clusters with C(ListClustersV2) (full data, unlike C(ListClusters)).
  - Returns, per cluster, the settings in the shape of M(manufacturing.platform.msk_cluster)'s options, the IAM
    resource ARNs for C(kafka-cluster) actions and, when the cluster is C(ACTIVE), its bootstrap brokers.
  - Read-only; runs in check mode.
author:
  - Manufacturing Platform Team (@manufacturing-platform)
options:
  name:
    description:
      - Exact cluster name. Omit to list every provisioned cluster of the region.
    type: str
  bootstrap_brokers:
    description:
      - Read the bootstrap brokers of C(ACTIVE) clusters (one C(GetBootstrapBrokers) call per cluster).
    type: bool
    default: true
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
- name: Find the environment's shared cluster
  manufacturing.platform.msk_cluster_info:
    name: mfg-prod-shared
  register: shared_cluster

- name: Use it
  ansible.builtin.debug:
    msg: "{{ shared_cluster.clusters[0].cluster_arn if shared_cluster.clusters else 'not created yet' }}"
"""

RETURN = r"""
clusters:
  description: The clusters found (at most one with O(name)).
  returned: always
  type: list
  elements: dict
  contains:
    cluster_arn:
      description: ARN of the cluster.
      type: str
      sample: arn:aws:kafka:eu-west-1:123456789012:cluster/mfg-prod-shared/0a1b2c3d-1111-2222-3333-444455556666-2
    cluster_name:
      description: Name of the cluster.
      type: str
      sample: mfg-prod-shared
    cluster_uuid:
      description: UUID of the cluster (last segment of its ARN).
      type: str
      sample: 0a1b2c3d-1111-2222-3333-444455556666-2
    state:
      description: State of the cluster.
      type: str
      sample: ACTIVE
    settings:
      description: Settings in the shape of M(manufacturing.platform.msk_cluster)'s options.
      type: dict
      sample: {instance_type: kafka.m7g.large, number_of_broker_nodes: 3}
    tags:
      description: Tags of the cluster.
      type: dict
      sample: {Environment: prod}
    iam_resources:
      description: IAM resource ARN prefixes for C(kafka-cluster) actions (cluster, topic, group).
      type: dict
      sample: {cluster: "arn:aws:kafka:eu-west-1:123456789012:cluster/mfg-prod-shared/0a1b-2"}
    bootstrap_brokers:
      description: Bootstrap broker strings per listener (empty strings unless the cluster is C(ACTIVE)).
      type: dict
      sample: {sasl_iam: "b-1.mfg.abc.c2.kafka.eu-west-1.amazonaws.com:9098", tls: "", sasl_scram: "", plaintext: ""}
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.manufacturing.platform.plugins.module_utils import msk_cluster as mc
from ansible_collections.manufacturing.platform.plugins.module_utils import aws_retry

try:  # noqa: SIM105 - the usual optional-import pattern of AWS modules
    import botocore
except ImportError:
    pass  # caught by AnsibleAWSModule


def describe(manager, info, with_brokers):
    arn = info["ClusterArn"]
    brokers = {"plaintext": "", "tls": "", "sasl_scram": "", "sasl_iam": ""}
    if with_brokers and info.get("State") == "ACTIVE":
        brokers = manager.bootstrap_brokers(arn)
    return {
        "cluster_arn": arn,
        "cluster_name": info.get("ClusterName", ""),
        "cluster_uuid": mc.cluster_uuid(arn),
        "state": info.get("State", ""),
        "settings": mc.current_from_info(info),
        "tags": info.get("Tags") or {},
        "iam_resources": mc.iam_resource_arns(arn, info.get("ClusterName", "")),
        "bootstrap_brokers": brokers,
    }


def main():
    module = AnsibleAWSModule(
        argument_spec={"name": {"type": "str"}, "bootstrap_brokers": {"type": "bool", "default": True}},
        supports_check_mode=True,
    )
    manager = mc.MskClusterManager(aws_retry.client(module, "kafka", extra_codes=mc.MSK_CLUSTER_RETRY_CODES))
    name = module.params["name"]
    try:
        if name:
            found = manager.find_cluster(name)
            infos = [found] if found else []
        else:
            infos = []
            paginator = aws_retry.retrying_paginator(manager.client, "list_clusters_v2")
            for page in paginator.paginate(ClusterTypeFilter="PROVISIONED"):
                infos.extend(page.get("ClusterInfoList", []))
        clusters = [describe(manager, info, module.params["bootstrap_brokers"]) for info in infos]
    except mc.MskClusterError as exc:
        module.fail_json(msg=str(exc))
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        module.fail_json_aws(exc, msg="cannot read MSK clusters")
    module.exit_json(changed=False, clusters=clusters)


if __name__ == "__main__":
    main()
