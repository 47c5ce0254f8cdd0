"""Unit tests of plugins/module_utils/kafka_topics.py: validation, planning, diff, the Kafka admin transport's
retry/error handling (with a fake AdminClient) and the MSK IAM OAUTHBEARER callback wiring."""

from __future__ import annotations

import base64
import sys
import time
from concurrent.futures import Future
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

_COLLECTIONS = Path(__file__).resolve().parents[4] / "collections"
if str(_COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(_COLLECTIONS))

from confluent_kafka import KafkaError, KafkaException  # noqa: E402

from ansible_collections.manufacturing.platform.plugins.module_utils import kafka_topics as kt  # noqa: E402

# ----------------------------------------------------------------------------------------------------------
# validation
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "orders", "tenant-1.telemetry_v2", "A.b-C_d", "x" * 249, "..."])
def test_legal_topic_names(name):
    assert kt.validate_topic_name(name) is None


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "non-empty"),
        (None, "non-empty"),
        (".", "'.' and '..'"),
        ("..", "'.' and '..'"),
        ("x" * 250, "250 characters, the maximum is 249"),
        ("bad name", "only ASCII alphanumerics"),
        ("a/b", "only ASCII alphanumerics"),
        ("ümlaut", "only ASCII alphanumerics"),
        ("a:b", "only ASCII alphanumerics"),
    ],
)
def test_illegal_topic_names(name, fragment):
    assert fragment in kt.validate_topic_name(name)


def test_config_values_become_strings():
    assert kt.stringify_config_value("k", True) == "true"
    assert kt.stringify_config_value("k", False) == "false"
    assert kt.stringify_config_value("k", 86400000) == "86400000"
    assert kt.stringify_config_value("k", 0.5) == "0.5"
    assert kt.stringify_config_value("k", "compact,delete") == "compact,delete"
    for bad in (None, [1], {"a": 1}):
        with pytest.raises(ValueError, match="config 'k' must be a string"):
            kt.stringify_config_value("k", bad)


def test_normalize_topics_defaults_and_conversion():
    specs, errors = kt.normalize_topics(
        [
            {"name": "a", "partitions": 3, "replication_factor": 2, "configs": {"retention.ms": 1000}},
            {"name": "b", "state": "absent"},
            {"name": "c", "partitions": "4"},
        ],
        default_state="present",
    )
    assert errors == []
    assert specs[0] == {
        "name": "a",
        "state": "present",
        "partitions": 3,
        "replication_factor": 2,
        "configs": {"retention.ms": "1000"},
    }
    assert specs[1]["state"] == "absent"
    assert specs[2]["partitions"] == 4 and specs[2]["configs"] is None


def test_normalize_topics_collects_every_error():
    specs, errors = kt.normalize_topics(
        [
            {"name": "ok", "partitions": 0, "replication_factor": 0},
            {"name": "ok"},
            {"name": "bad name"},
            {"name": "cfg", "configs": {"a": [1]}},
            {"name": "n", "partitions": "many"},
            {"name": "s", "state": "gone"},
            "plain-string-name",
            42,
        ]
    )
    assert "topic 'ok': partitions must be >= 1, got 0" in errors
    assert "topic 'ok': replication_factor must be >= 1, got 0" in errors
    assert "topic 'ok' is listed more than once" in errors
    assert any("'bad name' is illegal" in e for e in errors)
    assert any("config 'a' must be a string" in e for e in errors)
    assert any("partitions must be an integer, got 'many'" in e for e in errors)
    assert any("state must be 'present' or 'absent'" in e for e in errors)
    assert any("topics[7] must be a dict" in e for e in errors)
    assert [s["name"] for s in specs if s["name"] == "plain-string-name"]


def test_normalize_topics_empty_list():
    assert kt.normalize_topics([])[1] == ["topics must list at least one topic"]


# ----------------------------------------------------------------------------------------------------------
# planning
# ----------------------------------------------------------------------------------------------------------


def spec(name, **kw):
    base = {"name": name, "state": "present", "partitions": None, "replication_factor": None, "configs": None}
    base.update(kw)
    return base


def current(partitions=3, rf=1, configs=None, dynamic=None):
    configs = {"retention.ms": "604800000", "cleanup.policy": "delete"} if configs is None else configs
    return {"partitions": partitions, "replication_factor": rf, "configs": configs, "dynamic": set(dynamic or ())}


def test_plan_create_update_delete_unchanged():
    specs = [
        spec("new", partitions=3, replication_factor=1, configs={"retention.ms": "1000"}),
        spec("grow", partitions=6, configs={"retention.ms": "1000"}),
        spec("same", partitions=3, configs={"retention.ms": "604800000"}),
        spec("old", state="absent"),
        spec("never", state="absent"),
    ]
    state = {"grow": current(), "same": current(), "old": current()}
    plan = kt.compute_plan(specs, state, broker_count=1)
    assert [e["action"] for e in plan] == ["create", "update", "none", "delete", "none"]
    assert plan[0]["create"] == {"partitions": 3, "replication_factor": 1, "configs": {"retention.ms": "1000"}}
    assert plan[1]["new_partitions"] == 6 and plan[1]["set_configs"] == {"retention.ms": "1000"}
    assert kt.plan_changed(plan)
    assert kt.describe_actions(plan) == [
        "create topic new (partitions=3, replication_factor=1, configs: retention.ms=1000)",
        "increase partitions of topic grow from 3 to 6",
        "set configs of topic grow: retention.ms=1000",
        "delete topic old",
    ]
    topics = kt.build_result_topics(plan)
    assert topics[0] == {
        "name": "new",
        "state": "present",
        "action": "created",
        "partitions": 3,
        "replication_factor": 1,
        "configs": {"retention.ms": "1000"},
    }
    assert topics[1]["action"] == "updated" and topics[1]["partitions"] == 6
    assert topics[2]["action"] == "unchanged"
    assert topics[3] == {"name": "old", "state": "absent", "action": "deleted"}
    assert topics[4] == {"name": "never", "state": "absent", "action": "unchanged"}


def test_plan_unchanged_when_everything_matches():
    plan = kt.compute_plan([spec("t", partitions=3, replication_factor=1, configs={})], {"t": current()})
    assert not kt.plan_changed(plan)
    assert kt.describe_actions(plan) == []
    assert kt.build_diff(plan) == []


def test_plan_decrease_partitions_names_topic_and_numbers():
    with pytest.raises(kt.KafkaTopicError) as info:
        kt.compute_plan([spec("t", partitions=2)], {"t": current(partitions=5)})
    assert info.value.msg == "topic 't': cannot decrease partitions from 5 to 2 (Kafka can only add partitions)"


def test_plan_reports_all_errors_at_once():
    specs = [
        spec("a", partitions=1, replication_factor=4),
        spec("b"),
        spec("c", partitions=1, replication_factor=3),
        spec("d", partitions=1),
    ]
    with pytest.raises(kt.KafkaTopicError) as info:
        kt.compute_plan(specs, {"c": current(rf=1), "d": current(partitions=2)}, broker_count=3)
    errors = info.value.extra["errors"]
    assert "topic 'a': replication_factor 4 is larger than the number of brokers in the cluster (3)" in errors
    assert "topic 'b' does not exist: partitions is required to create it" in errors
    assert any("cannot change replication_factor from 1 to 3" in e for e in errors)
    assert any("cannot decrease partitions from 2 to 1" in e for e in errors)


def test_plan_replication_factor_default_is_min_3_and_brokers():
    plan = kt.compute_plan([spec("a", partitions=1)], {}, broker_count=2)
    assert plan[0]["create"]["replication_factor"] == 2
    plan = kt.compute_plan([spec("a", partitions=1)], {}, broker_count=6)
    assert plan[0]["create"]["replication_factor"] == 3


def test_plan_purge_configs_only_dynamic_and_only_when_configs_given():
    state = {
        "t": current(
            configs={"retention.ms": "1", "max.message.bytes": "2", "cleanup.policy": "delete"},
            dynamic={"retention.ms", "max.message.bytes"},
        )
    }
    plan = kt.compute_plan([spec("t", configs={"retention.ms": "1"})], state, purge_configs=True)
    assert plan[0]["delete_configs"] == ["max.message.bytes"]
    assert plan[0]["after"]["configs"] == {"retention.ms": "1"}
    assert kt.describe_actions(plan) == ["reset configs of topic t to their defaults: max.message.bytes"]
    # configs omitted: not managed, nothing purged
    plan = kt.compute_plan([spec("t")], state, purge_configs=True)
    assert plan[0]["action"] == "none"
    # purge off: unlisted dynamic configs stay
    plan = kt.compute_plan([spec("t", configs={"retention.ms": "1"})], state, purge_configs=False)
    assert plan[0]["action"] == "none"


def test_plan_config_equal_to_effective_default_is_unchanged():
    state = {"t": current(configs={"retention.ms": "604800000"}, dynamic=())}
    plan = kt.compute_plan([spec("t", configs={"retention.ms": "604800000"})], state)
    assert plan[0]["action"] == "none"


def test_diff_before_after():
    state = {"t": current(partitions=3, configs={"retention.ms": "5", "segment.ms": "9"}, dynamic={"retention.ms"})}
    plan = kt.compute_plan(
        [spec("t", partitions=4, configs={"retention.ms": "6"}), spec("n", partitions=1, replication_factor=1)],
        state,
    )
    diff = kt.build_diff(plan)
    assert diff[0] == {
        "before_header": "topic t",
        "after_header": "topic t",
        "before": {
            "name": "t",
            "state": "present",
            "partitions": 3,
            "replication_factor": 1,
            "configs": {"retention.ms": "5"},
        },
        "after": {
            "name": "t",
            "state": "present",
            "partitions": 4,
            "replication_factor": 1,
            "configs": {"retention.ms": "6"},
        },
    }
    assert diff[1]["before"] == {"name": "n", "state": "absent"}
    assert diff[1]["after"]["partitions"] == 1


def test_jittered_delays_grow_and_are_capped():
    delays = kt.jittered_delays(base=1, maximum=8, rand=lambda: 1.0)
    assert [next(delays) for _unused in range(6)] == [1, 2, 4, 8, 8, 8]
    low = kt.jittered_delays(base=1, maximum=8, rand=lambda: 0.0)
    assert next(low) == 0.5


# ----------------------------------------------------------------------------------------------------------
# MSK topic API config encoding
# ----------------------------------------------------------------------------------------------------------


def test_msk_config_encoding_roundtrip():
    encoded = kt.encode_msk_configs({"retention.ms": "1000", "cleanup.policy": "compact"})
    assert base64.b64decode(encoded) == b'{"cleanup.policy":"compact","retention.ms":"1000"}'
    assert kt.decode_msk_configs(encoded) == {"retention.ms": "1000", "cleanup.policy": "compact"}


def test_msk_config_decoding_tolerates_properties_and_non_strings():
    props = base64.b64encode(b"retention.ms=1000\n# comment\ncleanup.policy = delete\n").decode()
    assert kt.decode_msk_configs(props) == {"retention.ms": "1000", "cleanup.policy": "delete"}
    typed = base64.b64encode(b'{"retention.ms": 1000, "preallocate": false}').decode()
    assert kt.decode_msk_configs(typed) == {"retention.ms": "1000", "preallocate": "false"}
    assert kt.decode_msk_configs(None) == {}
    with pytest.raises(kt.KafkaTopicError, match="could not decode"):
        kt.decode_msk_configs("%%%")


# ----------------------------------------------------------------------------------------------------------
# Kafka admin transport with a fake AdminClient
# ----------------------------------------------------------------------------------------------------------


def done_future(error=None):
    future = Future()
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(KafkaException(error))
    return future


class FakeAdmin:
    """Scripted AdminClient: each call pops the next {topic: KafkaError|None} outcome."""

    def __init__(self, outcomes=None):
        self.outcomes = list(outcomes or [])
        self.calls = []

    def _answer(self, method, names, kwargs):
        self.calls.append((method, list(names), kwargs))
        outcome = self.outcomes.pop(0) if self.outcomes else {}
        return {name: done_future(outcome.get(name)) for name in names}

    def create_topics(self, new_topics, **kwargs):
        return self._answer("create_topics", [t.topic for t in new_topics], kwargs)

    def create_partitions(self, new_partitions, **kwargs):
        return self._answer("create_partitions", [p.topic for p in new_partitions], kwargs)

    def delete_topics(self, topics, **kwargs):
        return self._answer("delete_topics", topics, kwargs)

    def incremental_alter_configs(self, resources, **kwargs):
        futures = self._answer("incremental_alter_configs", [r.name for r in resources], kwargs)
        return {r: futures[r.name] for r in resources}


def transport(admin, **kw):
    sleeps = []
    t = kt.KafkaAdminTransport(
        {"bootstrap.servers": "b:9092"}, admin_client=admin, sleep=sleeps.append, rand=lambda: 0.5, **kw
    )
    return t, sleeps


def create_plan(*names):
    return kt.compute_plan([spec(n, partitions=1, replication_factor=1) for n in names], {}, broker_count=1)


def test_kafka_transport_batches_creates_into_one_request():
    admin = FakeAdmin()
    t, _unused = transport(admin)
    plan = create_plan("a", "b", "c")
    t.validate(plan)
    done = t.apply(plan)
    assert [(c[0], c[1], c[2]["validate_only"]) for c in admin.calls] == [
        ("create_topics", ["a", "b", "c"], True),
        ("create_topics", ["a", "b", "c"], False),
    ]
    assert done == kt.describe_actions(plan)


def test_kafka_transport_retries_retriable_errors_with_backoff():
    timeout = KafkaError(KafkaError.REQUEST_TIMED_OUT, "timed out")
    admin = FakeAdmin([{"b": timeout}, {"b": timeout}, {}])
    t, sleeps = transport(admin, max_retries=5)
    t.apply(create_plan("a", "b"))
    assert [c[1] for c in admin.calls] == [["a", "b"], ["b"], ["b"]]
    assert len(sleeps) == 2 and sleeps[0] < sleeps[1]


def test_kafka_transport_treats_already_exists_after_a_retry_as_success():
    admin = FakeAdmin(
        [{"a": KafkaError(KafkaError.NOT_CONTROLLER, "moved")}, {"a": KafkaError(KafkaError.TOPIC_ALREADY_EXISTS)}]
    )
    t, _unused = transport(admin)
    t.apply(create_plan("a"))
    assert len(admin.calls) == 2


def test_kafka_transport_gives_up_after_max_retries():
    throttled = KafkaError(KafkaError.THROTTLING_QUOTA_EXCEEDED, "slow down")
    admin = FakeAdmin([{"a": throttled}] * 3)
    t, sleeps = transport(admin, max_retries=2)
    with pytest.raises(kt.KafkaTopicError) as info:
        t.apply(create_plan("a"))
    assert "create for topic 'a' failed (THROTTLING_QUOTA_EXCEEDED)" in info.value.msg
    assert len(admin.calls) == 3 and len(sleeps) == 2


def test_kafka_transport_non_retriable_error_names_topic_and_code():
    admin = FakeAdmin([{"b": KafkaError(KafkaError.INVALID_REPLICATION_FACTOR, "only 1 broker")}])
    t, sleeps = transport(admin)
    with pytest.raises(kt.KafkaTopicError) as info:
        t.validate(create_plan("a", "b"))
    assert info.value.msg == "validate create for topic 'b' failed (INVALID_REPLICATION_FACTOR): only 1 broker"
    assert info.value.extra["failed_topics"] == ["b"]
    assert sleeps == []


def test_kafka_transport_auth_errors_are_called_out():
    admin = FakeAdmin([{"a": KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, "denied")}])
    t, _unused = transport(admin)
    with pytest.raises(kt.KafkaTopicError, match="authentication/authorization failure"):
        t.apply(create_plan("a"))


def test_kafka_transport_apply_order_and_progress_on_failure():
    state = {"p": current(partitions=1), "c": current(), "d": current()}
    plan = kt.compute_plan(
        [
            spec("n", partitions=1, replication_factor=1),
            spec("p", partitions=2),
            spec("c", configs={"retention.ms": "1"}),
            spec("d", state="absent"),
        ],
        state,
        broker_count=1,
    )
    admin = FakeAdmin([{}, {}, {"c": KafkaError(KafkaError.INVALID_CONFIG, "bad")}])
    t, _unused = transport(admin)
    done = []
    with pytest.raises(kt.KafkaTopicError):
        t.apply(plan, done)
    assert [c[0] for c in admin.calls] == ["create_topics", "create_partitions", "incremental_alter_configs"]
    assert done == [
        "create topic n (partitions=1, replication_factor=1)",
        "increase partitions of topic p from 1 to 2",
    ]


def test_kafka_transport_delete_tolerates_unknown_topic_after_retry():
    admin = FakeAdmin(
        [{"a": KafkaError(KafkaError.REQUEST_TIMED_OUT)}, {"a": KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART)}]
    )
    t, _unused = transport(admin)
    plan = kt.compute_plan([spec("a", state="absent")], {"a": current()})
    assert t.apply(plan) == ["delete topic a"]


def test_kafka_transport_unreachable_broker_message():
    class Unreachable:
        def list_topics(self, timeout):
            raise KafkaException(KafkaError(KafkaError._TRANSPORT, "Failed to get metadata"))

    t, _unused = transport(Unreachable(), connect_timeout=4)
    with pytest.raises(kt.KafkaTopicError) as info:
        t.broker_count()
    assert info.value.msg.startswith("could not reach the Kafka cluster at b:9092 within 4s (_TRANSPORT)")


def test_real_admin_client_unreachable_broker_fails_within_connect_timeout():
    conf = kt.build_admin_config(["127.0.0.1:1"], connect_timeout=1)
    t = kt.KafkaAdminTransport(conf, connect_timeout=2)
    started = time.monotonic()
    with pytest.raises(kt.KafkaTopicError, match="could not reach the Kafka cluster at 127.0.0.1:1 within 2s"):
        t.fetch(["a"])
    assert time.monotonic() - started < 10


# ----------------------------------------------------------------------------------------------------------
# MSK IAM OAUTHBEARER wiring (the signer works offline with dummy credentials)
# ----------------------------------------------------------------------------------------------------------


def decode_token(token):
    padded = token + "=" * (-len(token) % 4)
    return urlparse(base64.urlsafe_b64decode(padded).decode())


def test_oauth_cb_signs_msk_iam_token_with_module_credentials():
    cb = kt.make_msk_iam_oauth_cb("eu-west-1", access_key="AKIDEXAMPLE", secret_key="secret", session_token="tok")
    before = time.time()
    token, expiry = cb("ignored sasl.oauthbearer.config")
    url = decode_token(token)
    query = parse_qs(url.query)
    assert url.netloc == "kafka.eu-west-1.amazonaws.com"
    assert query["Action"] == ["kafka-cluster:Connect"]
    assert query["X-Amz-Credential"][0].startswith("AKIDEXAMPLE/")
    assert "/eu-west-1/kafka-cluster/aws4_request" in query["X-Amz-Credential"][0]
    assert query["X-Amz-Security-Token"] == ["tok"]
    # confluent-kafka wants the expiry in seconds since the epoch (the signer returns milliseconds)
    assert before + 800 < expiry < before + 1000


def test_oauth_cb_default_chain_uses_generate_auth_token(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDDEFAULTCHAIN")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    calls = []

    class Signer:
        @staticmethod
        def generate_auth_token(region):
            calls.append(region)
            return "tok", 1_700_000_000_000

    token, expiry = kt.make_msk_iam_oauth_cb("us-east-1", signer=Signer)(None)
    assert (token, expiry, calls) == ("tok", 1_700_000_000.0, ["us-east-1"])
    # and the real signer with the default chain (environment credentials)
    token, _unused = kt.make_msk_iam_oauth_cb("us-east-1")(None)
    assert parse_qs(decode_token(token).query)["X-Amz-Credential"][0].startswith("AKIDDEFAULTCHAIN/")


def test_oauth_cb_profile_uses_generate_auth_token_from_profile():
    class Signer:
        @staticmethod
        def generate_auth_token_from_profile(region, profile):
            return f"{region}:{profile}", 2000

    assert kt.make_msk_iam_oauth_cb("us-east-1", profile="ops", signer=Signer)(None) == ("us-east-1:ops", 2.0)


def test_oauth_cb_needs_region():
    with pytest.raises(kt.KafkaTopicError, match="region is required"):
        kt.make_msk_iam_oauth_cb(None)


def test_admin_config_for_msk_iam():
    cb = kt.make_msk_iam_oauth_cb("us-east-1", access_key="a", secret_key="b")
    conf = kt.build_admin_config(
        ["b-1.msk:9098", " b-2.msk:9098 "],
        security_protocol="SASL_SSL",
        sasl_mechanism="OAUTHBEARER",
        ssl_ca_location="/etc/ssl/ca.pem",
        connect_timeout=7,
        oauth_cb=cb,
    )
    assert conf["bootstrap.servers"] == "b-1.msk:9098,b-2.msk:9098"
    assert conf["security.protocol"] == "SASL_SSL"
    assert conf["sasl.mechanisms"] == "OAUTHBEARER"
    assert conf["oauth_cb"] is cb
    assert conf["ssl.ca.location"] == "/etc/ssl/ca.pem"
    assert conf["socket.connection.setup.timeout.ms"] == 7000
    plain = kt.build_admin_config("127.0.0.1:9092")
    assert "oauth_cb" not in plain and "sasl.mechanisms" not in plain and plain["security.protocol"] == "PLAINTEXT"
    with pytest.raises(kt.KafkaTopicError):
        kt.build_admin_config("x:1", security_protocol="SASL_SSL")


def test_real_admin_client_calls_oauth_cb_with_signer_token():
    """confluent-kafka's AdminClient (SASL_SSL + OAUTHBEARER) invokes the callback; the signer token is accepted."""
    calls = []
    real_cb = kt.make_msk_iam_oauth_cb("us-east-1", access_key="AKIDEXAMPLE", secret_key="secret")

    def recording_cb(config):
        result = real_cb(config)
        calls.append(result)
        return result

    conf = kt.build_admin_config(
        ["127.0.0.1:1"], security_protocol="SASL_SSL", sasl_mechanism="OAUTHBEARER", oauth_cb=recording_cb
    )
    kt.KafkaAdminTransport(conf)  # constructs the AdminClient and serves the token refresh
    assert calls, "oauth_cb was not called"
    token, expiry = calls[0]
    assert decode_token(token).netloc == "kafka.us-east-1.amazonaws.com"
    assert expiry > time.time()
