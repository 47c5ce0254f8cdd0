#!/usr/bin/python
# ruff: noqa: EXE001 - Ansible modules carry a shebang but are not executable files
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rds_postgres_instance
short_description: Converge an encrypted RDS PostgreSQL instance with its subnet group, parameter group and RDS Proxy
version_added: 1.0.0
description:
  - Converges, in one task, the DB subnet group, a DB parameter group with its user-set parameters, the
    RDS for PostgreSQL instance and optionally an RDS Proxy in front of it.
  - The master password is always managed by RDS in Secrets Manager (C(ManageMasterUserPassword)), encrypted
    with O(master_user_secret_kms_key_id); the module never sees or returns a password.
  - Every setting is read first and written only when it differs, so a re-run makes no mutating request.
    Settings the API does not report (for example Performance Insights on an emulator) are not compared,
    the Performance Insights KMS key is sent only when Performance Insights is switched on (RDS refuses to
    change it afterwards), storage only grows, and modifications pending for the maintenance window count as
    done.
  - A missing parameter group is detected both by C(DBParameterGroupNotFound) and by an empty answer (some
    emulators), and parameters are compared by their user-set values only, so no engine default catalogue
    (C(DescribeEngineDefaultParameters)) is needed.
  - Check mode reads only and reports what would change; diff mode shows the instance settings before and after.
  - With O(state=absent) the proxy, the instance (final snapshot unless O(skip_final_snapshot)), the
    parameter group and the subnet group are deleted. An instance with deletion protection is refused unless
    O(disable_deletion_protection), which turns the protection off first.
author:
  - Manufacturing Platform Team (@manufacturing-platform)
options:
  identifier:
    description: DB instance identifier.
    type: str
    required: true
  state:
    description: Whether the instance (and its groups and proxy) should exist.
    type: str
    choices: [present, absent]
    default: present
  engine_version:
    description: PostgreSQL engine version used at creation (upgrades are not done by this module).
    type: str
    default: "15.8"
  instance_class:
    description: DB instance class. Required with O(state=present).
    type: str
  allocated_storage:
    description: Storage in GiB. Only grows; a smaller value than the current one is ignored.
    type: int
    default: 20
  max_allocated_storage:
    description: Storage autoscaling ceiling in GiB; omitted means no autoscaling setting is managed.
    type: int
  storage_type:
    description: Storage type at creation (gp3 baseline IOPS/throughput are not managed).
    type: str
    default: gp3
  port:
    description: PostgreSQL port.
    type: int
    default: 5432
  kms_key_id:
    description: KMS key (ARN) that encrypts the storage. Required with O(state=present); fixed at creation.
    type: str
  master_username:
    description: Master user name (created once; its password is managed by RDS).
    type: str
    default: platform_admin
  master_user_secret_kms_key_id:
    description: KMS key of the RDS-managed master user secret. Default is the AWS managed key.
    type: str
  multi_az:
    description: Multi-AZ deployment.
    type: bool
    default: false
  deletion_protection:
    description: Deletion protection.
    type: bool
    default: false
  backup_retention_period:
    description: Days of automated backups.
    type: int
    default: 7
  iam_database_authentication:
    description: IAM database authentication.
    type: bool
    default: true
  monitoring_interval:
    description:
      - Seconds between Enhanced Monitoring samples of the operating system (C(MonitoringInterval)); V(0) turns
        Enhanced Monitoring off. Needs O(monitoring_role_arn) when not V(0).
    type: int
    choices: [0, 1, 5, 10, 15, 30, 60]
    default: 0
  monitoring_role_arn:
    description:
      - IAM role RDS uses to send Enhanced Monitoring metrics to CloudWatch Logs (trusting
        C(monitoring.rds.amazonaws.com), with the C(AmazonRDSEnhancedMonitoringRole) managed policy).
    type: str
  performance_insights:
    description: Performance Insights.
    type: dict
    suboptions:
      enabled:
        description: Whether Performance Insights is on.
        type: bool
        default: true
      kms_key_id:
        description: KMS key of the Performance Insights data (only applied when Performance Insights is switched on).
        type: str
      retention_period:
        description: Days of Performance Insights data (7, or a multiple of 31 up to 731).
        type: int
        default: 7
  cloudwatch_logs_exports:
    description: Log types exported to CloudWatch Logs (V(postgresql), V(upgrade)).
    type: list
    elements: str
    default: [postgresql, upgrade]
  vpc_security_group_ids:
    description: Security groups of the instance (and of the proxy).
    type: list
    elements: str
    default: []
  subnet_group:
    description: DB subnet group of the instance (created or updated).
    type: dict
    suboptions:
      name:
        description: Name of the subnet group.
        type: str
        required: true
      description:
        description: Description.
        type: str
        default: Managed by manufacturing.platform
      subnet_ids:
        description: Subnets (at least two AZs).
        type: list
        elements: str
        required: true
  parameter_group:
    description: DB parameter group of the instance (created, its user-set parameters converged).
    type: dict
    suboptions:
      name:
        description: Name of the parameter group.
        type: str
        required: true
      family:
        description: Parameter group family, for example V(postgres15).
        type: str
        required: true
      description:
        description: Description.
        type: str
        default: Managed by manufacturing.platform
      parameters:
        description:
          - Parameter name to value (string, number or bool) or to a dict C({value, apply_method}) where
            C(apply_method) is V(immediate) (default) or V(pending-reboot) (static parameters).
          - Parameters not listed are left as they are.
        type: dict
        default: {}
  proxy:
    description: An RDS Proxy in front of the instance. Omit for none.
    type: dict
    suboptions:
      name:
        description: Proxy name.
        type: str
        required: true
      role_arn:
        description: IAM role the proxy uses to read the secrets in O(proxy.auth_secret_arns).
        type: str
        required: true
      subnet_ids:
        description: Subnets of the proxy; default the subnet group's.
        type: list
        elements: str
      require_tls:
        description: Refuse clients without TLS.
        type: bool
        default: true
      iam_auth:
        description: V(REQUIRED) makes clients authenticate with IAM tokens.
        type: str
        choices: [REQUIRED, DISABLED]
        default: REQUIRED
      idle_client_timeout:
        description: Seconds before an idle client connection is closed.
        type: int
        default: 1800
      auth_secret_arns:
        description:
          - Secrets (database users) the proxy may log in with, in addition to the master user secret.
          - The list is merged into the proxy's current ones unless O(proxy.purge_auth) is set.
        type: list
        elements: str
        default: []
      purge_auth:
        description: Remove the proxy's other secrets (except the master user secret).
        type: bool
        default: false
  tags:
    description: Tags of every resource this module creates (purged to exactly these).
    type: dict
    default: {}
  skip_final_snapshot:
    description: With O(state=absent), delete without a final snapshot.
    type: bool
    default: false
  final_snapshot_identifier:
    description:
      - With O(state=absent) and not O(skip_final_snapshot), the name of the final snapshot.
      - Default C(<identifier>-final-<UTC time YYYYMMDD-HHMMSS>), unique per deletion, so an instance of the same
        name created and deleted again never collides with an earlier final snapshot.
      - A given name that already exists is refused before anything is deleted.
    type: str
  delete_automated_backups:
    description:
      - With O(state=absent), delete the instance's automated backups with it (C(DeleteAutomatedBackups)).
      - V(false) retains them (as retained automated backups until their retention period ends).
    type: bool
    default: false
  disable_deletion_protection:
    description:
      - With O(state=absent), turn deletion protection of the instance off (C(ModifyDBInstance)) before deleting
        it. Without it, an instance with deletion protection is refused and nothing is deleted.
    type: bool
    default: false
  wait:
    description: Wait for the instance to be available (creation) or gone (deletion).
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait.
    type: int
    default: 3600
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - Engine version upgrades, storage type changes, the storage KMS key and the subnet group of an existing
    instance are not changed in place (RDS needs a snapshot and restore or a maintenance operation); a
    difference is reported as a warning.
seealso:
  - module: amazon.aws.rds_instance
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
"""

EXAMPLES = r"""
- name: Shared PostgreSQL of the environment
  manufacturing.platform.rds_postgres_instance:
    identifier: mfg-prod-shared-postgres
    instance_class: db.r6g.large
    kms_key_id: "{{ storage_kms_key_arn }}"
    master_user_secret_kms_key_id: "{{ storage_kms_key_arn }}"
    multi_az: true
    deletion_protection: true
    backup_retention_period: 30
    performance_insights:
      kms_key_id: "{{ storage_kms_key_arn }}"
    vpc_security_group_ids: ["{{ network_facts.data.security_group_ids.postgres }}"]
    subnet_group:
      name: mfg-prod-shared-postgres
      subnet_ids: "{{ network_facts.data.subnet_ids }}"
    parameter_group:
      name: mfg-prod-shared-postgres15
      family: postgres15
      parameters:
        rds.force_ssl: 1
        log_min_duration_statement: 1000
    tags:
      Environment: prod

- name: Delete a dedicated tenant's instance without a final snapshot (and without its automated backups)
  manufacturing.platform.rds_postgres_instance:
    identifier: mfg-dev-customer-123-postgres
    state: absent
    skip_final_snapshot: true
    delete_automated_backups: true

- name: Delete a protected instance after a confirmed teardown, keeping a final snapshot
  manufacturing.platform.rds_postgres_instance:
    identifier: mfg-prod-shared-postgres
    state: absent
    disable_deletion_protection: true
"""

RETURN = r"""
instance:
  description: The instance as described after the change (in check mode, before it; empty if it would be created).
  returned: state=present
  type: dict
  contains:
    identifier: {description: DB instance identifier., type: str, sample: mfg-prod-shared-postgres}
    arn: {description: ARN., type: str, sample: "arn:aws:rds:us-east-1:123456789012:db:mfg-prod-shared-postgres"}
    resource_id: {description: DbiResourceId (used in rds-db:connect IAM policies)., type: str, sample: db-ABC}
    address: {description: Endpoint host name., type: str, sample: mfg-prod-shared-postgres.x.rds.amazonaws.com}
    port: {description: Endpoint port., type: int, sample: 5432}
    instance_class: {description: Instance class., type: str, sample: db.r6g.large}
    multi_az: {description: Multi-AZ., type: bool, sample: true}
    storage_encrypted: {description: Storage encryption., type: bool, sample: true}
    kms_key_id: {description: Storage KMS key ARN., type: str, sample: "arn:aws:kms:us-east-1:123456789012:key/1"}
    master_username: {description: Master user name., type: str, sample: platform_admin}
    master_user_secret_arn:
      description: ARN of the RDS-managed master user secret.
      type: str
      sample: "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1-AbCdEf"
    status: {description: Instance status., type: str, sample: available}
proxy:
  description: The proxy (name, endpoint, arn); empty without O(proxy).
  returned: state=present
  type: dict
  sample: {name: mfg-prod-shared-postgres, endpoint: mfg-prod-shared-postgres.proxy-x.us-east-1.rds.amazonaws.com,
           arn: "arn:aws:rds:us-east-1:123456789012:db-proxy:prx-1"}
final_snapshot_identifier:
  description: With O(state=absent), the final snapshot taken (in check mode, that would be taken) of the instance.
  returned: when a final snapshot was (would be) taken
  type: str
  sample: mfg-prod-shared-postgres-final-20250101-120000
changes:
  description: What was (in check mode, would be) changed, one entry per resource and setting.
  returned: always
  type: list
  elements: str
  sample: ["parameter group mfg-prod-shared-postgres15: rds.force_ssl", "instance: multi_az"]
"""

import datetime

try:  # noqa: SIM105 - the import guard ansible-test expects
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.manufacturing.platform.plugins.module_utils.rds_postgres import (
    create_kwargs,
    current_settings,
    desired_settings,
    instance_differences,
    logs_exports_to_disable,
    modify_kwargs,
    normalize_parameters,
    parameter_changes,
    summarize_instance as summarize,
    tag_changes,
    tag_list,
)
from ansible_collections.manufacturing.platform.plugins.module_utils import aws_retry

# A just-created Enhanced Monitoring role is refused until IAM has propagated it (retried for about a minute).
MONITORING_ROLE_PROPAGATION = ("InvalidParameterValue", "ENHANCED_MONITORING")


class Converger:
    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.params = module.params
        self.check = module.check_mode
        self.changes = []
        self.warnings = []
        self.diff = {"before": {}, "after": {}}
        self.final_snapshot = None

    # -- reads ---------------------------------------------------------------------------------------------
    def describe_instance(self):
        try:
            found = self.client.describe_db_instances(aws_retry=True, DBInstanceIdentifier=self.params["identifier"])
        except is_boto3_error_code("DBInstanceNotFound"):
            return None
        instances = found.get("DBInstances") or []
        return instances[0] if instances else None

    def describe_subnet_group(self, name):
        try:
            groups = self.client.describe_db_subnet_groups(aws_retry=True, DBSubnetGroupName=name)["DBSubnetGroups"]
        except is_boto3_error_code("DBSubnetGroupNotFoundFault"):
            return None
        return groups[0] if groups else None

    def describe_parameter_group(self, name):
        try:
            groups = self.client.describe_db_parameter_groups(aws_retry=True, DBParameterGroupName=name)
        except is_boto3_error_code("DBParameterGroupNotFound"):
            return None
        groups = groups.get("DBParameterGroups") or []  # an emulator answers [] instead of NotFound
        return groups[0] if groups else None

    def user_parameters(self, name):
        values = {}
        paginator = aws_retry.retrying_paginator(self.client, "describe_db_parameters")
        for page in paginator.paginate(DBParameterGroupName=name, Source="user"):
            for parameter in page.get("Parameters", []):
                if "ParameterValue" in parameter:
                    values[parameter["ParameterName"]] = parameter["ParameterValue"]
        return values

    def describe_proxy(self, name):
        try:
            proxies = self.client.describe_db_proxies(aws_retry=True, DBProxyName=name).get("DBProxies") or []
        except is_boto3_error_code("DBProxyNotFoundFault"):
            return None
        return proxies[0] if proxies else None

    def tags_of(self, arn):
        return self.client.list_tags_for_resource(aws_retry=True, ResourceName=arn).get("TagList", [])

    # -- helpers -------------------------------------------------------------------------------------------
    def converge_tags(self, what, arn, current=None):
        current = self.tags_of(arn) if current is None else current
        add, remove = tag_changes(current, self.params["tags"])
        if add or remove:
            self.changes.append("%s: tags" % what)
            if not self.check:
                if add:
                    self.client.add_tags_to_resource(aws_retry=True, ResourceName=arn, Tags=add)
                if remove:
                    self.client.remove_tags_from_resource(aws_retry=True, ResourceName=arn, TagKeys=remove)

    # -- subnet group --------------------------------------------------------------------------------------
    def subnet_group(self):
        spec = self.params["subnet_group"]
        if not spec:
            return
        name = spec["name"]
        current = self.describe_subnet_group(name)
        wanted = sorted(spec["subnet_ids"])
        if current is None:
            self.changes.append("subnet group %s: created" % name)
            if not self.check:
                self.client.create_db_subnet_group(aws_retry=True, DBSubnetGroupName=name,
                                                   DBSubnetGroupDescription=spec["description"],
                                                   SubnetIds=wanted, Tags=tag_list(self.params["tags"]))
            return
        have = sorted(s["SubnetIdentifier"] for s in current.get("Subnets", []))
        if have != wanted or current.get("DBSubnetGroupDescription") != spec["description"]:
            self.changes.append("subnet group %s: subnets" % name)
            if not self.check:
                self.client.modify_db_subnet_group(aws_retry=True, DBSubnetGroupName=name,
                                                   DBSubnetGroupDescription=spec["description"], SubnetIds=wanted)
        self.converge_tags("subnet group %s" % name, current["DBSubnetGroupArn"])

    # -- parameter group -----------------------------------------------------------------------------------
    def parameter_group(self):
        spec = self.params["parameter_group"]
        if not spec:
            return
        name = spec["name"]
        current = self.describe_parameter_group(name)
        wanted = normalize_parameters(spec["parameters"])
        if current is None:
            self.changes.append("parameter group %s: created" % name)
            if self.check:
                self.changes.extend("parameter group %s: %s" % (name, p) for p in sorted(wanted))
                return
            current = self.client.create_db_parameter_group(
                aws_retry=True, DBParameterGroupName=name, DBParameterGroupFamily=spec["family"],
                Description=spec["description"], Tags=tag_list(self.params["tags"]))["DBParameterGroup"]
            values = {}
        else:
            if current.get("DBParameterGroupFamily") not in (None, spec["family"]):
                self.warnings.append("parameter group %s: family %s, not %s (create a new group to change it)" % (
                    name, current.get("DBParameterGroupFamily"), spec["family"]))
            values = self.user_parameters(name)
            self.converge_tags("parameter group %s" % name, current["DBParameterGroupArn"])
        changes = parameter_changes(values, wanted)
        if changes:
            self.changes.extend("parameter group %s: %s" % (name, c["ParameterName"]) for c in changes)
            self.diff["before"]["parameters"] = {c["ParameterName"]: values.get(c["ParameterName"]) for c in changes}
            self.diff["after"]["parameters"] = {c["ParameterName"]: c["ParameterValue"] for c in changes}
            if not self.check:
                for start in range(0, len(changes), 20):  # the API takes at most 20 parameters per call
                    self.client.modify_db_parameter_group(aws_retry=True, DBParameterGroupName=name,
                                                          Parameters=changes[start:start + 20])

    # -- instance ------------------------------------------------------------------------------------------
    def instance(self):
        current = self.describe_instance()
        desired = desired_settings(self.params)
        if current is None:
            self.changes.append("instance %s: created" % self.params["identifier"])
            self.diff["after"]["instance"] = desired
            if self.check:
                return None
            aws_retry.call_while_propagating(self.client.create_db_instance, *MONITORING_ROLE_PROPAGATION,
                                             **create_kwargs(self.params))
            return self.wait_available()
        if current.get("DBInstanceStatus") == "deleting":
            self.module.fail_json(msg="instance %s is being deleted; retry when it is gone" % self.params["identifier"])
        have = current_settings(current)
        differences = instance_differences(have, desired)
        self.static_warnings(current)
        if differences:
            self.changes.extend("instance: %s" % key for key in differences)
            self.diff["before"]["instance"] = {k: have.get(k) for k in differences}
            self.diff["after"]["instance"] = {k: desired[k] for k in differences}
            kwargs = modify_kwargs(differences, desired, self.params)
            disable = logs_exports_to_disable(have, desired)
            if "cloudwatch_logs_exports" in differences and disable:
                kwargs["CloudwatchLogsExportConfiguration"]["DisableLogTypes"] = disable
            if kwargs and not self.check:
                aws_retry.call_while_propagating(self.client.modify_db_instance, *MONITORING_ROLE_PROPAGATION,
                                                 DBInstanceIdentifier=self.params["identifier"],
                                                 ApplyImmediately=True, **kwargs)
        self.converge_tags("instance", current["DBInstanceArn"], current.get("TagList"))
        if self.changes and not self.check:
            return self.describe_instance()
        return current

    def static_warnings(self, current):
        wanted_key = self.params["kms_key_id"] or ""
        if current.get("KmsKeyId") and ":key/" in wanted_key and current["KmsKeyId"] != wanted_key:
            self.warnings.append("instance: storage KMS key %s differs from kms_key_id (fixed at creation)"
                                 % current["KmsKeyId"])
        if not current.get("StorageEncrypted"):
            self.warnings.append("instance: storage is not encrypted (restore from an encrypted snapshot copy)")
        subnet = (current.get("DBSubnetGroup") or {}).get("DBSubnetGroupName")
        if self.params["subnet_group"] and subnet and subnet != self.params["subnet_group"]["name"]:
            self.warnings.append("instance: in subnet group %s, not %s" % (subnet, self.params["subnet_group"]["name"]))

    def wait_available(self):
        if self.params["wait"]:
            waiter = aws_retry.retrying_waiter(self.client, "db_instance_available")
            delay = 15
            waiter.wait(DBInstanceIdentifier=self.params["identifier"],
                        WaiterConfig={"Delay": delay, "MaxAttempts": max(1, self.params["wait_timeout"] // delay)})
        return self.describe_instance()

    # -- proxy ---------------------------------------------------------------------------------------------
    def proxy(self, instance):
        spec = self.params["proxy"]
        if not spec:
            return {}
        name = spec["name"]
        master_secret = ((instance or {}).get("MasterUserSecret") or {}).get("SecretArn")
        wanted_secrets = [s for s in [master_secret] + list(spec["auth_secret_arns"]) if s]
        subnets = spec["subnet_ids"] or (self.params["subnet_group"] or {}).get("subnet_ids") or []
        current = self.describe_proxy(name)
        auth = [{"AuthScheme": "SECRETS", "SecretArn": arn, "IAMAuth": spec["iam_auth"]} for arn in wanted_secrets]
        if current is None:
            self.changes.append("proxy %s: created" % name)
            if self.check or instance is None:
                return {"name": name}
            current = self.client.create_db_proxy(
                aws_retry=True, DBProxyName=name, EngineFamily="POSTGRESQL", Auth=auth, RoleArn=spec["role_arn"],
                VpcSubnetIds=sorted(subnets), VpcSecurityGroupIds=list(self.params["vpc_security_group_ids"]),
                RequireTLS=spec["require_tls"], IdleClientTimeout=spec["idle_client_timeout"],
                Tags=tag_list(self.params["tags"]))["DBProxy"]
            self.client.register_db_proxy_targets(aws_retry=True, DBProxyName=name,
                                                  DBInstanceIdentifiers=[self.params["identifier"]])
        else:
            have = {a.get("SecretArn"): a.get("IAMAuth") for a in current.get("Auth", [])}
            merged = dict(have) if not spec["purge_auth"] else {}
            merged.update({arn: spec["iam_auth"] for arn in wanted_secrets})
            modify = {}
            if merged != have:
                modify["Auth"] = [{"AuthScheme": "SECRETS", "SecretArn": a, "IAMAuth": m}
                                  for a, m in sorted(merged.items())]
            if current.get("RequireTLS") != spec["require_tls"]:
                modify["RequireTLS"] = spec["require_tls"]
            if current.get("IdleClientTimeout") != spec["idle_client_timeout"]:
                modify["IdleClientTimeout"] = spec["idle_client_timeout"]
            if current.get("RoleArn") != spec["role_arn"]:
                modify["RoleArn"] = spec["role_arn"]
            if sorted(current.get("VpcSecurityGroupIds") or []) != sorted(self.params["vpc_security_group_ids"]) \
                    and self.params["vpc_security_group_ids"]:
                modify["SecurityGroups"] = list(self.params["vpc_security_group_ids"])
            if modify:
                self.changes.extend("proxy %s: %s" % (name, key) for key in sorted(modify))
                if not self.check:
                    self.client.modify_db_proxy(aws_retry=True, DBProxyName=name, **modify)
            targets = self.client.describe_db_proxy_targets(aws_retry=True, DBProxyName=name).get("Targets", [])
            if not any(t.get("RdsResourceId") == self.params["identifier"] for t in targets):
                self.changes.append("proxy %s: target" % name)
                if not self.check:
                    self.client.register_db_proxy_targets(aws_retry=True, DBProxyName=name,
                                                          DBInstanceIdentifiers=[self.params["identifier"]])
            self.converge_tags("proxy %s" % name, current["DBProxyArn"])
        return {"name": name, "endpoint": current.get("Endpoint"), "arn": current.get("DBProxyArn")}

    # -- absent --------------------------------------------------------------------------------------------
    def final_snapshot_name(self):
        """The final snapshot's name: the given one (refused if it exists), or one unique to this deletion."""
        name = self.params["final_snapshot_identifier"]
        if not name:
            now = datetime.datetime.now(datetime.timezone.utc)
            return "%s-final-%s" % (self.params["identifier"], now.strftime("%Y%m%d-%H%M%S"))
        try:
            found = self.client.describe_db_snapshots(aws_retry=True, DBSnapshotIdentifier=name).get("DBSnapshots")
        except is_boto3_error_code("DBSnapshotNotFound"):
            found = []
        if found:
            self.module.fail_json(msg="final snapshot %s of instance %s exists already; nothing was deleted"
                                      % (name, self.params["identifier"]))
        return name

    def absent(self):
        identifier = self.params["identifier"]
        current = self.describe_instance()
        if current is not None and current.get("DBInstanceStatus") == "deleting":
            current = None
        # Everything that can refuse is decided before the first deletion (the proxy's).
        kwargs = {"SkipFinalSnapshot": True}
        if current is not None:
            if current.get("DeletionProtection") and not self.params["disable_deletion_protection"]:
                self.module.fail_json(msg="instance %s has deletion protection; refusing to delete it "
                                          "(disable_deletion_protection turns it off first)" % identifier)
            if not self.params["skip_final_snapshot"]:
                self.final_snapshot = self.final_snapshot_name()
                kwargs = {"FinalDBSnapshotIdentifier": self.final_snapshot}
        if self.params["proxy"]:
            name = self.params["proxy"]["name"]
            if self.describe_proxy(name):
                self.changes.append("proxy %s: deleted" % name)
                if not self.check:
                    self.client.delete_db_proxy(aws_retry=True, DBProxyName=name)
        if current is not None:
            if current.get("DeletionProtection"):
                self.changes.append("instance %s: deletion protection disabled" % identifier)
                if not self.check:
                    self.client.modify_db_instance(aws_retry=True, DBInstanceIdentifier=identifier,
                                                   DeletionProtection=False, ApplyImmediately=True)
                    if self.params["wait"]:  # RDS refuses to delete an instance that is still being modified
                        delay = 15
                        aws_retry.retrying_waiter(self.client, "db_instance_available").wait(
                            DBInstanceIdentifier=identifier,
                            WaiterConfig={"Delay": delay, "MaxAttempts": max(1, self.params["wait_timeout"] // delay)})
            self.changes.append("instance %s: deleted" % identifier)
            if self.final_snapshot:
                self.changes.append("instance %s: final snapshot %s" % (identifier, self.final_snapshot))
            if not self.check:
                self.client.delete_db_instance(aws_retry=True, DBInstanceIdentifier=identifier,
                                               DeleteAutomatedBackups=self.params["delete_automated_backups"],
                                               **kwargs)
                if self.params["wait"]:
                    delay = 15
                    aws_retry.retrying_waiter(self.client, "db_instance_deleted").wait(
                        DBInstanceIdentifier=identifier,
                        WaiterConfig={"Delay": delay, "MaxAttempts": max(1, self.params["wait_timeout"] // delay)})
        if self.params["parameter_group"] and self.describe_parameter_group(self.params["parameter_group"]["name"]):
            self.changes.append("parameter group %s: deleted" % self.params["parameter_group"]["name"])
            if not self.check:
                self.client.delete_db_parameter_group(aws_retry=True,
                                                      DBParameterGroupName=self.params["parameter_group"]["name"])
        if self.params["subnet_group"] and self.describe_subnet_group(self.params["subnet_group"]["name"]):
            self.changes.append("subnet group %s: deleted" % self.params["subnet_group"]["name"])
            if not self.check:
                self.client.delete_db_subnet_group(aws_retry=True,
                                                   DBSubnetGroupName=self.params["subnet_group"]["name"])


def main():
    argument_spec = dict(
        identifier=dict(type="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        engine_version=dict(type="str", default="15.8"),
        instance_class=dict(type="str"),
        allocated_storage=dict(type="int", default=20),
        max_allocated_storage=dict(type="int"),
        storage_type=dict(type="str", default="gp3"),
        port=dict(type="int", default=5432),
        kms_key_id=dict(type="str"),
        master_username=dict(type="str", default="platform_admin"),
        master_user_secret_kms_key_id=dict(type="str"),
        multi_az=dict(type="bool", default=False),
        deletion_protection=dict(type="bool", default=False),
        backup_retention_period=dict(type="int", default=7),
        iam_database_authentication=dict(type="bool", default=True),
        monitoring_interval=dict(type="int", default=0, choices=[0, 1, 5, 10, 15, 30, 60]),
        monitoring_role_arn=dict(type="str"),
        performance_insights=dict(type="dict", options=dict(
            enabled=dict(type="bool", default=True),
            kms_key_id=dict(type="str"),
            retention_period=dict(type="int", default=7),
        )),
        cloudwatch_logs_exports=dict(type="list", elements="str", default=["postgresql", "upgrade"]),
        vpc_security_group_ids=dict(type="list", elements="str", default=[]),
        subnet_group=dict(type="dict", options=dict(
            name=dict(type="str", required=True),
            description=dict(type="str", default="Managed by manufacturing.platform"),
            subnet_ids=dict(type="list", elements="str", required=True),
        )),
        parameter_group=dict(type="dict", options=dict(
            name=dict(type="str", required=True),
            family=dict(type="str", required=True),
            description=dict(type="str", default="Managed by manufacturing.platform"),
            parameters=dict(type="dict", default={}),
        )),
        proxy=dict(type="dict", options=dict(
            name=dict(type="str", required=True),
            role_arn=dict(type="str", required=True),
            subnet_ids=dict(type="list", elements="str"),
            require_tls=dict(type="bool", default=True),
            iam_auth=dict(type="str", choices=["REQUIRED", "DISABLED"], default="REQUIRED"),
            idle_client_timeout=dict(type="int", default=1800),
            auth_secret_arns=dict(type="list", elements="str", default=[], no_log=False),
            purge_auth=dict(type="bool", default=False),
        )),
        tags=dict(type="dict", default={}),
        skip_final_snapshot=dict(type="bool", default=False),
        final_snapshot_identifier=dict(type="str"),
        delete_automated_backups=dict(type="bool", default=False),
        disable_deletion_protection=dict(type="bool", default=False),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=3600),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True,
                              required_if=[("state", "present", ["instance_class", "kms_key_id"])])
    if module.params["monitoring_interval"] and not module.params["monitoring_role_arn"]:
        module.fail_json(msg="monitoring_interval %d needs monitoring_role_arn (the Enhanced Monitoring role)"
                         % module.params["monitoring_interval"])
    client = aws_retry.client(module, "rds")
    converger = Converger(module, client)
    result = {}
    try:
        if module.params["state"] == "present":
            converger.subnet_group()
            converger.parameter_group()
            instance = converger.instance()
            result["proxy"] = converger.proxy(instance)
            result["instance"] = summarize(instance)
        else:
            converger.absent()
            if converger.final_snapshot:
                result["final_snapshot_identifier"] = converger.final_snapshot
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError, botocore.exceptions.WaiterError) as e:
        module.fail_json_aws(e, msg="Failed to converge RDS instance %s" % module.params["identifier"])
    result.update(changed=bool(converger.changes), changes=converger.changes)
    for warning in converger.warnings:
        module.warn(warning)
    if module._diff:
        result["diff"] = converger.diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
