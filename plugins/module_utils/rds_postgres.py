# -*- coding: utf-8 -*-
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure helpers of the databases role: RDS PostgreSQL instance classes and sizing, the comparison of a
described DB instance with the desired settings (what ModifyDBInstance must change), parameter-group
differences, and SCRAM-SHA-256 password verifiers.

No boto3 and no database driver here, so everything is unit tested without AWS or PostgreSQL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re

# Instance classes RDS offers for PostgreSQL (families x sizes). A class outside this catalogue is a typo
# until proven otherwise (preflight rejects it); extend the catalogue when AWS adds one.
_BURSTABLE_SIZES = ("micro", "small", "medium", "large", "xlarge", "2xlarge")
_STANDARD_SIZES = ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge")
INSTANCE_FAMILIES = {
    "t3": _BURSTABLE_SIZES,
    "t4g": _BURSTABLE_SIZES,
    "m5": _STANDARD_SIZES,
    "m6g": _STANDARD_SIZES,
    "m6i": _STANDARD_SIZES + ("32xlarge",),
    "m7g": _STANDARD_SIZES,
    "r5": _STANDARD_SIZES,
    "r6g": _STANDARD_SIZES,
    "r6i": _STANDARD_SIZES + ("32xlarge",),
    "r7g": _STANDARD_SIZES,
}
_CLASS_RE = re.compile(r"^db\.([a-z0-9]+)\.([a-z0-9]+)$")


def instance_class_problem(value):
    """None when ``value`` is an RDS PostgreSQL instance class, else why not."""
    if not isinstance(value, str):
        return "%r is not an instance class name (a string like db.t4g.medium)" % (value,)
    match = _CLASS_RE.fullmatch(value)
    if not match:
        return "%r is not an instance class name (db.<family>.<size>, e.g. db.t4g.medium)" % value
    family, size = match.groups()
    if family not in INSTANCE_FAMILIES:
        return "%r: unknown instance family %r for RDS PostgreSQL (known: %s)" % (
            value, family, ", ".join(sorted(INSTANCE_FAMILIES)))
    if size not in INSTANCE_FAMILIES[family]:
        return "%r: family %s has no size %r (sizes: %s)" % (value, family, size, ", ".join(INSTANCE_FAMILIES[family]))
    return None


def sizing_problems(ladder, field="databases_dedicated_sizing"):
    """Problems of a sizing ladder: a list of {max_machines, instance_class}, max_machines strictly increasing."""
    if not isinstance(ladder, (list, tuple)):
        return [(field, "must be a list of {max_machines, instance_class}")]
    problems = []
    previous = 0
    for index, step in enumerate(ladder):
        where = "%s[%d]" % (field, index)
        if not isinstance(step, dict) or set(step) != {"max_machines", "instance_class"}:
            problems.append((where, "must be a mapping with exactly max_machines and instance_class"))
            continue
        machines = step["max_machines"]
        if not isinstance(machines, int) or isinstance(machines, bool) or machines < 1:
            problems.append((where + ".max_machines", "%r is not a positive whole number" % (machines,)))
        elif machines <= previous:
            problems.append((where + ".max_machines", "%d must be greater than the previous step's %d" % (
                machines, previous)))
        else:
            previous = machines
        problem = instance_class_problem(step["instance_class"])
        if problem:
            problems.append((where + ".instance_class", problem))
    return problems


def resolve_instance_class(explicit, machines, ladder):
    """The instance class of a dedicated tenant: ``explicit`` when set, else the first ladder step whose
    ``max_machines`` covers ``machines``. None when nothing applies (a dedicated tenant without sizing)."""
    if explicit:
        return explicit
    if not isinstance(machines, int) or isinstance(machines, bool):
        return None
    for step in ladder or []:
        if isinstance(step, dict) and isinstance(step.get("max_machines"), int) and machines <= step["max_machines"]:
            return step.get("instance_class")
    return None


# --------------------------------------------------------------------------------------------------------------
# DB instance: desired settings vs a DescribeDBInstances entry
# --------------------------------------------------------------------------------------------------------------

def current_settings(instance):
    """The comparable settings of a described instance, pending modifications applied over the current values
    (a change waiting for the maintenance window must not be requested again)."""
    pending = instance.get("PendingModifiedValues") or {}
    groups = instance.get("DBParameterGroups") or [{}]
    current = {
        "instance_class": pending.get("DBInstanceClass", instance.get("DBInstanceClass")),
        "allocated_storage": pending.get("AllocatedStorage", instance.get("AllocatedStorage")),
        "max_allocated_storage": instance.get("MaxAllocatedStorage"),
        "multi_az": pending.get("MultiAZ", instance.get("MultiAZ")),
        "deletion_protection": instance.get("DeletionProtection"),
        "backup_retention_period": pending.get("BackupRetentionPeriod", instance.get("BackupRetentionPeriod")),
        "iam_database_authentication": pending.get("IAMDatabaseAuthenticationEnabled",
                                                   instance.get("IAMDatabaseAuthenticationEnabled")),
        "parameter_group": groups[0].get("DBParameterGroupName"),
        "vpc_security_group_ids": sorted(g["VpcSecurityGroupId"] for g in instance.get("VpcSecurityGroups") or []),
        "cloudwatch_logs_exports": sorted(instance.get("EnabledCloudwatchLogsExports") or []),
        "manage_master_user_password": bool(instance.get("MasterUserSecret")),
        "copy_tags_to_snapshot": instance.get("CopyTagsToSnapshot"),
        "auto_minor_version_upgrade": instance.get("AutoMinorVersionUpgrade"),
        "monitoring_interval": pending.get("MonitoringInterval", instance.get("MonitoringInterval") or 0),
        "monitoring_role_arn": instance.get("MonitoringRoleArn") or "",
    }
    # Performance Insights: compare only what the API reports. A describe without the keys (the emulator)
    # is not a difference: asking again on every run is exactly the stock module's non-idempotence.
    if "PerformanceInsightsEnabled" in instance:
        current["performance_insights"] = bool(instance["PerformanceInsightsEnabled"])
        if instance.get("PerformanceInsightsEnabled"):
            current["performance_insights_retention"] = instance.get("PerformanceInsightsRetentionPeriod")
    return current


def desired_settings(params):
    """The comparable settings the module parameters ask for (same keys as current_settings)."""
    pi = params.get("performance_insights") or {}
    desired = {
        "instance_class": params["instance_class"],
        "allocated_storage": params["allocated_storage"],
        "max_allocated_storage": params.get("max_allocated_storage"),
        "multi_az": params["multi_az"],
        "deletion_protection": params["deletion_protection"],
        "backup_retention_period": params["backup_retention_period"],
        "iam_database_authentication": params["iam_database_authentication"],
        "parameter_group": (params.get("parameter_group") or {}).get("name"),
        "vpc_security_group_ids": sorted(params.get("vpc_security_group_ids") or []),
        "cloudwatch_logs_exports": sorted(params.get("cloudwatch_logs_exports") or []),
        "manage_master_user_password": True,
        "copy_tags_to_snapshot": True,
        "auto_minor_version_upgrade": True,
        "monitoring_interval": params.get("monitoring_interval") or 0,
        # With Enhanced Monitoring off the role is left alone (RDS keeps whatever it had).
        "monitoring_role_arn": (params.get("monitoring_role_arn") or "") if params.get("monitoring_interval") else None,
        "performance_insights": bool(pi.get("enabled", True)),
    }
    if desired["performance_insights"]:
        desired["performance_insights_retention"] = pi.get("retention_period", 7)
    return desired


def instance_differences(current, desired):
    """Keys whose desired value differs from the current one. Storage only grows (RDS cannot shrink it);
    keys the current description does not report are not compared; None in desired means "leave alone"."""
    changes = []
    for key, want in desired.items():
        if want is None or key not in current:
            continue
        have = current[key]
        if key == "allocated_storage" and isinstance(have, int) and want <= have:
            continue
        if have != want:
            changes.append(key)
    return changes


def modify_kwargs(changes, desired, params):
    """ModifyDBInstance arguments for the changed keys (nothing for keys RDS cannot change in place)."""
    kwargs = {}
    mapping = {
        "instance_class": "DBInstanceClass",
        "allocated_storage": "AllocatedStorage",
        "max_allocated_storage": "MaxAllocatedStorage",
        "multi_az": "MultiAZ",
        "deletion_protection": "DeletionProtection",
        "backup_retention_period": "BackupRetentionPeriod",
        "iam_database_authentication": "EnableIAMDatabaseAuthentication",
        "parameter_group": "DBParameterGroupName",
        "vpc_security_group_ids": "VpcSecurityGroupIds",
        "copy_tags_to_snapshot": "CopyTagsToSnapshot",
        "auto_minor_version_upgrade": "AutoMinorVersionUpgrade",
    }
    for key in changes:
        if key in mapping:
            kwargs[mapping[key]] = desired[key]
    if "monitoring_interval" in changes or "monitoring_role_arn" in changes:
        # RDS checks the two together: an interval needs a role, a role needs an interval.
        kwargs["MonitoringInterval"] = desired["monitoring_interval"]
        if desired["monitoring_interval"]:
            kwargs["MonitoringRoleArn"] = desired["monitoring_role_arn"]
    if "cloudwatch_logs_exports" in changes:
        kwargs["CloudwatchLogsExportConfiguration"] = {"EnableLogTypes": desired["cloudwatch_logs_exports"]}
    if "manage_master_user_password" in changes:
        kwargs["ManageMasterUserPassword"] = True
        if params.get("master_user_secret_kms_key_id"):
            kwargs["MasterUserSecretKmsKeyId"] = params["master_user_secret_kms_key_id"]
    if "performance_insights" in changes or "performance_insights_retention" in changes:
        kwargs["EnablePerformanceInsights"] = desired["performance_insights"]
        if desired["performance_insights"]:
            kwargs["PerformanceInsightsRetentionPeriod"] = desired["performance_insights_retention"]
            pi_key = (params.get("performance_insights") or {}).get("kms_key_id")
            # The PI key can be chosen only when PI is switched on; afterwards RDS refuses a different one.
            if "performance_insights" in changes and pi_key:
                kwargs["PerformanceInsightsKMSKeyId"] = pi_key
    return kwargs


def summarize_instance(instance):
    """What the modules return about an instance (no secret values: the master secret's ARN only)."""
    if not instance:
        return {}
    endpoint = instance.get("Endpoint") or {}
    return {
        "identifier": instance.get("DBInstanceIdentifier"),
        "arn": instance.get("DBInstanceArn"),
        "resource_id": instance.get("DbiResourceId"),
        "address": endpoint.get("Address"),
        "port": endpoint.get("Port"),
        "instance_class": instance.get("DBInstanceClass"),
        "multi_az": instance.get("MultiAZ"),
        "storage_encrypted": instance.get("StorageEncrypted"),
        "kms_key_id": instance.get("KmsKeyId"),
        "master_username": instance.get("MasterUsername"),
        "master_user_secret_arn": (instance.get("MasterUserSecret") or {}).get("SecretArn"),
        "status": instance.get("DBInstanceStatus"),
    }


def logs_exports_to_disable(current, desired):
    """Log types exported now that are not wanted any more (CloudwatchLogsExportConfiguration.DisableLogTypes)."""
    return sorted(set(current.get("cloudwatch_logs_exports") or []) - set(desired.get("cloudwatch_logs_exports") or []))


def create_kwargs(params):
    """CreateDBInstance arguments."""
    pi = params.get("performance_insights") or {}
    kwargs = {
        "DBInstanceIdentifier": params["identifier"],
        "Engine": "postgres",
        "EngineVersion": params["engine_version"],
        "DBInstanceClass": params["instance_class"],
        "AllocatedStorage": params["allocated_storage"],
        "StorageType": params["storage_type"],
        "StorageEncrypted": True,
        "KmsKeyId": params["kms_key_id"],
        "MasterUsername": params["master_username"],
        "ManageMasterUserPassword": True,
        "MultiAZ": params["multi_az"],
        "DeletionProtection": params["deletion_protection"],
        "BackupRetentionPeriod": params["backup_retention_period"],
        "EnableIAMDatabaseAuthentication": params["iam_database_authentication"],
        "PubliclyAccessible": False,
        "CopyTagsToSnapshot": True,
        "AutoMinorVersionUpgrade": True,
        "Port": params["port"],
        "EnablePerformanceInsights": bool(pi.get("enabled", True)),
    }
    if params.get("master_user_secret_kms_key_id"):
        kwargs["MasterUserSecretKmsKeyId"] = params["master_user_secret_kms_key_id"]
    if kwargs["EnablePerformanceInsights"]:
        kwargs["PerformanceInsightsRetentionPeriod"] = pi.get("retention_period", 7)
        if pi.get("kms_key_id"):
            kwargs["PerformanceInsightsKMSKeyId"] = pi["kms_key_id"]
    if params.get("monitoring_interval"):
        kwargs["MonitoringInterval"] = params["monitoring_interval"]
        kwargs["MonitoringRoleArn"] = params["monitoring_role_arn"]
    if params.get("max_allocated_storage"):
        kwargs["MaxAllocatedStorage"] = params["max_allocated_storage"]
    if params.get("subnet_group"):
        kwargs["DBSubnetGroupName"] = params["subnet_group"]["name"]
    if params.get("parameter_group"):
        kwargs["DBParameterGroupName"] = params["parameter_group"]["name"]
    if params.get("vpc_security_group_ids"):
        kwargs["VpcSecurityGroupIds"] = list(params["vpc_security_group_ids"])
    if params.get("cloudwatch_logs_exports"):
        kwargs["EnableCloudwatchLogsExports"] = list(params["cloudwatch_logs_exports"])
    if params.get("tags"):
        kwargs["Tags"] = tag_list(params["tags"])
    return kwargs


# --------------------------------------------------------------------------------------------------------------
# Parameter groups, tags
# --------------------------------------------------------------------------------------------------------------

def normalize_parameters(parameters):
    """{name: value or {value, apply_method}} -> {name: (value as str, apply_method)}."""
    result = {}
    for name, spec in (parameters or {}).items():
        if isinstance(spec, dict):
            value, method = spec.get("value"), spec.get("apply_method", "immediate")
        else:
            value, method = spec, "immediate"
        if isinstance(value, bool):
            value = "1" if value else "0"
        result[str(name)] = (str(value), method)
    return result


def parameter_changes(current, wanted):
    """Parameters to set: those whose user-set value differs. ``current`` maps name -> value (str)."""
    changes = []
    for name in sorted(wanted):
        value, method = wanted[name]
        if current.get(name) != value:
            changes.append({"ParameterName": name, "ParameterValue": value, "ApplyMethod": method})
    return changes


def tag_list(tags):
    return [{"Key": str(k), "Value": str(v)} for k, v in sorted((tags or {}).items())]


def tag_changes(current_list, wanted, purge=True):
    """(tags to add as a list, keys to remove) to go from a TagList to the wanted dict."""
    current = {t["Key"]: t["Value"] for t in current_list or [] if not t["Key"].startswith("aws:")}
    wanted = {str(k): str(v) for k, v in (wanted or {}).items()}
    add = [{"Key": k, "Value": v} for k, v in sorted(wanted.items()) if current.get(k) != v]
    remove = sorted(k for k in current if k not in wanted) if purge else []
    return add, remove


# --------------------------------------------------------------------------------------------------------------
# SCRAM-SHA-256 verifiers: the password is hashed on the controller, so the plaintext never reaches the server
# (its statement log, pg_stat_statements) - PostgreSQL stores a verifier it is given as is.
# --------------------------------------------------------------------------------------------------------------

SCRAM_ITERATIONS = 4096


def scram_sha256_verifier(password, salt=None, iterations=SCRAM_ITERATIONS):
    """The SCRAM-SHA-256 verifier PostgreSQL stores in pg_authid.rolpassword for ``password``."""
    salt = os.urandom(16) if salt is None else salt
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(data):
        return base64.b64encode(data).decode("ascii")

    return "SCRAM-SHA-256$%d:%s$%s:%s" % (iterations, b64(salt), b64(stored_key), b64(server_key))


def scram_matches(verifier, password):
    """Whether ``password`` matches a stored SCRAM-SHA-256 verifier (False for anything else, e.g. md5)."""
    match = re.fullmatch(r"SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)", verifier or "")
    if not match:
        return False
    iterations, salt = int(match.group(1)), base64.b64decode(match.group(2))
    return hmac.compare_digest(scram_sha256_verifier(password, salt, iterations), verifier)


def identifier_for(tenant_id):
    """Database, role and schema name of a tenant: t_<tenant_id with - replaced by _>."""
    return "t_" + tenant_id.replace("-", "_")
