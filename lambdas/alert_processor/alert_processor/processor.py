"""The alert processor: event routing, the reading pipeline, dead-lettering, notifications, API responses."""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from datetime import UTC, datetime

from . import __version__, store
from .config import Config
from .observability import Logger
from .readings import (
    MACHINE_ID_RE,
    BadRecord,
    Reading,
    decode_kafka_record,
    kafka_records,
    kafka_ref,
    loads,
    parse_reading,
)
from .resources import Aws, Database, Secrets, Unavailable
from .rules import KnownMachines, RuleSet, TtlCache, evaluate, max_severity, pairs

UNKNOWN_MACHINE = "machine_id is not a machine of this tenant"
DLQ_BATCH = 10
# SendMessageBatch caps the whole request (bodies + attributes) at 256 KiB: ten 60 KiB records do not fit one.
DLQ_BATCH_BYTES = 250_000
MAX_LOGGED_BAD = 50


class Outcome:
    """What processing a list of (ref, reading) did. ``ref`` is opaque: the Kafka record, or the API item index."""

    def __init__(self):
        self.accepted = []  # refs
        self.unknown = []  # (ref, BadRecord)
        self.alerts = []  # dicts of the alerts created (as notified)


class Processor:
    def __init__(self, config: Config, aws: Aws | None = None, clock=time.monotonic, wallclock=None,
                 logger: Logger | None = None):
        self.config = config
        self.aws = aws or Aws()
        self.secrets = Secrets(self.aws)
        self.pg = Database("postgres", config.db_secret_arn, self.secrets, config.connect_timeout,
                           config.statement_timeout_ms, iam_auth=self.aws if config.db_auth == "iam" else None)
        self.tsdb = Database("timescaledb", config.tsdb_secret_arn, self.secrets, config.connect_timeout,
                             config.statement_timeout_ms)
        self.rules = TtlCache(self._load_rules, config.rule_cache_ttl, clock)
        self.machines = KnownMachines(self._lookup_machines, config.rule_cache_ttl, clock)
        self.wallclock = wallclock or (lambda: datetime.now(UTC))
        self.log = logger or Logger(config.tenant_id)
        self._tsdb_sql = None

    # ------------------------------------------------------------------------------------------- lifecycle

    def set_clock(self, clock):
        """The clock of the caches (monotonic seconds); tests inject one instead of sleeping."""
        self.rules.clock = clock
        self.machines.clock = clock

    def close(self):
        self.pg.close()
        self.tsdb.close()

    # ------------------------------------------------------------------------------------------- loaders

    def _load_rules(self) -> RuleSet:
        ruleset = RuleSet(self.pg.run(store.load_rules))
        self.log.debug("rules loaded", rules=len(ruleset))
        return ruleset

    def _lookup_machines(self, ids):
        return [row[0] for row in self.pg.run(lambda c: c.execute(store.SQL_MACHINES, (ids,)).fetchall())]

    # ------------------------------------------------------------------------------------------- pipeline

    def process(self, items: list[tuple[object, Reading]]) -> Outcome:
        """Store the readings of known machines in one batch, evaluate rules, record and notify new alerts."""
        outcome = Outcome()
        if not items:
            return outcome
        unknown = self.machines.filter_unknown({r.machine_id for _unused, r in items})
        good = []
        for ref, reading in items:
            if reading.machine_id in unknown:
                outcome.unknown.append((ref, BadRecord("unknown_machine", UNKNOWN_MACHINE)))
            else:
                good.append(reading)
                outcome.accepted.append(ref)
        if not good:
            return outcome
        if self._tsdb_sql is None:
            self._tsdb_sql = store.tsdb_insert_sql(self.tsdb.secret().get("schema") or self.config.tenant_id)
        params = store.tsdb_params(good)
        self.tsdb.run(lambda conn: conn.execute(self._tsdb_sql, params))
        ruleset = self.rules.get()
        touched = pairs(ruleset, good)
        if touched:
            outcome.alerts = self.pg.run(lambda conn: self._evaluate(conn, ruleset, good, touched))
        return outcome

    def _evaluate(self, conn, ruleset, readings, touched):
        with conn.transaction():
            conn.execute(store.SQL_LOCK_MACHINES, (sorted({machine for _unused, machine in touched}),))
            evaluation = evaluate(ruleset, readings, store.load_states(conn, touched))
            if not evaluation.transitions:
                return []
            ids = dict((key, alert_id) for alert_id, key in conn.execute(store.SQL_WRITE,
                                                                         store.write_params(evaluation)))
            alerts = [alert_doc(ids[t.dedupe_key], t) for t in evaluation.triggers if t.dedupe_key in ids]
            if alerts:
                # Inside the transaction: if SNS fails, nothing is committed and the batch is retried; if the
                # commit fails after a publish, the retry notifies again (at-least-once notifications).
                self.notify(alerts)
            return alerts

    def notify(self, alerts):
        shown = alerts[: self.config.notify_max_alerts]
        severity = max_severity(a["severity"] for a in alerts)
        message = {"tenant_id": self.config.tenant_id, "alert_count": len(alerts), "max_severity": severity,
                   "alerts": shown, "truncated": len(shown) < len(alerts)}
        subject = "%s: %d new alert%s for %s" % (severity.upper(), len(alerts), "" if len(alerts) == 1 else "s",
                                                 self.config.tenant_id)
        try:
            self.aws.client("sns").publish(
                TopicArn=self.config.alert_topic_arn, Subject=subject[:100], Message=json.dumps(message),
                MessageAttributes={"tenant_id": {"DataType": "String", "StringValue": self.config.tenant_id},
                                   "severity": {"DataType": "String", "StringValue": severity}})
        except Exception as exc:  # noqa: BLE001 - botocore's errors: the batch must be retried as a whole
            raise Unavailable("SNS publish failed (%s)" % type(exc).__name__) from exc
        self.log.info("alerts notified", alerts=len(alerts), severity=severity)

    # ------------------------------------------------------------------------------------------- dispatch

    def handle(self, event, context=None):
        started = time.perf_counter()
        self.log.request_id = getattr(context, "aws_request_id", None) or str(uuid.uuid4())
        if isinstance(event, dict) and event.get("eventSource") == "aws:kafka":
            summary = self.handle_kafka(event)
            self._metrics(started, "kafka", summary["records"], summary["alerts"], summary["bad_records"])
            return summary
        if isinstance(event, dict) and "httpMethod" in event:
            return self.handle_api(event, started)
        self.log.error("unsupported event", keys=sorted(event)[:20] if isinstance(event, dict) else None)
        raise ValueError("unsupported event: expected an MSK batch or an API Gateway proxy request")

    def _metrics(self, started, source, records, alerts, bad):
        latency = round((time.perf_counter() - started) * 1000, 3)
        self.log.metrics({"ProcessingLatency": latency, "Records": records, "Alerts": alerts, "BadRecords": bad},
                         Source=source)

    # ------------------------------------------------------------------------------------------- MSK

    def handle_kafka(self, event) -> dict:
        """Process an MSK batch. Bad records go to the DLQ; infrastructure errors raise (Lambda retries the
        whole batch, which is safe: every write is idempotent)."""
        now = self.wallclock()
        items, bad = [], []
        records = 0
        for record in kafka_records(event):
            records += 1
            try:
                items.append((record, decode_kafka_record(record, tenant_id=self.config.tenant_id, now=now,
                                                          max_future_skew=self.config.max_future_skew,
                                                          max_age=self.config.max_reading_age)))
            except BadRecord as exc:
                bad.append((record, exc))
            except MemoryError:
                raise  # the execution environment, not the record: fail the batch
            except Exception as exc:  # noqa: BLE001 - the record boundary, see unprocessable()
                bad.append((record, self.unprocessable(exc, kafka_ref(record))))
        outcome = self.process(items)
        bad.extend(outcome.unknown)
        dead_lettered = self.dead_letter(bad) if bad else 0
        reasons = {}
        for _unused, exc in bad:
            reasons[exc.reason] = reasons.get(exc.reason, 0) + 1
        if bad:
            self.log.warning("bad records", count=len(bad), reasons=reasons, dead_lettered=dead_lettered,
                             records=[dict(kafka_ref(r), reason=e.reason) for r, e in bad[:MAX_LOGGED_BAD]])
        summary = {"tenant_id": self.config.tenant_id, "records": records, "processed": len(outcome.accepted),
                   "bad_records": len(bad), "bad_reasons": reasons, "dead_lettered": dead_lettered,
                   "alerts": len(outcome.alerts)}
        self.log.info("batch processed", **{k: v for k, v in summary.items() if k != "tenant_id"})
        return summary

    def unprocessable(self, exc, ref) -> BadRecord:
        """A record whose validation raised something other than BadRecord: a bad record too.

        Decoding and validation are pure (no I/O: readings.py), so whatever they raise comes from the record -
        a case the validator does not foresee - and retrying the batch would fail the same way until the record
        expires. Infrastructure errors (a database, SNS or the DLQ down: Unavailable, psycopg and botocore
        errors) can only happen later, in process() and dead_letter(), outside this boundary: they still fail
        the batch so that Lambda retries it."""
        self.log.error("unexpected error validating a record", error_type=type(exc).__name__, record=ref)
        return BadRecord("unprocessable", "the record could not be validated (%s)" % type(exc).__name__)

    def dead_letter(self, bad) -> int:
        if not self.config.dlq_url:
            self.log.warning("no DLQ_URL configured: bad records are only counted and logged", count=len(bad))
            return 0
        sqs = self.aws.client("sqs")
        entries = []
        failed_at = self.wallclock().isoformat()
        for index, (record, exc) in enumerate(bad):
            doc = {"tenant_id": self.config.tenant_id, "reason": exc.reason, "error": exc.message,
                   "source": "aws:kafka", **kafka_ref(record), "dead_lettered_at": failed_at}
            # The payload makes the record replayable, but not one from another tenant's topic (not ours to
            # copy) nor an oversized one (SQS caps messages at 256 KiB).
            value = record.get("value") if isinstance(record, dict) else None
            if exc.reason not in ("foreign_topic", "too_large") and isinstance(value, str):
                doc["value"] = value
            entries.append({"Id": str(index), "MessageBody": json.dumps(doc),  # ASCII: surrogates escaped
                            "MessageAttributes": {"reason": {"DataType": "String", "StringValue": exc.reason}}})
        sent = 0
        for chunk in _dlq_chunks(entries):
            try:
                response = sqs.send_message_batch(QueueUrl=self.config.dlq_url, Entries=chunk)
            except Exception as exc:  # noqa: BLE001 - botocore's errors: retry the batch rather than lose records
                raise Unavailable("DLQ send failed (%s)" % type(exc).__name__) from exc
            if response.get("Failed"):
                raise Unavailable("the DLQ refused %d message(s)" % len(response["Failed"]))
            sent += len(response.get("Successful", []))
        return sent

    # ------------------------------------------------------------------------------------------- API Gateway

    def handle_api(self, event, started):
        method = (event.get("httpMethod") or "").upper()
        path = (event.get("resource") or event.get("path") or "/").rstrip("/") or "/"
        routes = {"/telemetry": {"POST": self.post_telemetry}, "/alerts": {"GET": self.get_alerts},
                  "/health": {"GET": self.get_health}}
        origin = _header(event, "origin")
        if path not in routes:
            return self._response(event, 404, {"error": "not_found", "message": "no such resource"}, origin)
        route = routes[path]
        if method not in route:
            response = self._response(event, 405, {"error": "method_not_allowed",
                                                   "message": "use %s" % ", ".join(route)}, origin)
            response["headers"]["Allow"] = ", ".join(route)
            return response
        try:
            status, body = route[method](event, started)
        except Unavailable as exc:
            self.log.error("dependency unavailable", route=path, error=str(exc))
            status, body = 503, {"error": "unavailable", "message": "a dependency is unavailable, retry later"}
        except Exception as exc:  # noqa: BLE001 - an API call must always get an answer
            self.log.error("unhandled error", route=path, error_type=type(exc).__name__)
            status, body = 500, {"error": "internal", "message": "internal error"}
        self.log.info("api request", method=method, route=path, status=status)
        return self._response(event, status, body, origin)

    def _response(self, event, status, body, origin):
        headers = {"Content-Type": "application/json", "Cache-Control": "no-store",
                   "X-Request-Id": self.log.request_id}
        if origin and origin in self.config.cors_allow_origins:
            headers["Access-Control-Allow-Origin"] = origin
            headers["Vary"] = "Origin"
        return {"statusCode": status, "headers": headers, "body": json.dumps(body, default=_json_default)}

    def get_health(self, event, started):
        return 200, {"status": "ok", "tenant_id": self.config.tenant_id, "version": __version__}

    def post_telemetry(self, event, started):
        body = event.get("body")
        if body is None or body == "":
            return 400, {"error": "invalid_request", "message": "a JSON body is required"}
        if event.get("isBase64Encoded"):
            try:
                body = base64.b64decode(body, validate=True)
            except (binascii.Error, ValueError):
                return 400, {"error": "invalid_request", "message": "the body is not valid base64"}
        try:
            doc = loads(body)
        except (UnicodeDecodeError, ValueError):
            return 400, {"error": "invalid_json", "message": "the body is not valid JSON"}
        if isinstance(doc, dict):
            items = [doc]
        elif isinstance(doc, list):
            items = doc
        else:
            return 400, {"error": "invalid_request", "message": "the body must be a reading or a list of readings"}
        if not items:
            return 400, {"error": "invalid_request", "message": "the list of readings is empty"}
        if len(items) > self.config.api_max_readings:
            return 413, {"error": "too_many_readings",
                         "message": "at most %d readings per request" % self.config.api_max_readings}
        foreign = [i for i, item in enumerate(items)
                   if isinstance(item, dict) and "tenant_id" in item and item["tenant_id"] != self.config.tenant_id]
        if foreign:
            self.log.warning("request names another tenant", items=len(foreign))
            self._metrics(started, "api", len(items), 0, len(items))
            return 403, {"error": "forbidden", "message": "the body names another tenant: nothing was accepted",
                         "items": foreign[:100]}
        now = self.wallclock()
        source = "api:%s" % ((event.get("requestContext") or {}).get("requestId") or self.log.request_id)
        valid, errors = [], {}
        for index, item in enumerate(items):
            try:
                valid.append((index, parse_reading(item, tenant_id=self.config.tenant_id, now=now,
                                                   max_future_skew=self.config.max_future_skew, source=source,
                                                   max_age=self.config.max_reading_age)))
            except BadRecord as exc:
                errors[index] = exc
            except MemoryError:
                raise
            except Exception as exc:  # noqa: BLE001 - the item boundary, as for Kafka records
                errors[index] = self.unprocessable(exc, {"index": index})
        outcome = self.process(valid)
        errors.update(outcome.unknown)
        self._metrics(started, "api", len(items), len(outcome.alerts), len(errors))
        results = [{"index": i, "status": "rejected", "reason": errors[i].reason, "error": errors[i].message}
                   if i in errors else {"index": i, "status": "accepted"} for i in range(len(items))]
        body = {"accepted": len(outcome.accepted), "rejected": len(errors), "alerts": len(outcome.alerts),
                "results": results}
        if errors:
            reasons = {}
            for exc in errors.values():
                reasons[exc.reason] = reasons.get(exc.reason, 0) + 1
            self.log.warning("invalid readings", count=len(errors), reasons=reasons)
        if not outcome.accepted:
            return 400, {"error": "invalid_readings", "message": "no valid reading in the request", **body}
        return (207 if errors else 200), body

    def get_alerts(self, event, started):
        params = event.get("queryStringParameters") or {}
        limit = params.get("limit", "50")
        if not (isinstance(limit, str) and limit.isdigit() and 1 <= int(limit) <= self.config.api_max_alerts):
            return 400, {"error": "invalid_request",
                         "message": "limit must be an integer from 1 to %d" % self.config.api_max_alerts}
        machine_id = params.get("machine_id")
        if machine_id is not None and not MACHINE_ID_RE.fullmatch(machine_id):
            return 400, {"error": "invalid_request", "message": "machine_id is not a valid machine id"}
        query = {"machine_id": machine_id, "limit": int(limit)}
        rows = self.pg.run(lambda conn: conn.execute(store.SQL_ALERTS, query).fetchall())
        alerts = []
        for row in rows:
            alert = dict(zip(store.ALERT_COLUMNS, row, strict=True))
            alert["status"] = "cleared" if alert["cleared_at"] is not None else "active"
            alerts.append(alert)
        return 200, {"tenant_id": self.config.tenant_id, "count": len(alerts), "alerts": alerts}


def alert_doc(alert_id, trigger) -> dict:
    """What a notification says about an alert: enough to act on, nothing about the transport or the source."""
    r, rule = trigger.reading, trigger.rule
    return {"alert_id": alert_id, "rule_id": rule.rule_id, "rule_name": rule.name, "severity": rule.severity,
            "machine_id": r.machine_id, "metric": r.metric, "value": r.value, "unit": r.unit,
            "comparator": rule.comparator, "threshold": rule.threshold, "reading_ts": r.ts.isoformat()}


def _dlq_chunks(entries):
    """SendMessageBatch requests: at most DLQ_BATCH entries and DLQ_BATCH_BYTES of payload each."""
    chunk, size = [], 0
    for entry in entries:
        attribute = entry["MessageAttributes"]["reason"]
        entry_size = len(entry["MessageBody"]) + len("reason") + len(attribute["DataType"]) + \
            len(attribute["StringValue"])
        if chunk and (len(chunk) == DLQ_BATCH or size + entry_size > DLQ_BATCH_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(entry)
        size += entry_size
    if chunk:
        yield chunk


def _header(event, name):
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name:
            return value
    return None


def _json_default(value):
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)
