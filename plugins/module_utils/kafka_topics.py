# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared logic of ``manufacturing.platform.msk_topic``.

The module is split in three layers so that most of it can be unit-tested without a broker:

* validation and normalisation of the requested topics (pure functions);
* planning: compare the requested topics with the current state and compute every operation
  before anything is changed (pure functions, also used for check mode and ``--diff``);
* two transports that read the current state and apply a plan:
  :class:`KafkaAdminTransport` (Kafka admin protocol through confluent-kafka's AdminClient, with
  optional MSK IAM OAUTHBEARER authentication) and :class:`MskApiTransport` (the MSK topic API of
  the boto3 ``kafka`` client).

Transports raise :class:`KafkaTopicError`; the module turns that into ``fail_json``.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import random
import re
import time

from ansible.module_utils.basic import missing_required_lib
from ansible_collections.manufacturing.platform.plugins.module_utils import aws_retry

try:
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import (
        AdminClient,
        AlterConfigOpType,
        ConfigEntry,
        ConfigResource,
        ConfigSource,
        NewPartitions,
        NewTopic,
        ResourceType,
    )

    HAS_CONFLUENT_KAFKA = True
    CONFLUENT_KAFKA_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - exercised only without the library
    HAS_CONFLUENT_KAFKA = False
    CONFLUENT_KAFKA_IMPORT_ERROR = exc

try:
    from aws_msk_iam_sasl_signer import MSKAuthTokenProvider

    HAS_MSK_IAM_SIGNER = True
    MSK_IAM_SIGNER_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - exercised only without the library
    HAS_MSK_IAM_SIGNER = False
    MSK_IAM_SIGNER_IMPORT_ERROR = exc

try:
    import botocore.exceptions
    from botocore.credentials import CredentialProvider, Credentials
except ImportError:  # pragma: no cover - AnsibleAWSModule reports a missing botocore itself
    CredentialProvider = object
    Credentials = None


TOPIC_NAME_RE = re.compile(r"^[a-zA-Z0-9._-]+$")
MAX_TOPIC_NAME_LENGTH = 249
MIN_MSK_TOPIC_API_KAFKA_VERSION = (3, 6)

ACTION_CREATE = "create"
ACTION_UPDATE = "update"
ACTION_DELETE = "delete"
ACTION_NONE = "none"

# Past-tense names reported per topic in the module result.
RESULT_ACTIONS = {
    ACTION_CREATE: "created",
    ACTION_UPDATE: "updated",
    ACTION_DELETE: "deleted",
    ACTION_NONE: "unchanged",
}


class KafkaTopicError(Exception):
    """An error with a message meant for the module user; ``extra`` is added to the failure result."""

    def __init__(self, msg, **extra):
        super().__init__(msg)
        self.msg = msg
        self.extra = extra


# --------------------------------------------------------------------------------------------
# Validation and normalisation
# --------------------------------------------------------------------------------------------


def validate_topic_name(name):
    """Return an error message for an illegal Kafka topic name, or None if the name is legal."""
    if not isinstance(name, str) or not name:
        return "topic name must be a non-empty string"
    if name in (".", ".."):
        return f"topic name {name!r} is illegal: '.' and '..' are not allowed"
    if len(name) > MAX_TOPIC_NAME_LENGTH:
        return f"topic name {name[:40]!r}... is illegal: {len(name)} characters, the maximum is {MAX_TOPIC_NAME_LENGTH}"
    if not TOPIC_NAME_RE.fullmatch(name):
        return f"topic name {name!r} is illegal: only ASCII alphanumerics, '.', '_' and '-' are allowed"
    return None


def stringify_config_value(key, value):
    """Kafka topic configs are strings on the wire; accept YAML scalars and convert them explicitly."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return value
    raise ValueError(
        f"config {key!r} must be a string (or a number/boolean that is converted to one), got {type(value).__name__}"
    )


def _int_or_none(value, what, topic, errors):
    if value is None:
        return None
    if isinstance(value, bool):
        errors.append(f"topic {topic!r}: {what} must be an integer, got {value!r}")
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        errors.append(f"topic {topic!r}: {what} must be an integer, got {value!r}")
        return None


def normalize_topics(topics, default_state="present"):
    """Validate the ``topics`` option and return ``(specs, errors)``.

    Each spec is a dict ``name, state, partitions, replication_factor, configs`` where ``configs`` is
    None when the task does not manage configs for that topic, else a ``{str: str}`` dict.
    """
    specs = []
    errors = []
    seen = set()
    for index, raw in enumerate(topics or []):
        if isinstance(raw, str):
            raw = {"name": raw}
        if not isinstance(raw, dict):
            errors.append(f"topics[{index}] must be a dict, got {type(raw).__name__}")
            continue
        name = raw.get("name")
        name_error = validate_topic_name(name)
        if name_error:
            errors.append(f"topics[{index}]: {name_error}")
            continue
        if name in seen:
            errors.append(f"topic {name!r} is listed more than once")
            continue
        seen.add(name)
        state = raw.get("state") or default_state
        if state not in ("present", "absent"):
            errors.append(f"topic {name!r}: state must be 'present' or 'absent', got {state!r}")
            continue
        partitions = _int_or_none(raw.get("partitions"), "partitions", name, errors)
        replication_factor = _int_or_none(raw.get("replication_factor"), "replication_factor", name, errors)
        if partitions is not None and partitions < 1:
            errors.append(f"topic {name!r}: partitions must be >= 1, got {partitions}")
        if replication_factor is not None and replication_factor < 1:
            errors.append(f"topic {name!r}: replication_factor must be >= 1, got {replication_factor}")
        configs = raw.get("configs")
        if configs is not None:
            if not isinstance(configs, dict):
                errors.append(f"topic {name!r}: configs must be a dict, got {type(configs).__name__}")
                configs = None
            else:
                converted = {}
                for key, value in configs.items():
                    if not isinstance(key, str) or not key:
                        errors.append(f"topic {name!r}: config names must be non-empty strings, got {key!r}")
                        continue
                    try:
                        converted[key] = stringify_config_value(key, value)
                    except ValueError as exc:
                        errors.append(f"topic {name!r}: {exc}")
                configs = converted
        specs.append(
            {
                "name": name,
                "state": state,
                "partitions": partitions,
                "replication_factor": replication_factor,
                "configs": configs,
            }
        )
    if not specs and not errors:
        errors.append("topics must list at least one topic")
    return specs, errors


# --------------------------------------------------------------------------------------------
# Planning
# --------------------------------------------------------------------------------------------


def _topic_view(partitions, replication_factor, configs):
    return {
        "partitions": partitions,
        "replication_factor": replication_factor,
        "configs": dict(sorted(configs.items())),
    }


def plan_topic(spec, current, purge_configs=False, broker_count=None, default_replication_factor=None):
    """Plan one topic. ``current`` is None (absent) or ``{partitions, replication_factor, configs, dynamic}``.

    ``configs`` are the effective values, ``dynamic`` the keys set on the topic itself (or None when the
    transport cannot tell, which disables ``purge_configs``). Returns ``(entry, errors)``.
    """
    name = spec["name"]
    errors = []
    entry = {
        "name": name,
        "state": spec["state"],
        "action": ACTION_NONE,
        "spec": spec,
        "before": None,
        "after": None,
        "create": None,
        "new_partitions": None,
        "set_configs": {},
        "delete_configs": [],
    }
    desired_configs = spec.get("configs")

    if spec["state"] == "absent":
        if current is not None:
            entry["action"] = ACTION_DELETE
            entry["before"] = _topic_view(
                current["partitions"], current["replication_factor"], _managed_view(current, desired_configs)
            )
        return entry, errors

    replication_factor = spec.get("replication_factor")
    if current is None:
        partitions = spec.get("partitions")
        if partitions is None:
            errors.append(f"topic {name!r} does not exist: partitions is required to create it")
        if replication_factor is None:
            replication_factor = default_replication_factor
            if replication_factor is None and broker_count:
                replication_factor = min(3, broker_count)
        if replication_factor is not None and broker_count is not None and replication_factor > broker_count:
            errors.append(
                f"topic {name!r}: replication_factor {replication_factor} is larger than the number of brokers"
                f" in the cluster ({broker_count})"
            )
        if replication_factor is None:
            errors.append(f"topic {name!r} does not exist: replication_factor is required to create it")
        configs = dict(desired_configs or {})
        entry["action"] = ACTION_CREATE
        entry["create"] = {"partitions": partitions, "replication_factor": replication_factor, "configs": configs}
        entry["after"] = _topic_view(partitions, replication_factor, configs)
        return entry, errors

    before_configs = _managed_view(current, desired_configs)
    entry["before"] = _topic_view(current["partitions"], current["replication_factor"], before_configs)
    after_partitions = current["partitions"]
    desired_partitions = spec.get("partitions")
    if desired_partitions is not None:
        if desired_partitions < current["partitions"]:
            errors.append(
                f"topic {name!r}: cannot decrease partitions from {current['partitions']} to {desired_partitions}"
                " (Kafka can only add partitions)"
            )
        elif desired_partitions > current["partitions"]:
            entry["new_partitions"] = desired_partitions
            after_partitions = desired_partitions
    if replication_factor is not None and replication_factor != current["replication_factor"]:
        if broker_count is not None and replication_factor > broker_count:
            errors.append(
                f"topic {name!r}: replication_factor {replication_factor} is larger than the number of brokers"
                f" in the cluster ({broker_count})"
            )
        else:
            errors.append(
                f"topic {name!r}: cannot change replication_factor from {current['replication_factor']} to"
                f" {replication_factor} (this needs a partition reassignment, which this module does not do)"
            )

    after_configs = dict(before_configs)
    if desired_configs is not None:
        current_configs = current.get("configs") or {}
        for key, value in sorted(desired_configs.items()):
            if current_configs.get(key) != value:
                entry["set_configs"][key] = value
                after_configs[key] = value
        if purge_configs:
            dynamic = current.get("dynamic")
            for key in sorted(dynamic or ()):
                if key not in desired_configs:
                    entry["delete_configs"].append(key)
                    after_configs.pop(key, None)
    if entry["new_partitions"] is not None or entry["set_configs"] or entry["delete_configs"]:
        entry["action"] = ACTION_UPDATE
    entry["after"] = _topic_view(after_partitions, current["replication_factor"], after_configs)
    return entry, errors


def _managed_view(current, desired_configs):
    """The configs shown in before/after: the managed keys, plus every key set on the topic itself."""
    effective = current.get("configs") or {}
    keys = set(desired_configs or ())
    keys.update(current.get("dynamic") or ())
    return {key: effective.get(key) for key in keys if key in effective or key in (desired_configs or {})}


def compute_plan(specs, current_state, purge_configs=False, broker_count=None, default_replication_factor=None):
    """Plan every topic; raise :class:`KafkaTopicError` listing *all* problems before anything is applied."""
    plan = []
    errors = []
    for spec in specs:
        entry, entry_errors = plan_topic(
            spec,
            current_state.get(spec["name"]),
            purge_configs=purge_configs,
            broker_count=broker_count,
            default_replication_factor=default_replication_factor,
        )
        plan.append(entry)
        errors.extend(entry_errors)
    if errors:
        raise KafkaTopicError("; ".join(errors), errors=errors)
    return plan


def plan_changed(plan):
    return any(entry["action"] != ACTION_NONE for entry in plan)


def _fmt_configs(configs):
    return ", ".join(f"{key}={value}" for key, value in sorted(configs.items()))


def action_create(entry):
    create = entry["create"]
    text = (
        f"create topic {entry['name']} (partitions={create['partitions']},"
        f" replication_factor={create['replication_factor']}"
    )
    if create["configs"]:
        text += f", configs: {_fmt_configs(create['configs'])}"
    return text + ")"


def action_partitions(entry):
    before = entry["before"]["partitions"]
    return f"increase partitions of topic {entry['name']} from {before} to {entry['new_partitions']}"


def action_configs(entry):
    actions = []
    if entry["set_configs"]:
        actions.append(f"set configs of topic {entry['name']}: {_fmt_configs(entry['set_configs'])}")
    if entry["delete_configs"]:
        actions.append(
            f"reset configs of topic {entry['name']} to their defaults: {', '.join(entry['delete_configs'])}"
        )
    return actions


def action_delete(entry):
    return f"delete topic {entry['name']}"


def describe_actions(plan):
    """Human-readable operations of a plan (the module's ``actions``, like ``executed_queries``)."""
    actions = []
    for entry in plan:
        if entry["action"] == ACTION_CREATE:
            actions.append(action_create(entry))
        elif entry["action"] == ACTION_DELETE:
            actions.append(action_delete(entry))
        elif entry["action"] == ACTION_UPDATE:
            if entry["new_partitions"] is not None:
                actions.append(action_partitions(entry))
            actions.extend(action_configs(entry))
    return actions


def build_diff(plan):
    """Per-topic before/after for ``--diff`` (a list, one item per changed topic)."""
    diff = []
    for entry in plan:
        if entry["action"] == ACTION_NONE:
            continue
        diff.append(
            {
                "before_header": f"topic {entry['name']}",
                "after_header": f"topic {entry['name']}",
                "before": _diff_side(entry["name"], entry["before"]),
                "after": _diff_side(entry["name"], entry["after"]),
            }
        )
    return diff


def _diff_side(name, view):
    if view is None:
        return {"name": name, "state": "absent"}
    return dict(name=name, state="present", **view)


def build_result_topics(plan):
    result = []
    for entry in plan:
        view = entry["after"] if entry["state"] == "present" else None
        if entry["state"] == "present" and view is None:
            view = entry["before"]
        item = {"name": entry["name"], "state": entry["state"], "action": RESULT_ACTIONS[entry["action"]]}
        if view is not None:
            item.update(view)
        result.append(item)
    return result


# --------------------------------------------------------------------------------------------
# Backoff helper (no fixed sleeps: exponential with full jitter, bounded by a deadline)
# --------------------------------------------------------------------------------------------


def jittered_delays(base=0.5, maximum=10.0, rand=random.random):
    attempt = 0
    while True:
        yield min(maximum, base * (2**attempt)) * (0.5 + rand() / 2)
        attempt += 1


# --------------------------------------------------------------------------------------------
# MSK IAM (OAUTHBEARER) authentication for confluent-kafka
# --------------------------------------------------------------------------------------------


class StaticCredentialProvider(CredentialProvider):
    """Hands the credentials given to the module (access_key/secret_key/session_token) to the signer."""

    METHOD = "ansible-module-parameters"

    def __init__(self, access_key, secret_key, session_token=None):
        super().__init__()
        self._credentials = (access_key, secret_key, session_token)

    def load(self):
        access_key, secret_key, session_token = self._credentials
        return Credentials(access_key, secret_key, session_token, method=self.METHOD)


def make_msk_iam_oauth_cb(region, access_key=None, secret_key=None, session_token=None, profile=None, signer=None):
    """Return a confluent-kafka ``oauth_cb`` producing MSK IAM tokens.

    confluent-kafka calls it with the ``sasl.oauthbearer.config`` string and expects
    ``(token, expiry_epoch_seconds)``; the signer returns the expiry in milliseconds.
    """
    if not region:
        raise KafkaTopicError("region is required for sasl_mechanism=OAUTHBEARER (MSK IAM tokens are regional)")
    signer = signer or MSKAuthTokenProvider

    def oauth_cb(_oauth_config):
        if access_key and secret_key:
            provider = StaticCredentialProvider(access_key, secret_key, session_token)
            token, expiry_ms = signer.generate_auth_token_from_credentials_provider(region, provider)
        elif profile:
            token, expiry_ms = signer.generate_auth_token_from_profile(region, profile)
        else:
            token, expiry_ms = signer.generate_auth_token(region)
        return token, expiry_ms / 1000.0

    return oauth_cb


def build_admin_config(
    bootstrap_servers,
    security_protocol="PLAINTEXT",
    sasl_mechanism=None,
    ssl_ca_location=None,
    connect_timeout=10,
    oauth_cb=None,
):
    """The confluent-kafka AdminClient configuration for the module options."""
    if isinstance(bootstrap_servers, (list, tuple)):
        bootstrap_servers = ",".join(server.strip() for server in bootstrap_servers if server.strip())
    conf = {
        "bootstrap.servers": bootstrap_servers,
        "security.protocol": security_protocol,
        "socket.connection.setup.timeout.ms": max(1000, int(connect_timeout * 1000)),
        "client.id": "ansible-manufacturing.platform.msk_topic",
    }
    if security_protocol in ("SSL", "SASL_SSL") and ssl_ca_location:
        conf["ssl.ca.location"] = ssl_ca_location
    if security_protocol == "SASL_SSL":
        mechanism = sasl_mechanism or "OAUTHBEARER"
        conf["sasl.mechanisms"] = mechanism
        if mechanism == "OAUTHBEARER":
            if oauth_cb is None:
                raise KafkaTopicError("sasl_mechanism=OAUTHBEARER needs an oauth callback (MSK IAM signer)")
            conf["oauth_cb"] = oauth_cb
    return conf


# --------------------------------------------------------------------------------------------
# Transport 1: Kafka admin protocol (confluent-kafka AdminClient)
# --------------------------------------------------------------------------------------------

_AUTH_ERROR_NAMES = {
    "SASL_AUTHENTICATION_FAILED",
    "TOPIC_AUTHORIZATION_FAILED",
    "CLUSTER_AUTHORIZATION_FAILED",
    "_AUTHENTICATION",
    "ILLEGAL_SASL_STATE",
    "UNSUPPORTED_SASL_MECHANISM",
}
# Transient broker-side conditions worth retrying even when the client does not flag them retriable.
_RETRIABLE_ERROR_NAMES = {
    "REQUEST_TIMED_OUT",
    "NOT_CONTROLLER",
    "LEADER_NOT_AVAILABLE",
    "NOT_LEADER_FOR_PARTITION",
    "NETWORK_EXCEPTION",
    "COORDINATOR_NOT_AVAILABLE",
    "COORDINATOR_LOAD_IN_PROGRESS",
    "THROTTLING_QUOTA_EXCEEDED",
    "_TIMED_OUT",
    "_TRANSPORT",
    "_ALL_BROKERS_DOWN",
}


def _error_name(err):
    try:
        return err.name()
    except AttributeError:
        return str(err)


def is_retriable_kafka_error(err):
    try:
        if err.retriable():
            return True
    except AttributeError:
        pass
    return _error_name(err) in _RETRIABLE_ERROR_NAMES


def describe_kafka_error(err, operation, topic=None):
    """A clear, single-line error message for a KafkaError."""
    name = _error_name(err)
    try:
        detail = err.str()
    except AttributeError:
        detail = str(err)
    where = f" for topic {topic!r}" if topic else ""
    if name in _AUTH_ERROR_NAMES:
        return f"{operation}{where} failed: authentication/authorization failure ({name}): {detail}"
    return f"{operation}{where} failed ({name}): {detail}"


class _NullHandler(logging.Handler):
    def emit(self, record):
        pass


def _quiet_logger():
    """librdkafka logs connection failures on stderr; keep them out of the module output."""
    logger = logging.getLogger("manufacturing.platform.msk_topic.librdkafka")
    if not logger.handlers:
        logger.addHandler(_NullHandler())
    logger.propagate = False
    return logger


class KafkaAdminTransport:
    """Reads and changes topics over the Kafka admin protocol."""

    name = "kafka"
    supports_purge = True

    def __init__(
        self,
        conf,
        connect_timeout=10,
        request_timeout=30,
        max_retries=5,
        admin_client=None,
        sleep=time.sleep,
        rand=random.random,
    ):
        if admin_client is None:
            if not HAS_CONFLUENT_KAFKA:
                raise KafkaTopicError("the confluent-kafka Python library is required for transport=kafka")
            conf = dict(conf)
            conf.setdefault("logger", _quiet_logger())
            admin_client = AdminClient(conf)
            if "oauth_cb" in conf:
                # serve the OAUTHBEARER token refresh so the first request is authenticated
                admin_client.poll(0)
        self.admin = admin_client
        self.bootstrap_servers = conf.get("bootstrap.servers")
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self.max_retries = max_retries
        self.sleep = sleep
        self.rand = rand
        self._metadata = None

    # -- reading ---------------------------------------------------------------------------
    def _load_metadata(self):
        if self._metadata is None:
            try:
                self._metadata = self.admin.list_topics(timeout=self.connect_timeout)
            except KafkaException as exc:
                err = exc.args[0] if exc.args else exc
                name = _error_name(err)
                if name in _AUTH_ERROR_NAMES:
                    raise KafkaTopicError(describe_kafka_error(err, "connecting to the cluster")) from None
                raise KafkaTopicError(
                    f"could not reach the Kafka cluster at {self.bootstrap_servers} within"
                    f" {self.connect_timeout}s ({name}): {describe_kafka_error(err, 'metadata request')}"
                ) from None
        return self._metadata

    def broker_count(self):
        return len(self._load_metadata().brokers)

    def list_topic_names(self):
        """Every topic of the cluster (a full metadata request, never one that names a topic)."""
        return set(self._load_metadata().topics)

    def fetch(self, names):
        """Current state of the named topics: ``{name: {partitions, replication_factor, configs, dynamic}}``."""
        metadata = self._load_metadata()
        state = {}
        existing = [name for name in names if name in metadata.topics]
        for name in existing:
            topic = metadata.topics[name]
            partitions = topic.partitions
            replicas = [len(p.replicas) for p in partitions.values()]
            state[name] = {
                "partitions": len(partitions),
                "replication_factor": max(replicas) if replicas else 0,
                "configs": {},
                "dynamic": set(),
            }
        if existing:
            resources = {name: ConfigResource(ResourceType.TOPIC, name) for name in existing}
            results = self._with_retries(
                "describe configs",
                existing,
                lambda keys: self._key_by_name(
                    self.admin.describe_configs([resources[k] for k in keys], request_timeout=self.request_timeout)
                ),
                collect=True,
            )
            for name, entries in results.items():
                configs = {}
                dynamic = set()
                for key, entry in entries.items():
                    if entry.is_sensitive:
                        continue
                    configs[key] = entry.value
                    if entry.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value and not entry.is_read_only:
                        dynamic.add(key)
                state[name]["configs"] = configs
                state[name]["dynamic"] = dynamic
        return state

    @staticmethod
    def _key_by_name(futures):
        """incremental_alter_configs/describe_configs key their futures by ConfigResource."""
        return {getattr(key, "name", key): future for key, future in futures.items()}

    def _with_retries(self, operation, keys, submit, tolerate_on_retry=(), collect=False):
        """Submit ``keys`` (topic names), retry the retriable failures with jittered backoff.

        Raises :class:`KafkaTopicError` naming every topic that failed; returns ``{name: result}``.
        """
        pending = list(keys)
        results = {}
        failures = {}
        delays = jittered_delays(rand=self.rand)
        attempt = 0
        while pending:
            futures = submit(pending)
            retry = []
            for name, future in futures.items():
                try:
                    results[name] = future.result()
                except KafkaException as exc:
                    err = exc.args[0] if exc.args else exc
                    if attempt > 0 and _error_name(err) in tolerate_on_retry:
                        # an earlier attempt went through although its response was lost
                        results[name] = None
                    elif is_retriable_kafka_error(err) and attempt < self.max_retries:
                        retry.append(name)
                    else:
                        failures[name] = err
            pending = retry
            if pending:
                attempt += 1
                self.sleep(next(delays))
        if failures:
            messages = [describe_kafka_error(err, operation, name) for name, err in sorted(failures.items())]
            raise KafkaTopicError(
                "; ".join(messages),
                failed_topics=sorted(failures),
                error_codes={name: _error_name(err) for name, err in failures.items()},
            )
        return results if collect else None

    # -- validating and applying -----------------------------------------------------------
    def _create(self, entries, validate_only):
        new_topics = {
            e["name"]: NewTopic(
                e["name"],
                num_partitions=e["create"]["partitions"],
                replication_factor=e["create"]["replication_factor"],
                config=dict(e["create"]["configs"]),
            )
            for e in entries
        }
        self._with_retries(
            "validate create" if validate_only else "create",
            list(new_topics),
            lambda keys: self.admin.create_topics(
                [new_topics[k] for k in keys],
                operation_timeout=self.request_timeout,
                request_timeout=self.request_timeout,
                validate_only=validate_only,
            ),
            tolerate_on_retry=() if validate_only else ("TOPIC_ALREADY_EXISTS",),
        )

    def _add_partitions(self, entries, validate_only):
        counts = {e["name"]: NewPartitions(e["name"], e["new_partitions"]) for e in entries}
        self._with_retries(
            "validate partition increase" if validate_only else "partition increase",
            list(counts),
            lambda keys: self.admin.create_partitions(
                [counts[k] for k in keys],
                operation_timeout=self.request_timeout,
                request_timeout=self.request_timeout,
                validate_only=validate_only,
            ),
        )

    def _alter_configs(self, entries, validate_only):
        resources = {}
        for e in entries:
            ops = [
                ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
                for key, value in sorted(e["set_configs"].items())
            ]
            ops.extend(
                ConfigEntry(key, None, incremental_operation=AlterConfigOpType.DELETE) for key in e["delete_configs"]
            )
            resources[e["name"]] = ConfigResource(ResourceType.TOPIC, e["name"], incremental_configs=ops)
        self._with_retries(
            "validate config update" if validate_only else "config update",
            list(resources),
            lambda keys: self._key_by_name(
                self.admin.incremental_alter_configs(
                    [resources[k] for k in keys], request_timeout=self.request_timeout, validate_only=validate_only
                )
            ),
        )

    def _delete(self, entries):
        names = [e["name"] for e in entries]
        self._with_retries(
            "delete",
            names,
            lambda keys: self.admin.delete_topics(
                list(keys), operation_timeout=self.request_timeout, request_timeout=self.request_timeout
            ),
            tolerate_on_retry=("UNKNOWN_TOPIC_OR_PART",),
        )

    @staticmethod
    def _split(plan):
        creates = [e for e in plan if e["action"] == ACTION_CREATE]
        partitions = [e for e in plan if e["action"] == ACTION_UPDATE and e["new_partitions"] is not None]
        configs = [e for e in plan if e["action"] == ACTION_UPDATE and (e["set_configs"] or e["delete_configs"])]
        deletes = [e for e in plan if e["action"] == ACTION_DELETE]
        return creates, partitions, configs, deletes

    def validate(self, plan):
        """Ask the brokers to validate every create/partition/config change (validate_only) before applying."""
        creates, partitions, configs, _deletes = self._split(plan)
        if creates:
            self._create(creates, validate_only=True)
        if partitions:
            self._add_partitions(partitions, validate_only=True)
        if configs:
            self._alter_configs(configs, validate_only=True)

    def apply(self, plan, done=None):
        """Apply a validated plan: one CreateTopics, one CreatePartitions, one IncrementalAlterConfigs and
        one DeleteTopics request (each batched over all topics). Completed operations are appended to
        ``done`` (human-readable) so that a failure can report what was already applied."""
        done = [] if done is None else done
        creates, partitions, configs, deletes = self._split(plan)
        if creates:
            self._create(creates, validate_only=False)
            done.extend(action_create(e) for e in creates)
        if partitions:
            self._add_partitions(partitions, validate_only=False)
            done.extend(action_partitions(e) for e in partitions)
        if configs:
            self._alter_configs(configs, validate_only=False)
            for e in configs:
                done.extend(action_configs(e))
        if deletes:
            self._delete(deletes)
            done.extend(action_delete(e) for e in deletes)
        return done


# --------------------------------------------------------------------------------------------
# Transport 2: MSK topic API (boto3 "kafka" client)
# --------------------------------------------------------------------------------------------

# Error codes worth retrying (aws_retry extra_codes, in addition to its throttling codes and 5xx).
MSK_RETRY_ERROR_CODES = [
    "TooManyRequestsException",
    "ServiceUnavailableException",
    "InternalServerErrorException",
    "KafkaTimeoutException",
    "ControllerMovedException",
    "NotControllerException",
]


def encode_msk_configs(configs):
    """MSK topic API ``Configs``: a Base64 string of the JSON object ``{"name": "value"}``."""
    payload = json.dumps(dict(sorted(configs.items())), separators=(",", ":"))
    return base64.b64encode(payload.encode("utf-8")).decode("ascii")


def decode_msk_configs(encoded):
    """Decode DescribeTopic's ``Configs`` (Base64 JSON object; Java properties text is accepted too)."""
    if not encoded:
        return {}
    try:
        text = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise KafkaTopicError(f"could not decode the topic configs returned by the MSK API: {exc}") from None
    text = text.strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise KafkaTopicError(f"could not parse the topic configs returned by the MSK API: {exc}") from None
        return {str(k): stringify_config_value(k, v) if v is not None else None for k, v in data.items()}
    configs = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        configs[key.strip()] = value.strip()
    return configs


def _client_error_code(exc):
    try:
        return exc.response["Error"]["Code"]
    except (AttributeError, KeyError, TypeError):
        return None


def _parse_version(text):
    numbers = re.findall(r"\d+", text or "")
    return tuple(int(n) for n in numbers[:2]) if len(numbers) >= 2 else None


class MskApiTransport:
    """Reads and changes topics through the MSK topic API (ListTopics/DescribeTopic/CreateTopic/...).

    The API is eventually consistent: ListTopics/DescribeTopic can lag writes by up to about a
    minute. The transport therefore trusts write responses, treats ``TopicExistsException`` for a
    topic that ListTopics did not report as "created a moment ago" (it polls DescribeTopic with
    jittered backoff until the topic is visible, then reconciles it), and with ``wait`` polls
    DescribeTopic until the topic is ACTIVE (or gone) - never a fixed sleep.

    ``client`` is the boto3 ``kafka`` client, normally from ``aws_retry.client`` (the collection's retry policy)
    (calls are made with ``aws_retry=True`` when the wrapper supports it).
    """

    name = "msk_api"
    supports_purge = False

    def __init__(
        self,
        client,
        cluster_arn,
        wait=False,
        wait_timeout=120,
        sleep=time.sleep,
        clock=time.monotonic,
        rand=random.random,
        retry_kwargs=None,
        poll_base_delay=1.0,
        poll_max_delay=15.0,
    ):
        self.client = client
        self.cluster_arn = cluster_arn
        self.wait = wait
        self.wait_timeout = wait_timeout
        self.sleep = sleep
        self.clock = clock
        self.rand = rand
        self.retry_kwargs = {"aws_retry": True} if retry_kwargs is None else retry_kwargs
        self.poll_base_delay = poll_base_delay
        self.poll_max_delay = poll_max_delay
        self._cluster = None
        self.notes = []
        self.deleting = set()

    def _call(self, method, **kwargs):
        return getattr(self.client, method)(**kwargs, **self.retry_kwargs)

    def _fail(self, exc, operation, topic=None):
        code = _client_error_code(exc)
        where = f" for topic {topic!r}" if topic else ""
        try:
            message = exc.response["Error"].get("Message") or str(exc)
        except (AttributeError, KeyError, TypeError):
            message = str(exc)
        if code in ("UnauthorizedException", "ForbiddenException", "AccessDeniedException"):
            text = f"{operation}{where} failed: authentication/authorization failure ({code}): {message}"
        elif code == "NotFoundException" and topic is None:
            text = f"{operation} failed: MSK cluster {self.cluster_arn} not found ({code}): {message}"
        else:
            text = f"{operation}{where} failed ({code or type(exc).__name__}): {message}"
        raise KafkaTopicError(text, error_code=code) from None

    # -- cluster ---------------------------------------------------------------------------
    def cluster(self):
        if self._cluster is None:
            try:
                info = self._call("describe_cluster_v2", ClusterArn=self.cluster_arn)["ClusterInfo"]
            except botocore.exceptions.ClientError as exc:
                self._fail(exc, "DescribeClusterV2")
            except botocore.exceptions.BotoCoreError as exc:
                raise KafkaTopicError(f"DescribeClusterV2 failed: {exc}") from None
            if info.get("ClusterType") != "PROVISIONED":
                raise KafkaTopicError(
                    f"MSK cluster {self.cluster_arn} is {info.get('ClusterType')}: the MSK topic API supports"
                    " MSK Provisioned clusters only (use transport=kafka for MSK Serverless)"
                )
            if info.get("State") != "ACTIVE":
                raise KafkaTopicError(
                    f"MSK cluster {self.cluster_arn} is {info.get('State')}, the MSK topic API needs it ACTIVE"
                )
            provisioned = info.get("Provisioned") or {}
            version = (provisioned.get("CurrentBrokerSoftwareInfo") or {}).get("KafkaVersion")
            parsed = _parse_version(version)
            if parsed is not None and parsed < MIN_MSK_TOPIC_API_KAFKA_VERSION:
                raise KafkaTopicError(
                    f"MSK cluster {self.cluster_arn} runs Kafka {version}: the MSK topic API needs Kafka 3.6 or later"
                )
            self._cluster = info
        return self._cluster

    def broker_count(self):
        return (self.cluster().get("Provisioned") or {}).get("NumberOfBrokerNodes")

    # -- reading ---------------------------------------------------------------------------
    def list_topic_names(self):
        self.cluster()
        names = set()
        kwargs = {"ClusterArn": self.cluster_arn}
        while True:
            try:
                page = self._call("list_topics", **kwargs)
            except botocore.exceptions.ClientError as exc:
                self._fail(exc, "ListTopics")
            names.update(t["TopicName"] for t in page.get("Topics", []) if t.get("TopicName"))
            token = page.get("NextToken")
            if not token:
                return names
            kwargs["NextToken"] = token

    def _describe(self, name):
        """DescribeTopic, or None when the topic does not exist (NotFound / UnknownTopicOrPartition)."""
        try:
            response = self._call("describe_topic", ClusterArn=self.cluster_arn, TopicName=name)
        except botocore.exceptions.ClientError as exc:
            if _client_error_code(exc) in ("NotFoundException", "UnknownTopicOrPartitionException"):
                return None
            self._fail(exc, "DescribeTopic", name)
        configs = decode_msk_configs(response.get("Configs"))
        return {
            "partitions": response.get("PartitionCount"),
            "replication_factor": response.get("ReplicationFactor"),
            "configs": configs,
            "dynamic": None,  # the API returns effective values only: purge_configs is not supported
            "status": response.get("Status"),
        }

    def fetch(self, names):
        listed = self.list_topic_names()
        state = {}
        for name in names:
            if name not in listed:
                continue
            current = self._describe(name)
            if current is None:
                continue  # listed but already gone (lagging ListTopics)
            if current.get("status") == "DELETING":
                self.deleting.add(name)
                continue
            state[name] = current
        return state

    # -- waiting ---------------------------------------------------------------------------
    def _poll(self, name, done, what):
        deadline = self.clock() + self.wait_timeout
        delays = jittered_delays(self.poll_base_delay, self.poll_max_delay, self.rand)
        while True:
            current = self._describe(name)
            if done(current):
                return current
            remaining = deadline - self.clock()
            if remaining <= 0:
                raise KafkaTopicError(
                    f"topic {name!r} did not become {what} within wait_timeout={self.wait_timeout}s"
                    " (the MSK topic API can lag writes by about a minute; raise wait_timeout)"
                )
            self.sleep(min(next(delays), remaining))

    def _wait_active(self, name):
        return self._poll(name, lambda c: c is not None and c.get("status") in (None, "ACTIVE"), "ACTIVE")

    def _wait_gone(self, name):
        return self._poll(name, lambda c: c is None, "deleted")

    # -- applying --------------------------------------------------------------------------
    def validate(self, plan):
        """The MSK topic API has no validate-only mode; refuse to re-create topics that are being deleted."""
        busy = sorted(e["name"] for e in plan if e["action"] == ACTION_CREATE and e["name"] in self.deleting)
        if busy:
            raise KafkaTopicError(
                f"topics {', '.join(busy)} are being deleted (status DELETING); run the task again later",
                failed_topics=busy,
            )

    def _update(self, name, new_partitions, set_configs):
        kwargs = {"ClusterArn": self.cluster_arn, "TopicName": name}
        if new_partitions is not None:
            kwargs["PartitionCount"] = new_partitions
        if set_configs:
            kwargs["Configs"] = encode_msk_configs(set_configs)
        try:
            response = self._call("update_topic", **kwargs)
        except botocore.exceptions.ClientError as exc:
            self._fail(exc, "UpdateTopic", name)
        if self.wait:
            self._wait_active(name)
        return response

    def _create(self, entry):
        create = entry["create"]
        kwargs = {
            "ClusterArn": self.cluster_arn,
            "TopicName": entry["name"],
            "PartitionCount": create["partitions"],
            "ReplicationFactor": create["replication_factor"],
        }
        if create["configs"]:
            kwargs["Configs"] = encode_msk_configs(create["configs"])
        try:
            self._call("create_topic", **kwargs)
        except botocore.exceptions.ClientError as exc:
            if _client_error_code(exc) in ("TopicExistsException", "ConflictException"):
                return self._reconcile_lagging(entry)
            self._fail(exc, "CreateTopic", entry["name"])
        if self.wait:
            self._wait_active(entry["name"])
        return entry

    def _reconcile_lagging(self, entry):
        """CreateTopic says the topic exists although ListTopics did not show it: it was created a
        moment ago. Wait (polling DescribeTopic) until it is visible, then reconcile it like any existing
        topic."""
        name = entry["name"]
        current = self._poll(name, lambda c: c is not None, "visible in DescribeTopic")
        spec = entry["spec"]
        new_entry, errors = plan_topic(spec, current, purge_configs=False, broker_count=None)
        if errors:
            raise KafkaTopicError("; ".join(errors), errors=errors)
        self.notes.append(
            f"topic {name} already existed (created moments ago, not yet listed by ListTopics); reconciled it"
        )
        if new_entry["action"] == ACTION_UPDATE:
            self._update(name, new_entry["new_partitions"], new_entry["set_configs"])
        entry.clear()
        entry.update(new_entry)
        return entry

    def _delete(self, entry):
        try:
            self._call("delete_topic", ClusterArn=self.cluster_arn, TopicName=entry["name"])
        except botocore.exceptions.ClientError as exc:
            if _client_error_code(exc) in ("NotFoundException", "UnknownTopicOrPartitionException"):
                self.notes.append(f"topic {entry['name']} was already deleted")
                return entry
            self._fail(exc, "DeleteTopic", entry["name"])
        if self.wait:
            self._wait_gone(entry["name"])
        return entry

    def apply(self, plan, done=None):
        """One call per topic (the MSK topic API has no batch operation): creates, updates, then deletes.
        Completed operations are appended to ``done``."""
        done = [] if done is None else done
        # split first: a create that turns out to be a lagging existing topic becomes an update in place
        creates = [e for e in plan if e["action"] == ACTION_CREATE]
        updates = [e for e in plan if e["action"] == ACTION_UPDATE]
        deletes = [e for e in plan if e["action"] == ACTION_DELETE]
        for entry in creates:
            self._create(entry)
            done.extend(describe_actions([entry]))
        for entry in updates:
            self._update(entry["name"], entry["new_partitions"], entry["set_configs"])
            done.extend(describe_actions([entry]))
        for entry in deletes:
            self._delete(entry)
            done.append(action_delete(entry))
        return done


# -- how a module reaches the cluster (the options of doc fragment manufacturing.platform.kafka_connection) ---------
MSK_TOPIC_API_BOTOCORE = "1.42.46"


def connection_argument_spec():
    """Argument spec of the connection options shared by msk_topic and msk_topic_info."""
    return {
        "transport": {"type": "str", "choices": ["kafka", "msk_api"], "default": "kafka"},
        "bootstrap_servers": {"type": "list", "elements": "str"},
        "security_protocol": {"type": "str", "choices": ["PLAINTEXT", "SSL", "SASL_SSL"], "default": "PLAINTEXT"},
        "sasl_mechanism": {"type": "str", "choices": ["OAUTHBEARER"], "default": "OAUTHBEARER"},
        "ssl_ca_location": {"type": "path"},
        "connect_timeout": {"type": "int", "default": 10},
        "request_timeout": {"type": "int", "default": 30},
        "max_retries": {"type": "int", "default": 5},
        "cluster_arn": {"type": "str"},
    }


def transport_from_module(module):
    """The transport the module's parameters ask for (an AnsibleAWSModule; fails the module on a missing library)."""
    return kafka_transport(module) if module.params["transport"] == "kafka" else msk_api_transport(module)


def kafka_transport(module):
    params = module.params
    if not HAS_CONFLUENT_KAFKA:
        module.fail_json(msg=missing_required_lib("confluent-kafka"), exception=str(CONFLUENT_KAFKA_IMPORT_ERROR))
    oauth_cb = None
    if params["security_protocol"] == "SASL_SSL" and params["sasl_mechanism"] == "OAUTHBEARER":
        if not HAS_MSK_IAM_SIGNER:
            module.fail_json(
                msg=missing_required_lib("aws-msk-iam-sasl-signer-python"),
                exception=str(MSK_IAM_SIGNER_IMPORT_ERROR),
            )
        oauth_cb = make_msk_iam_oauth_cb(
            module.region,
            access_key=params.get("access_key"),
            secret_key=params.get("secret_key"),
            session_token=params.get("session_token"),
            profile=params.get("profile"),
        )
    conf = build_admin_config(
        params["bootstrap_servers"],
        security_protocol=params["security_protocol"],
        sasl_mechanism=params["sasl_mechanism"],
        ssl_ca_location=params["ssl_ca_location"],
        connect_timeout=params["connect_timeout"],
        oauth_cb=oauth_cb,
    )
    return KafkaAdminTransport(
        conf,
        connect_timeout=params["connect_timeout"],
        request_timeout=params["request_timeout"],
        max_retries=params["max_retries"],
    )


def msk_api_transport(module):
    params = module.params
    module.require_botocore_at_least(MSK_TOPIC_API_BOTOCORE, reason="to use the MSK topic API (transport=msk_api)")
    client = aws_retry.client(module, "kafka", extra_codes=MSK_RETRY_ERROR_CODES,
                              retries=max(1, params["max_retries"]))
    return MskApiTransport(
        client, params["cluster_arn"], wait=params.get("wait") or False, wait_timeout=params.get("wait_timeout") or 120
    )
