"""Reading validation and event decoding. Pure functions: no I/O, no clock (callers pass ``now``).

A reading is a JSON object::

    {"machine_id": "press-01", "metric": "temperature", "value": 81.5,
     "ts": "2026-01-01T12:00:00Z" | 1767268800000, "unit": "C"}

``tenant_id`` may be present and must then name the function's own tenant; other keys are ignored.
Errors are :class:`BadRecord` with a stable reason code and a message naming the field, never its value, so
they can be logged and returned without echoing telemetry.

Everything accepted here can be written by PostgreSQL as is: finite float8 values, timestamps inside the
retention window (never at the edges of Python's or PostgreSQL's date range), ASCII identifiers, and units that
are printable (so no NUL byte, which PostgreSQL text rejects, and no lone surrogate, which cannot be encoded to
UTF-8). A record that could still make these functions raise something else is caught by the callers at the
record boundary (:func:`alert_processor.processor.Processor.handle_kafka`) and reported as ``unprocessable``.
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
TOPIC_RE = re.compile(r"[A-Za-z0-9._-]{1,249}")  # Kafka's own topic name rule
MAX_UNIT_LEN = 32
MIN_EPOCH_MS = 946_684_800_000  # 2000-01-01: smaller numbers are most likely seconds, not milliseconds
MAX_EPOCH_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z: larger cannot be a datetime at all
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


def parse_timestamp(raw, now: datetime, max_future_skew: float, max_age: float | None = None) -> datetime:
    """``raw`` as an aware UTC datetime in ``[now - max_age, now + max_future_skew]`` (no lower bound but
    2000-01-01 when ``max_age`` is None)."""
    if isinstance(raw, bool):
        raise BadRecord("wrong_type", "ts must be an ISO-8601 string or epoch milliseconds")
    if isinstance(raw, int | float):
        # Compared before any conversion: an int like 10**400 overflows float() and timedelta().
        if isinstance(raw, float) and not math.isfinite(raw):
            raise BadRecord("invalid_timestamp", "ts must be finite")
        if raw < MIN_EPOCH_MS:
            raise BadRecord("invalid_timestamp", "ts in epoch milliseconds must be after 2000-01-01")
        if raw > MAX_EPOCH_MS:
            raise BadRecord("invalid_timestamp", "ts is out of range")
        ts = EPOCH + timedelta(milliseconds=raw)
    elif isinstance(raw, str):
        if len(raw) > MAX_ISO_LEN:
            raise BadRecord("invalid_timestamp", "ts is too long")
        if not (raw.isascii() and raw.isprintable()):  # fromisoformat() would accept "11:59:00\x00Z"
            raise BadRecord("invalid_timestamp", "ts is not an ISO-8601 timestamp")
        try:
            ts = datetime.fromisoformat(raw)
        except ValueError:  # UnicodeEncodeError (a lone surrogate) is a ValueError too
            raise BadRecord("invalid_timestamp", "ts is not an ISO-8601 timestamp") from None
        if ts.tzinfo is None or ts.utcoffset() is None:
            raise BadRecord("invalid_timestamp", "ts needs a UTC offset (e.g. Z or +01:00)")
        try:
            # 9999-12-31T23:59:59-01:00 and 0001-01-01T00:00:00+01:00 are outside datetime's range in UTC.
            ts = ts.astimezone(UTC)
        except OverflowError:
            raise BadRecord("invalid_timestamp", "ts is out of range") from None
        if ts.year < 2000:
            raise BadRecord("invalid_timestamp", "ts must be after 2000-01-01")
    else:
        raise BadRecord("wrong_type", "ts must be an ISO-8601 string or epoch milliseconds")
    if ts > now + timedelta(seconds=max_future_skew):
        raise BadRecord("future_timestamp", "ts is more than %d s in the future" % max_future_skew)
    if max_age is not None and ts < now - timedelta(seconds=max_age):
        # Older than the TimescaleDB retention: it would be dropped anyway, and each old day would create (and
        # keep until the next retention run) a chunk of the shared hypertable.
        raise BadRecord("stale_timestamp", "ts is more than %d s in the past" % max_age)
    return ts


def parse_reading(obj, *, tenant_id: str, now: datetime, max_future_skew: float, source: str,
                  max_age: float | None = None) -> Reading:
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
    if not MACHINE_ID_RE.fullmatch(machine_id):
        raise BadRecord("invalid_value", "machine_id must be 1-128 letters, digits or _.:- (starting alphanumeric)")
    if not isinstance(metric, str):
        raise BadRecord("wrong_type", "metric must be a string")
    if not METRIC_RE.fullmatch(metric):
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
        # isprintable() is False for control characters (NUL included) and for surrogates (category Cs): what
        # PostgreSQL's UTF-8 text cannot store never gets to the database.
        if not 1 <= len(unit) <= MAX_UNIT_LEN or not unit.isprintable():
            raise BadRecord("invalid_value", "unit must be 1-%d printable characters" % MAX_UNIT_LEN)
    ts = parse_timestamp(obj["ts"], now, max_future_skew, max_age)
    return Reading(machine_id, metric, value, ts, unit, source)


def _reject_constant(name):
    raise ValueError("%s is not valid JSON" % name)


def loads(data: bytes | str):
    """Strict JSON: NaN/Infinity literals are rejected like any other malformed input, and so is a document
    nested deeper than the decoder's recursion limit (ValueError, never RecursionError). Integers of more than
    4300 digits are a ValueError of the decoder itself."""
    try:
        return json.loads(data, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError("the JSON document is nested too deeply") from None


# ------------------------------------------------------------------------------------------------ Kafka (MSK)


def kafka_records(event: dict):
    """The records of an MSK event, in the order Lambda delivered them (partition by partition)."""
    for records in (event.get("records") or {}).values():
        yield from records


def kafka_ref(record: dict) -> dict:
    """Coordinates of a Kafka record: what logs and the dead-letter queue may say about it."""
    if not isinstance(record, dict):
        return {}
    return {key: record.get(key) for key in ("topic", "partition", "offset", "timestamp")}


def decode_kafka_record(record: dict, *, tenant_id: str, now: datetime, max_future_skew: float,
                        max_age: float | None = None) -> Reading:
    if not isinstance(record, dict):
        raise BadRecord("malformed_record", "the record is not an object")
    topic = record.get("topic")
    if not isinstance(topic, str) or not topic.startswith(tenant_id + "."):
        raise BadRecord("foreign_topic", "the record's topic is not under the tenant's prefix")
    # The coordinates go into alerts.source: only what Kafka itself can produce.
    if not TOPIC_RE.fullmatch(topic):
        raise BadRecord("malformed_record", "the record's topic is not a Kafka topic name")
    for field in ("partition", "offset"):
        if isinstance(record.get(field), bool) or not isinstance(record.get(field), int):
            raise BadRecord("malformed_record", "the record's %s is not an integer" % field)
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
    return parse_reading(obj, tenant_id=tenant_id, now=now, max_future_skew=max_future_skew, source=source,
                         max_age=max_age)
