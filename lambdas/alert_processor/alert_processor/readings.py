"""Reading validation and event decoding. Pure functions: no I/O, no clock (callers pass ``now``).

A reading is a JSON object::

    {"machine_id": "press-01", "metric": "temperature", "value": 81.5,
     "ts": "2026-01-01T12:00:00Z" | 1767268800000, "unit": "C"}

``tenant_id`` may be present and must then name the function's own tenant; other keys are ignored.
Errors are :class:`BadRecord` with a stable reason code and a message naming the field, never its value, so
they can be logged and returned without echoing telemetry.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

MACHINE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
METRIC_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
UNIT_RE = re.compile(r"^[^\x00-\x1f\x7f]{1,32}$")
MIN_EPOCH_MS = 946_684_800_000  # 2000-01-01: smaller numbers are most likely seconds, not milliseconds
MAX_ISO_LEN = 64
MAX_RECORD_BYTES = 64 * 1024
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class BadRecord(Exception):  # noqa: N818 - it names the thing, not the failure
    """A record that can never be processed: counted, reported, dead-lettered; never retried."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class Reading:
    machine_id: str
    metric: str
    value: float
    ts: datetime
    unit: str | None
    source: str  # where it came from, for alerts: "kafka:<topic>:<partition>:<offset>" or "api:<request id>"

    @property
    def ts_us(self) -> int:
        """Reading time in epoch microseconds (exact, used in dedupe keys)."""
        delta = self.ts - EPOCH
        return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def parse_timestamp(raw, now: datetime, max_future_skew: float) -> datetime:
    if isinstance(raw, bool):
        raise BadRecord("wrong_type", "ts must be an ISO-8601 string or epoch milliseconds")
    if isinstance(raw, int | float):
        if not math.isfinite(raw):
            raise BadRecord("invalid_timestamp", "ts must be finite")
        if raw < MIN_EPOCH_MS:
            raise BadRecord("invalid_timestamp", "ts in epoch milliseconds must be after 2000-01-01")
        try:
            ts = EPOCH + timedelta(milliseconds=raw)
        except OverflowError:
            raise BadRecord("invalid_timestamp", "ts is out of range") from None
    elif isinstance(raw, str):
        if len(raw) > MAX_ISO_LEN:
            raise BadRecord("invalid_timestamp", "ts is too long")
        try:
            ts = datetime.fromisoformat(raw)
        except ValueError:
            raise BadRecord("invalid_timestamp", "ts is not an ISO-8601 timestamp") from None
        if ts.tzinfo is None or ts.utcoffset() is None:
            raise BadRecord("invalid_timestamp", "ts needs a UTC offset (e.g. Z or +01:00)")
        ts = ts.astimezone(UTC)
        if ts.year < 2000:
            raise BadRecord("invalid_timestamp", "ts must be after 2000-01-01")
    else:
        raise BadRecord("wrong_type", "ts must be an ISO-8601 string or epoch milliseconds")
    if ts > now + timedelta(seconds=max_future_skew):
        raise BadRecord("future_timestamp", "ts is more than %d s in the future" % max_future_skew)
    return ts


def parse_reading(obj, *, tenant_id: str, now: datetime, max_future_skew: float, source: str) -> Reading:
    """Validate one decoded JSON value as a reading of ``tenant_id``'s machines (existence is checked later)."""
    if not isinstance(obj, dict):
        raise BadRecord("not_an_object", "a reading must be a JSON object")
    if "tenant_id" in obj and obj["tenant_id"] != tenant_id:
        raise BadRecord("foreign_tenant", "tenant_id names another tenant")
    for field in ("machine_id", "metric", "value", "ts"):
        if field not in obj or obj[field] is None:
            raise BadRecord("missing_field", "%s is required" % field)
    machine_id, metric, value, unit = obj["machine_id"], obj["metric"], obj["value"], obj.get("unit")
    if not isinstance(machine_id, str):
        raise BadRecord("wrong_type", "machine_id must be a string")
    if not MACHINE_ID_RE.match(machine_id):
        raise BadRecord("invalid_value", "machine_id must be 1-128 letters, digits or _.:- (starting alphanumeric)")
    if not isinstance(metric, str):
        raise BadRecord("wrong_type", "metric must be a string")
    if not METRIC_RE.match(metric):
        raise BadRecord("invalid_value", "metric must be 1-64 letters, digits or _.- (starting with a letter)")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRecord("wrong_type", "value must be a number")
    try:
        value = float(value)
    except OverflowError:
        value = math.inf
    if not math.isfinite(value):
        raise BadRecord("invalid_value", "value must be a finite number")
    if unit is not None:
        if not isinstance(unit, str):
            raise BadRecord("wrong_type", "unit must be a string")
        if not UNIT_RE.match(unit):
            raise BadRecord("invalid_value", "unit must be 1-32 printable characters")
    ts = parse_timestamp(obj["ts"], now, max_future_skew)
    return Reading(machine_id, metric, value, ts, unit, source)


def _reject_constant(name):
    raise ValueError("%s is not valid JSON" % name)


def loads(data: bytes | str):
    """Strict JSON: NaN/Infinity literals are rejected like any other malformed input."""
    return json.loads(data, parse_constant=_reject_constant)


# ------------------------------------------------------------------------------------------------ Kafka (MSK)


def kafka_records(event: dict):
    """The records of an MSK event, in the order Lambda delivered them (partition by partition)."""
    for records in (event.get("records") or {}).values():
        yield from records


def kafka_ref(record: dict) -> dict:
    """Coordinates of a Kafka record: what logs and the dead-letter queue may say about it."""
    return {key: record.get(key) for key in ("topic", "partition", "offset", "timestamp")}


def decode_kafka_record(record: dict, *, tenant_id: str, now: datetime, max_future_skew: float) -> Reading:
    topic = record.get("topic")
    if not isinstance(topic, str) or not topic.startswith(tenant_id + "."):
        raise BadRecord("foreign_topic", "the record's topic is not under the tenant's prefix")
    raw = record.get("value")
    if not isinstance(raw, str) or not raw:
        raise BadRecord("malformed_record", "the record has no value")
    if len(raw) > MAX_RECORD_BYTES * 4 // 3 + 4:
        raise BadRecord("too_large", "the record value exceeds %d bytes" % MAX_RECORD_BYTES)
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise BadRecord("malformed_record", "the record value is not base64") from None
    try:
        obj = loads(data)
    except (UnicodeDecodeError, ValueError):
        raise BadRecord("malformed_json", "the record value is not valid JSON") from None
    source = "kafka:%s:%s:%s" % (topic, record.get("partition"), record.get("offset"))
    return parse_reading(obj, tenant_id=tenant_id, now=now, max_future_skew=max_future_skew, source=source)
