"""Unit tests of the alert processor's reading validation and MSK record decoding (pure, no cloud)."""

from __future__ import annotations

import base64
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

_LAMBDA = Path(__file__).resolve().parents[3] / "lambdas" / "alert_processor"
if str(_LAMBDA) not in sys.path:
    sys.path.insert(0, str(_LAMBDA))

from alert_processor.readings import (  # noqa: E402
    BadRecord,
    decode_kafka_record,
    kafka_records,
    kafka_ref,
    loads,
    parse_reading,
    parse_timestamp,
)

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
TENANT = "customer-123"


def parse(obj, **kwargs):
    args = {"tenant_id": TENANT, "now": NOW, "max_future_skew": 300, "source": "test"}
    args.update(kwargs)
    return parse_reading(obj, **args)


def reading(**fields):
    base = {"machine_id": "press-01", "metric": "temperature", "value": 81.5, "ts": "2026-01-01T11:59:00Z"}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not ...}


def test_valid_reading_iso():
    r = parse(reading(unit="C"))
    assert (r.machine_id, r.metric, r.value, r.unit, r.source) == ("press-01", "temperature", 81.5, "C", "test")
    assert r.ts == datetime(2026, 1, 1, 11, 59, tzinfo=UTC)


@pytest.mark.parametrize(("raw", "expected"), [
    ("2026-01-01T12:59:00+01:00", datetime(2026, 1, 1, 11, 59, tzinfo=UTC)),
    ("2026-01-01T11:59:00.123456Z", datetime(2026, 1, 1, 11, 59, 0, 123456, tzinfo=UTC)),
    (1767268740000, datetime(2026, 1, 1, 11, 59, tzinfo=UTC)),
    (1767268740000.5, datetime(2026, 1, 1, 11, 59, 0, 500, tzinfo=UTC)),
])
def test_timestamps(raw, expected):
    assert parse_timestamp(raw, NOW, 300) == expected


def test_integer_value_becomes_float_and_tenant_id_of_own_tenant_is_accepted():
    r = parse(reading(value=7, tenant_id=TENANT))
    assert r.value == 7.0 and isinstance(r.value, float)


def test_ts_us_is_exact():
    r = parse(reading(ts="2026-01-01T11:59:00.000001Z"))
    assert r.ts_us == 1767268740000001


def test_future_skew_is_configurable():
    ts = (NOW + timedelta(minutes=10)).isoformat()
    with pytest.raises(BadRecord) as err:
        parse(reading(ts=ts))
    assert err.value.reason == "future_timestamp"
    assert parse(reading(ts=ts), max_future_skew=3600).ts == NOW + timedelta(minutes=10)
    assert parse(reading(ts=(NOW + timedelta(seconds=299)).isoformat())).ts > NOW  # small clock skew is fine


@pytest.mark.parametrize(("obj", "reason"), [
    ([1, 2], "not_an_object"),
    ("text", "not_an_object"),
    (reading(machine_id=...), "missing_field"),
    (reading(metric=None), "missing_field"),
    (reading(value=...), "missing_field"),
    (reading(ts=...), "missing_field"),
    (reading(machine_id=12), "wrong_type"),
    (reading(machine_id=""), "invalid_value"),
    (reading(machine_id="a" * 129), "invalid_value"),
    (reading(machine_id="bad id"), "invalid_value"),
    (reading(machine_id="a|b"), "invalid_value"),
    (reading(metric=["x"]), "wrong_type"),
    (reading(metric="9lives"), "invalid_value"),
    (reading(value="81.5"), "wrong_type"),
    (reading(value=True), "wrong_type"),
    (reading(value={"v": 1}), "wrong_type"),
    (reading(value=float("inf")), "invalid_value"),
    (reading(value=float("nan")), "invalid_value"),
    (reading(value=10**400), "invalid_value"),
    (reading(unit=5), "wrong_type"),
    (reading(unit=""), "invalid_value"),
    (reading(unit="x" * 33), "invalid_value"),
    (reading(unit="a\x00b"), "invalid_value"),
    (reading(ts=True), "wrong_type"),
    (reading(ts=[2026]), "wrong_type"),
    (reading(ts="yesterday"), "invalid_timestamp"),
    (reading(ts="2026-01-01T11:59:00"), "invalid_timestamp"),  # no UTC offset
    (reading(ts="1999-12-31T23:59:00Z"), "invalid_timestamp"),
    (reading(ts="2" * 65), "invalid_timestamp"),
    (reading(ts=1767268740), "invalid_timestamp"),  # seconds, not milliseconds
    (reading(ts=float("inf")), "invalid_timestamp"),
    (reading(ts=10**20), "invalid_timestamp"),
    (reading(ts="2027-01-01T00:00:00Z"), "future_timestamp"),
    (reading(tenant_id="customer-456"), "foreign_tenant"),
    (reading(tenant_id=None), "foreign_tenant"),
])
def test_invalid_readings(obj, reason):
    with pytest.raises(BadRecord) as err:
        parse(obj)
    assert err.value.reason == reason
    # messages name the field, never echo the value
    assert "81.5" not in err.value.message and "press-01" not in err.value.message


def test_loads_rejects_nan_literals():
    with pytest.raises(ValueError):
        loads('{"value": NaN}')
    assert loads(b'{"value": 1}') == {"value": 1}


# ------------------------------------------------------------------------------------------------ MSK records


def record(value, topic="customer-123.telemetry", offset=7, raw=False):
    encoded = value if raw else base64.b64encode(json.dumps(value).encode()).decode()
    return {"topic": topic, "partition": 2, "offset": offset, "timestamp": 1767268740000,
            "timestampType": "CREATE_TIME", "value": encoded, "headers": []}


def decode(rec):
    return decode_kafka_record(rec, tenant_id=TENANT, now=NOW, max_future_skew=300)


def test_decode_kafka_record():
    r = decode(record(reading()))
    assert r.machine_id == "press-01"
    assert r.source == "kafka:customer-123.telemetry:2:7"


@pytest.mark.parametrize(("rec", "reason"), [
    (record(reading(), topic="customer-456.telemetry"), "foreign_topic"),
    (record(reading(), topic="customer-1234.telemetry"), "foreign_topic"),  # prefix match is on "<tenant>."
    (record(reading(), topic=None), "foreign_topic"),
    (dict(record(reading()), value=None), "malformed_record"),
    (record("not base64!", raw=True), "malformed_record"),
    (record(base64.b64encode(b"{not json").decode(), raw=True), "malformed_json"),
    (record(base64.b64encode(b"\xff\xfe").decode(), raw=True), "malformed_json"),
    (record(base64.b64encode(b'{"value": NaN}').decode(), raw=True), "malformed_json"),
    (record("A" * 100_000, raw=True), "too_large"),
    (record([reading()]), "not_an_object"),
    (record(reading(value="hot")), "wrong_type"),
    (record(reading(tenant_id="customer-456")), "foreign_tenant"),
])
def test_bad_kafka_records(rec, reason):
    with pytest.raises(BadRecord) as err:
        decode(rec)
    assert err.value.reason == reason


def test_kafka_records_and_refs():
    event = {"eventSource": "aws:kafka", "records": {"a-0": [record(reading(), offset=1)],
                                                     "a-1": [record(reading(), offset=2), record(reading(), offset=3)]}}
    recs = list(kafka_records(event))
    assert [r["offset"] for r in recs] == [1, 2, 3]
    assert kafka_ref(recs[0]) == {"topic": "customer-123.telemetry", "partition": 2, "offset": 1,
                                  "timestamp": 1767268740000}
    assert list(kafka_records({"eventSource": "aws:kafka"})) == []
