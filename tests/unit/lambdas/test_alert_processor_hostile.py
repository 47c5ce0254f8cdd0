"""Hostile records: whatever a Kafka record or an API item contains, validation ends in a Reading or a BadRecord
with a reason code - never another exception that would fail (and endlessly retry) the whole batch - and what
it accepts can be written by PostgreSQL (finite numbers, in-window timestamps, UTF-8 text without NUL).
Pure, no cloud; tests/integration/test_alert_processor.py runs the same payloads through the handler against
the local cloud."""

from __future__ import annotations

import base64
import io
import json
import math
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

_LAMBDA = Path(__file__).resolve().parents[3] / "lambdas" / "alert_processor"
if str(_LAMBDA) not in sys.path:
    sys.path.insert(0, str(_LAMBDA))

from alert_processor import processor as processor_module  # noqa: E402
from alert_processor.config import Config, ConfigError  # noqa: E402
from alert_processor.observability import Logger  # noqa: E402
from alert_processor.processor import DLQ_BATCH, DLQ_BATCH_BYTES, Processor, _dlq_chunks  # noqa: E402
from alert_processor.readings import BadRecord, Reading, decode_kafka_record, loads, parse_reading  # noqa: E402

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
TENANT = "customer-123"
MAX_AGE = 30 * 86400
SKEW = 300
GOOD = '{"machine_id": "press-01", "metric": "temperature", "value": 81.5, "ts": %s, "unit": "C"}'


def record(data: bytes, topic="customer-123.telemetry", **over):
    return dict({"topic": topic, "partition": 0, "offset": 7, "timestamp": NOW_MS,
                 "value": base64.b64encode(data).decode()}, **over)


def decode(data: bytes, **over):
    return decode_kafka_record(record(data, **over), tenant_id=TENANT, now=NOW, max_future_skew=SKEW,
                               max_age=MAX_AGE)


def field(name, raw_json: str) -> bytes:
    """The good reading with one field replaced by a raw JSON text."""
    doc = {"machine_id": '"press-01"', "metric": '"temperature"', "value": "81.5", "ts": str(NOW_MS - 60_000),
           "unit": '"C"'}
    doc[name] = raw_json
    return ("{%s}" % ", ".join('"%s": %s' % (k, v) for k, v in doc.items())).encode()


def reason_of(data: bytes, **over) -> str:
    with pytest.raises(BadRecord) as err:
        decode(data, **over)
    return err.value.reason


def test_the_good_reading_is_accepted():
    assert isinstance(decode(field("ts", str(NOW_MS - 60_000))), Reading)


@pytest.mark.parametrize(("name", "raw", "reason"), [
    ("ts", "1" + "0" * 400, "invalid_timestamp"),  # 10**400: float() and timedelta() overflow
    ("ts", "-1" + "0" * 400, "invalid_timestamp"),
    ("ts", "1e400", "invalid_timestamp"),  # the decoder makes it inf
    ("ts", "-1e400", "invalid_timestamp"),
    ("ts", "1e300", "invalid_timestamp"),
    ("ts", "253402300800000", "invalid_timestamp"),  # year 10000
    ("ts", "true", "wrong_type"),
    ("ts", "[1767268740000]", "wrong_type"),
    ("ts", '"9999-12-31T23:59:59-01:00"', "invalid_timestamp"),  # past datetime.max in UTC
    ("ts", '"9999-12-31T23:59:59.999999-23:59"', "invalid_timestamp"),
    ("ts", '"0001-01-01T00:00:00+01:00"', "invalid_timestamp"),  # before datetime.min in UTC
    ("ts", '"0001-01-01T00:00:00+23:59"', "invalid_timestamp"),
    ("ts", '"0001-01-01T00:00:00Z"', "invalid_timestamp"),
    ("ts", '"2000-01-01T00:00:00Z"', "stale_timestamp"),  # after 2000, but far outside the retention
    ("ts", str(946_684_800_000), "stale_timestamp"),
    ("ts", '"2025-12-01T11:59:00Z"', "stale_timestamp"),  # 31 days old
    ("ts", '"2026-01-01T13:00:00Z"', "future_timestamp"),  # 1 h ahead
    ("ts", str(NOW_MS + 3_600_000), "future_timestamp"),
    ("ts", '"\\ud800"', "invalid_timestamp"),
    ("ts", '"2026-01-01T11:59:00\\u0000Z"', "invalid_timestamp"),
    ("value", "1" + "0" * 400, "invalid_value"),
    ("value", "-1" + "0" * 400, "invalid_value"),
    ("value", "1e400", "invalid_value"),
    ("value", "-1e400", "invalid_value"),
    ("value", "NaN", "malformed_json"),
    ("value", "Infinity", "malformed_json"),
    ("value", "-Infinity", "malformed_json"),
    ("value", "9" * 5000, "malformed_json"),  # more digits than int() converts (4300)
    ("value", "true", "wrong_type"),
    ("value", '"81.5"', "wrong_type"),
    ("value", "{}", "wrong_type"),
    ("machine_id", '"\\ud800"', "invalid_value"),
    ("machine_id", '"press-\\ud800"', "invalid_value"),
    ("machine_id", '"press\\u000001"', "invalid_value"),
    ("machine_id", '"press-01\\n"', "invalid_value"),  # `$` alone would accept a trailing newline
    ("machine_id", '"%s"' % ("m" * 10_000), "invalid_value"),
    ("machine_id", '"pr\u00e9ss"', "invalid_value"),
    ("machine_id", "12", "wrong_type"),
    ("metric", '"\\ud800"', "invalid_value"),
    ("metric", '"temp\\u0000"', "invalid_value"),
    ("metric", '"temperature\\n"', "invalid_value"),
    ("metric", '"%s"' % ("t" * 10_000), "invalid_value"),
    ("unit", '"\\ud800"', "invalid_value"),  # lone surrogate: not encodable to UTF-8 for PostgreSQL
    ("unit", '"\\udfff\\ud800"', "invalid_value"),
    ("unit", '"\\u0000"', "invalid_value"),  # NUL: PostgreSQL text rejects it
    ("unit", '"C\\u0000"', "invalid_value"),
    ("unit", '"\\u0085"', "invalid_value"),  # C1 control
    ("unit", '"\\u2028"', "invalid_value"),  # line separator
    ("unit", '""', "invalid_value"),
    ("unit", '"%s"' % ("u" * 33), "invalid_value"),
    ("unit", "[]", "wrong_type"),
    ("tenant_id", '"\\ud800"', "foreign_tenant"),
])
def test_hostile_fields_are_bad_records(name, raw, reason):
    assert reason_of(field(name, raw)) == reason


def test_unicode_units_that_postgresql_can_store_are_accepted():
    r = decode(field("unit", '"\\u00b0C \\ud83d\\ude00"'))  # a valid surrogate pair is one character
    assert r.unit == "\u00b0C \U0001f600" and r.unit.encode("utf-8")


@pytest.mark.parametrize("data", [
    b"[" * 30_000 + b"]" * 30_000,  # 60 KB: under the 64 KiB cap, deeper than the decoder's recursion limit
    b'{"a":' * 8_000 + b"1" + b"}" * 8_000,
    ('{"machine_id": "press-01", "metric": "temperature", "value": 1, "ts": %d, "x": %s}'
     % (NOW_MS, "[" * 20_000 + "]" * 20_000)).encode(),  # deep inside a key that is otherwise ignored
])
def test_deep_nesting_is_malformed_json_not_a_recursion_error(data):
    assert len(base64.b64encode(data)) <= 64 * 1024 * 4 // 3 + 4
    assert reason_of(data) == "malformed_json"
    with pytest.raises(ValueError, match="nested too deeply"):
        loads(data)


@pytest.mark.parametrize(("over", "reason"), [
    ({"topic": "customer-123.tele\ud800"}, "malformed_record"),  # it would go into alerts.source
    ({"topic": "customer-123.tele\x00metry"}, "malformed_record"),
    ({"topic": "customer-123." + "t" * 300}, "malformed_record"),
    ({"partition": "0\x00"}, "malformed_record"),
    ({"offset": None}, "malformed_record"),
    ({"offset": True}, "malformed_record"),
    ({"value": 42}, "malformed_record"),
])
def test_hostile_record_coordinates_are_bad_records(over, reason):
    assert reason_of(GOOD.encode() % str(NOW_MS).encode(), **over) == reason


def test_a_record_that_is_not_an_object_is_a_bad_record():
    with pytest.raises(BadRecord) as err:
        decode_kafka_record(["x"], tenant_id=TENANT, now=NOW, max_future_skew=SKEW, max_age=MAX_AGE)
    assert err.value.reason == "malformed_record"


def test_api_items_get_the_same_window():
    args = {"tenant_id": TENANT, "now": NOW, "max_future_skew": SKEW, "source": "api:x", "max_age": 3600}
    doc = {"machine_id": "press-01", "metric": "temperature", "value": 1.0}
    accepted = parse_reading(dict(doc, ts="2026-01-01T11:00:01Z"), **args)
    assert accepted.ts == datetime(2026, 1, 1, 11, 0, 1, tzinfo=UTC)
    with pytest.raises(BadRecord, match="3600 s in the past"):
        parse_reading(dict(doc, ts="2026-01-01T10:59:59Z"), **args)


HOSTILE = ["\ud800", "\udc00x", "\x00", "a\x00b", "\n", "x" * 10_000, "", " ", "\u2028", "\u00e9",
           "\U0001f600", "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "2026-01-01T11:59:00Z",
           "2026-01-01T11:59:00+14:00", "2026-01-01T11:59:00-14:00", 10**400, -10**400, 1e308, -1e308, 0, -0.0,
           1.5, NOW_MS, NOW_MS - MAX_AGE * 1000 - 1, NOW_MS + SKEW * 1000 + 1, 2**63, -(2**63), True, False, None,
           [], {}, [1], {"a": 1}, "press-01", "temperature", "C", TENANT]


def test_random_hostile_documents_end_in_a_reading_or_a_bad_record():
    """A fixed-seed fuzz over the hostile values above in every field: nothing but BadRecord is raised, and
    every accepted reading holds what the database can store."""
    rng = random.Random(13)  # noqa: S311 - test data
    accepted = 0
    for _unused in range(3000):
        doc = {"machine_id": "press-01", "metric": "temperature", "value": 1.0, "ts": NOW_MS - 1000, "unit": "C"}
        for name in ("machine_id", "metric", "value", "ts", "unit", "tenant_id"):  # mostly good: later checks
            if rng.random() < 0.3:                                                # are reached too
                doc[name] = rng.choice(HOSTILE)
        data = json.dumps(doc).encode()  # ensure_ascii: surrogates travel as \ud800 escapes, as from Kafka
        try:
            r = decode(data)
        except BadRecord as exc:
            assert exc.reason and exc.message
            continue
        accepted += 1
        assert math.isfinite(r.value)
        assert NOW - timedelta(seconds=MAX_AGE) <= r.ts <= NOW + timedelta(seconds=SKEW)
        for text in (r.machine_id, r.metric, r.unit or "x", r.source):
            assert "\x00" not in text
            text.encode("utf-8")  # raises on a lone surrogate
    assert accepted > 50  # the fuzz does reach the accepting path


# ------------------------------------------------------------------------------------------------ processor


def processor(**env):
    config = Config.from_env(dict({"TENANT_ID": TENANT, "DB_SECRET_ARN": "arn:db", "TSDB_SECRET_ARN": "arn:tsdb",
                                   "ALERT_TOPIC_ARN": "arn:sns"}, **env))
    p = Processor(config, aws=None, logger=Logger(TENANT, stream=io.StringIO()), wallclock=lambda: NOW)
    p.aws = NoAws()
    return p


class NoAws:
    def client(self, service):
        raise AssertionError("no AWS call expected, got %s" % service)


def kafka_event(*datas):
    return {"eventSource": "aws:kafka",
            "records": {"customer-123.telemetry-0": [dict(record(d), offset=i) for i, d in enumerate(datas)]}}


def test_a_batch_of_hostile_records_does_not_fail():
    """Only bad records: nothing reaches the database (no DLQ configured here: counted and logged)."""
    datas = [field("ts", "1" + "0" * 400), field("ts", '"9999-12-31T23:59:59-01:00"'),
             field("ts", '"0001-01-01T00:00:00+01:00"'), b"[" * 30_000 + b"]" * 30_000, field("unit", '"\\ud800"'),
             field("unit", '"\\u0000"'), field("ts", '"2000-01-01T00:00:00Z"'), field("ts", str(NOW_MS + 3_600_000))]
    summary = processor().handle(kafka_event(*datas))
    assert summary["records"] == summary["bad_records"] == 8 and summary["processed"] == 0
    assert summary["bad_reasons"] == {"invalid_timestamp": 3, "malformed_json": 1, "invalid_value": 2,
                                      "stale_timestamp": 1, "future_timestamp": 1}


def test_an_unforeseen_validation_error_is_a_bad_record_not_a_failed_batch(monkeypatch):
    real = processor_module.decode_kafka_record

    def flaky(rec, **kwargs):
        if rec["offset"] == 1:
            raise KeyError("a case the validator does not foresee")
        return real(rec, **kwargs)

    monkeypatch.setattr(processor_module, "decode_kafka_record", flaky)
    p = processor()
    summary = p.handle(kafka_event(b"[]", b"also bad"))
    assert summary["bad_reasons"] == {"not_an_object": 1, "unprocessable": 1}
    log = [json.loads(line) for line in p.log.stream.getvalue().splitlines()]
    assert any(doc.get("error_type") == "KeyError" and doc["record"]["offset"] == 1 for doc in log)


def test_memory_errors_still_fail_the_batch(monkeypatch):
    def oom(rec, **kwargs):
        raise MemoryError

    monkeypatch.setattr(processor_module, "decode_kafka_record", oom)
    with pytest.raises(MemoryError):
        processor().handle(kafka_event(b"{}"))


def test_infrastructure_errors_still_fail_the_batch(monkeypatch):
    """A good record reaches process(); the database being down is not a bad record."""
    p = processor()

    def down(items):
        raise processor_module.Unavailable("timescaledb database unavailable (OperationalError)")

    monkeypatch.setattr(p, "process", down)
    with pytest.raises(processor_module.Unavailable):
        p.handle(kafka_event(field("ts", str(NOW_MS - 1000))))


def test_api_item_that_breaks_validation_is_rejected_not_a_500(monkeypatch):
    def broken(item, **kwargs):
        raise RecursionError

    monkeypatch.setattr(processor_module, "parse_reading", broken)
    p = processor()
    response = p.handle({"httpMethod": "POST", "resource": "/telemetry", "body": json.dumps([{"a": 1}])})
    body = json.loads(response["body"])
    assert response["statusCode"] == 400 and body["results"][0]["reason"] == "unprocessable"


def test_api_body_nested_too_deeply_is_a_400():
    p = processor()
    response = p.handle({"httpMethod": "POST", "resource": "/telemetry", "body": "[" * 30_000 + "]" * 30_000})
    assert response["statusCode"] == 400 and json.loads(response["body"])["error"] == "invalid_json"


def test_dlq_batches_respect_the_request_size_limit():
    """Ten 60 KiB records (base64: 80 KiB each) cannot go in one SendMessageBatch (256 KiB for the request)."""
    entries = [{"Id": str(i), "MessageBody": "x" * 82_000,
                "MessageAttributes": {"reason": {"DataType": "String", "StringValue": "malformed_json"}}}
               for i in range(10)] + \
              [{"Id": str(i), "MessageBody": "y" * 300,
                "MessageAttributes": {"reason": {"DataType": "String", "StringValue": "unknown_machine"}}}
               for i in range(10, 35)]
    chunks = list(_dlq_chunks(entries))
    assert [e["Id"] for chunk in chunks for e in chunk] == [str(i) for i in range(35)]
    for chunk in chunks:
        assert 1 <= len(chunk) <= DLQ_BATCH
        assert sum(len(e["MessageBody"]) + 40 for e in chunk) <= DLQ_BATCH_BYTES
    assert max(len(c) for c in chunks) == DLQ_BATCH


def test_max_reading_age_configuration():
    assert processor().config.max_reading_age == 30 * 86400
    assert processor(MAX_READING_AGE_SECONDS="3600").config.max_reading_age == 3600
    for bad in ("59", "nan", "1e400", "forever", str(11 * 366 * 86400)):
        with pytest.raises(ConfigError, match="MAX_READING_AGE_SECONDS"):
            processor(MAX_READING_AGE_SECONDS=bad)
