# -*- coding: utf-8 -*-
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared code of the msk_cluster / msk_cluster_info modules: MSK provisioned clusters and configurations.

Pure functions (desired/current state in one normalised shape, the update plan, server.properties) and a small
manager around a boto3 ``kafka`` client. Clusters are read with ``list_clusters_v2`` / ``describe_cluster_v2``
(the v1 ``list_clusters`` of some emulators returns partial data). Clusters are created with ``create_cluster``
(the provisioned API: it takes exactly the provisioned settings, and is the call every emulator stores fully).
"""

from __future__ import annotations

import time

try:  # noqa: SIM105 - the usual optional-import pattern of AWS modules
    import botocore
except ImportError:
    pass  # caught by AnsibleAWSModule

# Errors that are worth retrying (aws_retry extra_codes) besides the throttling codes and 5xx aws_retry knows.
MSK_CLUSTER_RETRY_CODES = [
    "TooManyRequestsException",
    "ServiceUnavailableException",
    "InternalServerErrorException",
]
# States in which MSK accepts an update operation.
UPDATABLE_STATES = ("ACTIVE",)
FAILED_STATES = ("FAILED",)
# Order in which update operations are applied (MSK runs one operation at a time on a cluster).
UPDATE_ORDER = (
    "update_security",
    "update_monitoring",
    "update_broker_storage",
    "update_broker_type",
    "update_broker_count",
    "update_cluster_configuration",
    "update_cluster_kafka_version",
)


class MskClusterError(Exception):
    """A problem the module reports with fail_json (message only)."""


# ------------------------------------------------------------------------------------------------ ARNs


def cluster_uuid(arn):
    """The cluster's UUID: the last path segment of its ARN (``.../cluster/<name>/<uuid>``)."""
    if not arn or ":cluster/" not in arn:
        return ""
    return arn.rsplit("/", 1)[-1]


def iam_resource_arns(cluster_arn, cluster_name):
    """The IAM resource ARNs of a cluster for ``kafka-cluster:*`` actions.

    MSK authorises IAM access on ``cluster/<name>/<uuid>``, ``topic/<name>/<uuid>/<topic>`` and
    ``group/<name>/<uuid>/<group>``; built from the name and the UUID so that they are right even where the
    cluster ARN itself lacks the name (the emulator's ``cluster/<uuid>``).
    """
    head, _sep, _path = cluster_arn.partition(":cluster/")
    uuid = cluster_uuid(cluster_arn)
    base = "%s:%%s/%s/%s" % (head, cluster_name, uuid)
    return {
        "cluster": base % "cluster",
        "topic": base % "topic",
        "group": base % "group",
        "transactional_id": base % "transactional-id",
        "uuid": uuid,
    }


# ------------------------------------------------------------------------------------------------ server.properties


def _prop_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


def normalize_properties(props):
    return {str(k).strip(): _prop_value(v) for k, v in (props or {}).items()}


def render_server_properties(props):
    """``key=value`` lines, sorted, as MSK stores them."""
    return "".join("%s=%s\n" % (k, v) for k, v in sorted(normalize_properties(props).items()))


def parse_server_properties(text):
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    props = {}
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "!")):
            continue
        key, sep, value = line.partition("=")
        if sep:
            props[key.strip()] = value.strip()
    return props


# ------------------------------------------------------------------------------------------------ desired / current


def desired_from_params(params):
    """The module's parameters in the normalised shape compared with :func:`current_from_info`.

    Keys whose parameter is None are not managed (never compared, never sent).
    """
    enc = params.get("encryption") or {}
    auth = params.get("authentication") or {}
    logs = params.get("broker_logs") or {}
    desired = {
        "kafka_version": params.get("kafka_version"),
        "instance_type": params.get("instance_type"),
        "number_of_broker_nodes": params.get("number_of_broker_nodes"),
        "subnets": sorted(params["subnets"]) if params.get("subnets") is not None else None,
        "security_groups": sorted(params["security_groups"]) if params.get("security_groups") is not None else None,
        "ebs_volume_size": params.get("ebs_volume_size"),
        "kms_key_arn": enc.get("kms_key_arn"),
        "client_broker": enc.get("client_broker"),
        "in_cluster": enc.get("in_cluster"),
        "sasl_iam": auth.get("sasl_iam"),
        "sasl_scram": auth.get("sasl_scram"),
        "tls_certificate_authority_arns": (
            sorted(auth["tls_certificate_authority_arns"])
            if auth.get("tls_certificate_authority_arns") is not None
            else None
        ),
        "unauthenticated": auth.get("unauthenticated"),
        "enhanced_monitoring": params.get("enhanced_monitoring"),
        "cloudwatch_logs_enabled": logs.get("enabled") if logs else None,
        "cloudwatch_log_group": (logs.get("log_group") or None) if logs and logs.get("enabled") else None,
    }
    return desired


def current_from_info(info):
    """A ``describe_cluster_v2`` / ``list_clusters_v2`` ClusterInfo in the normalised shape."""
    prov = info.get("Provisioned") or {}
    bngi = prov.get("BrokerNodeGroupInfo") or {}
    ebs = (bngi.get("StorageInfo") or {}).get("EbsStorageInfo") or {}
    enc = prov.get("EncryptionInfo") or {}
    in_transit = enc.get("EncryptionInTransit") or {}
    auth = prov.get("ClientAuthentication") or {}
    sasl = auth.get("Sasl") or {}
    tls = auth.get("Tls") or {}
    cw = ((prov.get("LoggingInfo") or {}).get("BrokerLogs") or {}).get("CloudWatchLogs") or {}
    software = prov.get("CurrentBrokerSoftwareInfo") or {}
    return {
        "kafka_version": software.get("KafkaVersion"),
        "instance_type": bngi.get("InstanceType"),
        "number_of_broker_nodes": prov.get("NumberOfBrokerNodes"),
        "subnets": sorted(bngi.get("ClientSubnets") or []),
        "security_groups": sorted(bngi.get("SecurityGroups") or []),
        "ebs_volume_size": ebs.get("VolumeSize"),
        "kms_key_arn": (enc.get("EncryptionAtRest") or {}).get("DataVolumeKMSKeyId"),
        # MSK's defaults when the cluster was created without them
        "client_broker": in_transit.get("ClientBroker", "TLS"),
        "in_cluster": in_transit.get("InCluster", True),
        "sasl_iam": bool((sasl.get("Iam") or {}).get("Enabled", False)),
        "sasl_scram": bool((sasl.get("Scram") or {}).get("Enabled", False)),
        "tls_certificate_authority_arns": sorted(tls.get("CertificateAuthorityArnList") or [])
        if tls.get("Enabled", bool(tls.get("CertificateAuthorityArnList")))
        else [],
        "unauthenticated": bool((auth.get("Unauthenticated") or {}).get("Enabled", not auth)),
        "enhanced_monitoring": prov.get("EnhancedMonitoring", "DEFAULT"),
        "cloudwatch_logs_enabled": bool(cw.get("Enabled", False)),
        "cloudwatch_log_group": cw.get("LogGroup") if cw.get("Enabled") else None,
        "configuration_arn": software.get("ConfigurationArn"),
        "configuration_revision": software.get("ConfigurationRevision"),
    }


def _client_authentication(d):
    auth = {
        "Sasl": {"Iam": {"Enabled": bool(d["sasl_iam"])}, "Scram": {"Enabled": bool(d["sasl_scram"])}},
        "Unauthenticated": {"Enabled": bool(d["unauthenticated"])},
    }
    cas = d.get("tls_certificate_authority_arns") or []
    auth["Tls"] = {"CertificateAuthorityArnList": cas, "Enabled": True} if cas else {"Enabled": False}
    return auth


def _logging_info(d):
    if not d.get("cloudwatch_logs_enabled"):
        return {"BrokerLogs": {"CloudWatchLogs": {"Enabled": False}}}
    return {"BrokerLogs": {"CloudWatchLogs": {"Enabled": True, "LogGroup": d["cloudwatch_log_group"]}}}


def create_request(name, desired, tags, configuration=None):
    """Keyword arguments of ``create_cluster`` for the desired cluster."""
    missing = [
        k
        for k in ("kafka_version", "instance_type", "number_of_broker_nodes", "subnets", "security_groups")
        if desired.get(k) in (None, [])
    ]
    if missing:
        raise MskClusterError("to create cluster %s these options are required: %s" % (name, ", ".join(missing)))
    if desired["number_of_broker_nodes"] % len(desired["subnets"]):
        raise MskClusterError(
            "number_of_broker_nodes (%d) must be a multiple of the number of subnets (%d)"
            % (desired["number_of_broker_nodes"], len(desired["subnets"]))
        )
    bngi = {
        "InstanceType": desired["instance_type"],
        "ClientSubnets": list(desired["subnets"]),
        "SecurityGroups": list(desired["security_groups"]),
    }
    if desired.get("ebs_volume_size"):
        bngi["StorageInfo"] = {"EbsStorageInfo": {"VolumeSize": desired["ebs_volume_size"]}}
    filled = dict(current_from_info({}), **{k: v for k, v in desired.items() if v is not None})
    encryption = {"EncryptionInTransit": {"ClientBroker": filled["client_broker"], "InCluster": filled["in_cluster"]}}
    if desired.get("kms_key_arn"):
        encryption["EncryptionAtRest"] = {"DataVolumeKMSKeyId": desired["kms_key_arn"]}
    request = {
        "ClusterName": name,
        "KafkaVersion": desired["kafka_version"],
        "NumberOfBrokerNodes": desired["number_of_broker_nodes"],
        "BrokerNodeGroupInfo": bngi,
        "EncryptionInfo": encryption,
        "EnhancedMonitoring": filled["enhanced_monitoring"],
        "Tags": dict(tags or {}),
    }
    if any(
        desired.get(k) is not None
        for k in ("sasl_iam", "sasl_scram", "unauthenticated", "tls_certificate_authority_arns")
    ):
        request["ClientAuthentication"] = _client_authentication(filled)
    if desired.get("cloudwatch_logs_enabled") is not None:
        request["LoggingInfo"] = _logging_info(filled)
    if configuration and configuration.get("arn"):
        request["ConfigurationInfo"] = {"Arn": configuration["arn"], "Revision": configuration["revision"]}
    return request


IMMUTABLE = {
    "subnets": "client subnets",
    "security_groups": "security groups",
    "kms_key_arn": "the encryption-at-rest KMS key",
    "in_cluster": "in-cluster encryption",
}


def _differs(desired, current, key):
    return desired.get(key) is not None and desired[key] != current.get(key)


def plan_updates(name, desired, current, configuration=None):
    """The update operations that bring ``current`` to ``desired``, in :data:`UPDATE_ORDER`.

    Returns a list of ``(operation, kwargs, description)``; ``kwargs`` lack ClusterArn/CurrentVersion.
    Raises MskClusterError for changes MSK cannot make in place.
    """
    errors = []
    for key, what in IMMUTABLE.items():
        if _differs(desired, current, key):
            errors.append("%s cannot change on an existing cluster (%r -> %r)" % (what, current.get(key), desired[key]))
    if _differs(desired, current, "number_of_broker_nodes") and desired["number_of_broker_nodes"] < (
        current.get("number_of_broker_nodes") or 0
    ):
        errors.append(
            "the broker count cannot decrease (%s -> %s)"
            % (current["number_of_broker_nodes"], desired["number_of_broker_nodes"])
        )
    if _differs(desired, current, "ebs_volume_size") and desired["ebs_volume_size"] < (
        current.get("ebs_volume_size") or 0
    ):
        errors.append(
            "broker storage cannot shrink (%s GiB -> %s GiB)" % (current["ebs_volume_size"], desired["ebs_volume_size"])
        )
    if errors:
        raise MskClusterError(
            "cluster %s: %s. Replace the cluster (state=absent, then present) to change them."
            % (name, "; ".join(errors))
        )

    merged = dict(current, **{k: v for k, v in desired.items() if v is not None})
    ops = []
    security_keys = ("client_broker", "sasl_iam", "sasl_scram", "unauthenticated", "tls_certificate_authority_arns")
    changed_security = [k for k in security_keys if _differs(desired, current, k)]
    if changed_security:
        kwargs = {}
        if any(k != "client_broker" for k in changed_security):
            kwargs["ClientAuthentication"] = _client_authentication(merged)
        if "client_broker" in changed_security:
            kwargs["EncryptionInfo"] = {"EncryptionInTransit": {"ClientBroker": merged["client_broker"]}}
        ops.append(
            (
                "update_security",
                kwargs,
                "update security: "
                + ", ".join("%s %r -> %r" % (k, current.get(k), desired[k]) for k in changed_security),
            )
        )
    monitoring_keys = ("enhanced_monitoring", "cloudwatch_logs_enabled", "cloudwatch_log_group")
    changed_monitoring = [k for k in monitoring_keys if _differs(desired, current, k)]
    if changed_monitoring:
        kwargs = {"EnhancedMonitoring": merged["enhanced_monitoring"], "LoggingInfo": _logging_info(merged)}
        ops.append(
            (
                "update_monitoring",
                kwargs,
                "update monitoring: "
                + ", ".join("%s %r -> %r" % (k, current.get(k), desired[k]) for k in changed_monitoring),
            )
        )
    if _differs(desired, current, "ebs_volume_size"):
        ops.append(
            (
                "update_broker_storage",
                {
                    "TargetBrokerEBSVolumeInfo": [
                        {"KafkaBrokerNodeId": "All", "VolumeSizeGB": desired["ebs_volume_size"]}
                    ]
                },
                "grow broker storage %s GiB -> %s GiB" % (current.get("ebs_volume_size"), desired["ebs_volume_size"]),
            )
        )
    if _differs(desired, current, "instance_type"):
        ops.append(
            (
                "update_broker_type",
                {"TargetInstanceType": desired["instance_type"]},
                "change broker type %s -> %s" % (current.get("instance_type"), desired["instance_type"]),
            )
        )
    if _differs(desired, current, "number_of_broker_nodes"):
        ops.append(
            (
                "update_broker_count",
                {"TargetNumberOfBrokerNodes": desired["number_of_broker_nodes"]},
                "add brokers %s -> %s" % (current.get("number_of_broker_nodes"), desired["number_of_broker_nodes"]),
            )
        )
    if configuration and configuration.get("pending"):
        # check mode: the configuration (revision) the cluster should use does not exist yet
        ops.append(
            ("update_cluster_configuration", {}, "apply configuration %s (new revision)" % configuration["name"])
        )
    elif (
        configuration
        and configuration.get("arn")
        and (
            configuration["arn"] != current.get("configuration_arn")
            or configuration["revision"] != current.get("configuration_revision")
        )
    ):
        ops.append(
            (
                "update_cluster_configuration",
                {"ConfigurationInfo": {"Arn": configuration["arn"], "Revision": configuration["revision"]}},
                "apply configuration %s revision %s" % (configuration["arn"], configuration["revision"]),
            )
        )
    if _differs(desired, current, "kafka_version"):
        ops.append(
            (
                "update_cluster_kafka_version",
                {"TargetKafkaVersion": desired["kafka_version"]},
                "upgrade Kafka %s -> %s" % (current.get("kafka_version"), desired["kafka_version"]),
            )
        )
    return ops


def tag_changes(current_tags, desired_tags, purge):
    current_tags = current_tags or {}
    desired_tags = {k: str(v) for k, v in (desired_tags or {}).items()}
    to_set = {k: v for k, v in desired_tags.items() if current_tags.get(k) != v}
    to_remove = sorted(k for k in current_tags if k not in desired_tags) if purge else []
    return to_set, to_remove


def comparable(state):
    """Drop unmanaged/None keys for diff output."""
    return {k: v for k, v in state.items() if v is not None}


# ------------------------------------------------------------------------------------------------ AWS calls


def is_not_found(exc):
    return isinstance(exc, botocore.exceptions.ClientError) and exc.response.get("Error", {}).get("Code") in (
        "NotFoundException",
        "NotFound",
    )


class MskClusterManager:
    """Reads and writes clusters and configurations through a boto3 ``kafka`` client (calls with aws_retry)."""

    def __init__(self, client, sleep=time.sleep, clock=time.monotonic, delay=30):
        self.client = client
        self.sleep = sleep
        self.clock = clock
        self.delay = delay

    def _call(self, method, **kwargs):
        return getattr(self.client, method)(aws_retry=True, **kwargs)

    # ----- clusters

    def find_cluster(self, name):
        """The ClusterInfo of the provisioned cluster named exactly ``name`` (list_clusters_v2 filters by prefix)."""
        found = []
        token = None
        while True:
            kwargs = {"ClusterNameFilter": name, "ClusterTypeFilter": "PROVISIONED"}
            if token:
                kwargs["NextToken"] = token
            page = self._call("list_clusters_v2", **kwargs)
            found.extend(
                c
                for c in page.get("ClusterInfoList", [])
                if c.get("ClusterName") == name and c.get("State") != "DELETING"
            )
            token = page.get("NextToken")
            if not token:
                break
        if len(found) > 1:
            raise MskClusterError(
                "%d clusters are named %s: refusing to guess (%s)"
                % (len(found), name, ", ".join(c["ClusterArn"] for c in found))
            )
        return found[0] if found else None

    def describe(self, arn):
        try:
            return self._call("describe_cluster_v2", ClusterArn=arn)["ClusterInfo"]
        except botocore.exceptions.ClientError as exc:
            if is_not_found(exc):
                return None
            raise

    def bootstrap_brokers(self, arn):
        resp = self._call("get_bootstrap_brokers", ClusterArn=arn)
        return {
            "plaintext": resp.get("BootstrapBrokerString", ""),
            "tls": resp.get("BootstrapBrokerStringTls", ""),
            "sasl_scram": resp.get("BootstrapBrokerStringSaslScram", ""),
            "sasl_iam": resp.get("BootstrapBrokerStringSaslIam", ""),
        }

    def wait_for(self, arn, timeout, target="ACTIVE"):
        """Poll until the cluster is in ``target`` (or gone, for target ``DELETED``); bounded by ``timeout``.

        Returns the last ClusterInfo (None when gone). Raises MskClusterError on FAILED or timeout.
        """
        deadline = self.clock() + timeout
        while True:
            info = self.describe(arn)
            state = info.get("State") if info else "DELETED"
            if state == target:
                return info
            if state in FAILED_STATES:
                raise MskClusterError(
                    "cluster %s is %s: %s" % (arn, state, (info.get("StateInfo") or {}).get("Message", ""))
                )
            remaining = deadline - self.clock()
            if remaining <= 0:
                raise MskClusterError(
                    "cluster %s is still %s after %ss (wanted %s). Nothing is lost: the operation continues in AWS "
                    "and the next run finds the cluster by name and carries on (raise wait_timeout, or wait=false "
                    "to return at once)." % (arn, state, timeout, target)
                )
            self.sleep(min(self.delay, remaining))

    def apply_update(self, arn, version, operation, kwargs):
        resp = self._call(operation, ClusterArn=arn, CurrentVersion=version, **kwargs)
        return resp.get("ClusterOperationArn")

    # ----- configurations (API missing from the local emulator: covered by Stubber tests)

    def find_configuration(self, name):
        token = None
        while True:
            kwargs = {"NextToken": token} if token else {}
            page = self._call("list_configurations", **kwargs)
            for conf in page.get("Configurations", []):
                if conf.get("Name") == name and conf.get("State") != "DELETING":
                    return conf
            token = page.get("NextToken")
            if not token:
                return None

    def ensure_configuration(self, name, server_properties, description, check_mode):
        """Create or update the named configuration; returns a dict with arn, revision, changed, before, after."""
        wanted = normalize_properties(server_properties)
        text = render_server_properties(wanted).encode("utf-8")
        existing = self.find_configuration(name)
        result = {"name": name, "after": wanted, "changed": False, "pending": False}
        if existing is None:
            result.update(before={}, changed=True, arn=None, revision=None, action="create")
            if check_mode:
                result["pending"] = True
                return result
            kwargs = {"Name": name, "ServerProperties": text}
            if description:
                kwargs["Description"] = description
            resp = self._call("create_configuration", **kwargs)
            result.update(arn=resp["Arn"], revision=resp["LatestRevision"]["Revision"])
            return result
        arn = existing["Arn"]
        revision = existing["LatestRevision"]["Revision"]
        current = parse_server_properties(
            self._call("describe_configuration_revision", Arn=arn, Revision=revision).get("ServerProperties", b"")
        )
        result.update(arn=arn, revision=revision, before=current, action="unchanged")
        if current == wanted:
            return result
        result.update(changed=True, action="update")
        if check_mode:
            result["pending"] = True
            return result
        kwargs = {"Arn": arn, "ServerProperties": text}
        if description:
            kwargs["Description"] = description
        resp = self._call("update_configuration", **kwargs)
        result["revision"] = resp["LatestRevision"]["Revision"]
        return result

    def delete_configuration(self, name, check_mode):
        existing = self.find_configuration(name)
        if existing is None:
            return False
        if not check_mode:
            self._call("delete_configuration", Arn=existing["Arn"])
        return True
