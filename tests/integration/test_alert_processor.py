"""Integration tests of the alert processor Lambda (lambdas/alert_processor), run in-process against the local
cloud: real PostgreSQL (tenant database + role, TLS) and TimescaleDB, SNS/SQS/Secrets Manager on the emulator.

Each test gets a throw-away tenant (tests/support/alert_processor_tenant.py) and removes it afterwards. The local
TimescaleDB serves one session at a time: tests close the handler's connections (handler.close_connections())
before they read TimescaleDB back.
"""

from __future__ import annotations

import base64
import importlib
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from support.alert_processor_tenant import SCHEMA_DIR, Tenant, render_timescaledb_schema

pytestmark = pytest.mark.integration
handler = importlib.import_module("alert_processor.handler")  # lambdas/alert_processor is on sys.path (support)

MACHINES = ["press-01", "press-02", "press-03", "lathe-01"]
RULES = [
    {"name": "press overheating", "metric": "temperature", "comparator": ">", "threshold": 80.0,
     "clear_threshold": 70.0, "severity": "critical"},
    {"name": "lathe vibration", "machine_id": "lathe-01", "metric": "vibration", "comparator": ">=",
     "threshold": 5.0, "severity": "warning"},
]


@pytest.fixture
def make_tenant(endpoints, monkeypatch):
    """Factory of throw-away tenants; the handler is configured for the first one (activate() switches)."""
    tenants = []

    def activate(tenant, **overrides):
        handler.reset()
        for key, value in tenant.env(**overrides).items():
            monkeypatch.setenv(key, value)
        return tenant

    def make(machines=MACHINES, rules=RULES, activate_it=True, **overrides):
        tenant = Tenant(endpoints)
        tenants.append(tenant)
        tenant.create(machines=machines, rules=rules)
        if activate_it:
            activate(tenant, **overrides)
        return tenant

    make.activate = activate
    try:
        yield make
    finally:
        handler.reset()
        for tenant in tenants:
            tenant.destroy()


@pytest.fixture
def tenant(make_tenant):
    return make_tenant()


def now_ms(offset_s=0.0):
    return int((time.time() + offset_s) * 1000)


def reading(machine="press-01", value=50.0, metric="temperature", ts=None, **extra):
    doc = {"machine_id": machine, "metric": metric, "value": value, "ts": now_ms(-60) if ts is None else ts}
    doc.update(extra)
    return doc


class Kafka:
    """Builds MSK event-source batches with increasing offsets."""

    def __init__(self, tenant, topic_suffix="telemetry"):
        self.topic = "%s.%s" % (tenant.tenant_id, topic_suffix)
        self.offset = 0

    def record(self, value, topic=None, raw=False):
        self.offset += 1
        data = value if raw else base64.b64encode(json.dumps(value).encode()).decode()
        return {"topic": topic or self.topic, "partition": 0, "offset": self.offset, "timestamp": now_ms(),
                "timestampType": "CREATE_TIME", "key": base64.b64encode(b"k").decode(), "value": data,
                "headers": []}

    def event(self, *records):
        batch = {}
        for rec in records:
            batch.setdefault("%s-%s" % (rec["topic"], rec["partition"]), []).append(rec)
        return {"eventSource": "aws:kafka", "eventSourceArn": "arn:aws:kafka:us-east-1:123456789012:cluster/c/1",
                "bootstrapServers": "b-1:9098", "records": batch}

    def batch(self, *values):
        return self.event(*(self.record(v) for v in values))


class Context:
    def __init__(self):
        self.aws_request_id = "req-%d" % time.monotonic_ns()


def invoke(event):
    return handler.handler(event, Context())


def api(method, resource, body=None, query=None):
    event = {"resource": resource, "path": resource, "httpMethod": method,
             "headers": {"Content-Type": "application/json"},
             "queryStringParameters": query, "body": None if body is None else json.dumps(body),
             "isBase64Encoded": False, "requestContext": {"requestId": "api-%d" % time.monotonic_ns()}}
    response = invoke(event)
    return response["statusCode"], json.loads(response["body"])


def alerts(tenant):
    return tenant.pg_sql("SELECT machine_id, metric, value, severity, cleared_at IS NOT NULL, source FROM alerts "
                         "ORDER BY alert_id")


def metrics_rows(tenant):
    handler.close_connections()  # one TimescaleDB session at a time
    return tenant.tsdb_sql('SELECT machine_id, metric, value, unit FROM "%s".machine_metrics '  # noqa: S608
                           'ORDER BY time, machine_id' % tenant.tsdb_schema)


def emf_lines(text):
    return [doc for doc in map(json.loads, text.splitlines()) if "_aws" in doc]


# ------------------------------------------------------------------------------------------------ schema


def test_schema_files_are_idempotent_and_make_a_hypertable(tenant):
    with tenant.tenant_pg() as conn:
        conn.execute((SCHEMA_DIR / "postgres.sql").read_text())
    handler.close_connections()
    tenant.tsdb_sql(render_timescaledb_schema(tenant.tsdb_schema))
    rows = tenant.tsdb_sql(
        "SELECT d.time_interval::text FROM timescaledb_information.dimensions d "
        "WHERE d.hypertable_schema = %s AND d.hypertable_name = 'machine_metrics'", (tenant.tsdb_schema,))
    assert rows == [("1 day",)]
    with pytest.raises(ValueError):
        render_timescaledb_schema('x"; DROP SCHEMA public; --')


# ------------------------------------------------------------------------------------------------ MSK


def test_msk_batch_stores_readings_creates_alerts_and_notifies_once(tenant, capsys):
    kafka = Kafka(tenant)
    summary = invoke(kafka.batch(
        reading("press-01", 85.5, unit="C"),
        reading("press-02", 60.0, unit="C"),
        reading("press-03", 91.0),
        reading("lathe-01", 7.5, metric="vibration", unit="mm/s"),
    ))
    assert summary == {"tenant_id": tenant.tenant_id, "records": 4, "processed": 4, "bad_records": 0,
                       "bad_reasons": {}, "dead_lettered": 0, "alerts": 3}
    assert sorted(metrics_rows(tenant)) == sorted([("press-01", "temperature", 85.5, "C"),
                                                   ("press-02", "temperature", 60.0, "C"),
                                                   ("press-03", "temperature", 91.0, None),
                                                   ("lathe-01", "vibration", 7.5, "mm/s")])
    rows = alerts(tenant)
    assert sorted(r[:4] for r in rows) == [("lathe-01", "vibration", 7.5, "warning"),
                                           ("press-01", "temperature", 85.5, "critical"),
                                           ("press-03", "temperature", 91.0, "critical")]
    assert all(r[5].startswith("kafka:%s:0:" % kafka.topic) for r in rows)

    notes = tenant.receive(tenant.notify_url)
    assert len(notes) == 1  # one notification per batch
    note = notes[0]
    assert note["alert_count"] == 3 and note["max_severity"] == "critical" and not note["truncated"]
    assert note["_attributes"] == {"tenant_id": tenant.tenant_id, "severity": "critical"}
    assert set(note["alerts"][0]) == {"alert_id", "rule_id", "rule_name", "severity", "machine_id", "metric",
                                      "value", "unit", "comparator", "threshold", "reading_ts"}

    emf = emf_lines(capsys.readouterr().out)
    assert len(emf) == 1
    metric_doc = emf[0]["_aws"]["CloudWatchMetrics"][0]
    assert metric_doc["Namespace"] == "ManufacturingPlatform/AlertProcessor"
    assert metric_doc["Dimensions"] == [["Tenant"]]
    assert {m["Name"] for m in metric_doc["Metrics"]} == {"ProcessingLatency", "Records", "Alerts", "BadRecords"}
    assert (emf[0]["Tenant"], emf[0]["Records"], emf[0]["Alerts"], emf[0]["BadRecords"]) == (tenant.tenant_id, 4, 3, 0)
    assert emf[0]["ProcessingLatency"] > 0


def test_hysteresis_trigger_hold_clear_retrigger(tenant):
    kafka = Kafka(tenant)
    t0 = now_ms(-600)

    def send(value, second):
        return invoke(kafka.batch(reading("press-01", value, ts=t0 + second * 1000)))["alerts"]

    assert send(85, 0) == 1  # crosses 80: alert
    assert send(90, 1) == 0  # still above: active, nothing new
    assert send(75, 2) == 0  # inside the band (70 < v <= 80): still active
    assert tenant.pg_sql("SELECT active FROM alert_state") == [(True,)]
    assert send(65, 3) == 0  # back below the clear threshold: episode closed
    assert tenant.pg_sql("SELECT active FROM alert_state") == [(False,)]
    assert [r[4] for r in alerts(tenant)] == [True]  # cleared_at set on the first alert
    assert send(82, 4) == 1  # crosses again: a new alert
    assert [(r[2], r[4]) for r in alerts(tenant)] == [(85.0, True), (82.0, False)]
    assert len(tenant.receive(tenant.notify_url)) == 2


def test_hysteresis_state_survives_a_cold_start(tenant):
    kafka = Kafka(tenant)
    assert invoke(kafka.batch(reading("press-01", 85, ts=now_ms(-30))))["alerts"] == 1
    handler.reset()  # new execution environment: no cache, no connection
    assert invoke(kafka.batch(reading("press-01", 95, ts=now_ms(-20))))["alerts"] == 0
    assert len(alerts(tenant)) == 1


def test_duplicate_records_create_no_duplicate_alerts(tenant):
    kafka = Kafka(tenant)
    value = reading("press-02", 88.0)
    event = kafka.event(kafka.record(value))
    assert invoke(event)["alerts"] == 1
    assert invoke(event)["alerts"] == 0  # MSK redelivery: same topic/partition/offset
    assert invoke(kafka.batch(value))["alerts"] == 0  # producer retry: same reading under a new offset
    # a redelivery after the episode closed cannot reopen it either (older than the last transition)
    invoke(kafka.batch(reading("press-02", 50.0, ts=value["ts"] + 1000)))
    assert invoke(event)["alerts"] == 0
    assert len(alerts(tenant)) == 1
    assert len(tenant.receive(tenant.notify_url)) == 1
    assert len(metrics_rows(tenant)) == 2  # the reading is stored once (unique reading key)


def test_bad_records_are_counted_dead_lettered_and_do_not_block_good_ones(tenant, capsys):
    kafka = Kafka(tenant)
    secret_value = 4242.4242
    records = [
        kafka.record(reading("press-01", 85.0)),  # good, alerting
        kafka.record(base64.b64encode(b'{"machine_id": "press-01", "metric": ').decode(), raw=True),
        kafka.record(reading("ghost-99", secret_value)),
        kafka.record(reading("press-02", "sizzling-hot")),
        kafka.record(reading("press-02", secret_value, ts=now_ms(3600))),
        kafka.record(reading("press-03", secret_value), topic="customer-other.telemetry"),
        kafka.record(reading("press-03", secret_value, tenant_id="customer-other")),
        kafka.record("%%% not base64", raw=True),
        kafka.record(reading("press-02", 55.0)),  # good
    ]
    summary = invoke(kafka.event(*records))
    assert summary["records"] == 9 and summary["processed"] == 2 and summary["alerts"] == 1
    assert summary["bad_records"] == 7 and summary["dead_lettered"] == 7
    assert summary["bad_reasons"] == {"malformed_json": 1, "unknown_machine": 1, "wrong_type": 1,
                                      "future_timestamp": 1, "foreign_topic": 1, "foreign_tenant": 1,
                                      "malformed_record": 1}
    assert sorted(r[0] for r in metrics_rows(tenant)) == ["press-01", "press-02"]

    dlq = tenant.receive(tenant.dlq_url)
    assert len(dlq) == 7
    by_offset = {m["offset"]: m for m in dlq}
    assert set(by_offset) == {r["offset"] for r in records[1:8]}
    foreign = next(m for m in dlq if m["reason"] == "foreign_topic")
    assert "value" not in foreign  # another tenant's payload is not copied into this tenant's DLQ
    unknown = next(m for m in dlq if m["reason"] == "unknown_machine")
    assert json.loads(base64.b64decode(unknown["value"]))["machine_id"] == "ghost-99"  # replayable
    assert unknown["_attributes"] == {"reason": "unknown_machine"}
    assert all(m["tenant_id"] == tenant.tenant_id and m["topic"] for m in dlq)

    out = capsys.readouterr().out
    assert str(secret_value) not in out and "ghost-99" not in out and "sizzling" not in out
    emf = emf_lines(out)
    assert (emf[-1]["Records"], emf[-1]["BadRecords"], emf[-1]["Alerts"]) == (9, 7, 1)


def test_bad_records_without_a_dlq_are_still_counted(make_tenant, endpoints, monkeypatch):
    tenant = make_tenant()
    monkeypatch.delenv("DLQ_URL")
    handler.reset()
    kafka = Kafka(tenant)
    summary = invoke(kafka.event(kafka.record("bm9wZQ==", raw=True), kafka.record(reading("press-01", 10.0))))
    assert (summary["bad_records"], summary["dead_lettered"], summary["processed"]) == (1, 0, 1)


def test_failed_notification_commits_nothing_and_the_retry_alerts_once(make_tenant):
    tenant = make_tenant(ALERT_TOPIC_ARN="arn:aws:sns:us-east-1:123456789012:no-such-topic")
    kafka = Kafka(tenant)
    event = kafka.batch(reading("press-01", 85.0), reading("press-02", 10.0))
    with pytest.raises(Exception, match="SNS publish failed"):  # Lambda retries the whole batch
        invoke(event)
    assert alerts(tenant) == [] and tenant.pg_sql("SELECT * FROM alert_state") == []
    make_tenant.activate(tenant)  # SNS is back
    assert invoke(event)["alerts"] == 1
    assert invoke(event)["alerts"] == 0
    assert len(tenant.receive(tenant.notify_url)) == 1
    assert len(metrics_rows(tenant)) == 2  # stored by the failed attempt already; the retry added nothing


# ------------------------------------------------------------------------------------------------ API


def test_api_post_telemetry_statuses(tenant):
    status, body = api("POST", "/telemetry", reading("press-01", 50.0))
    assert status == 200 and body["accepted"] == 1 and body["rejected"] == 0

    status, body = api("POST", "/telemetry", [reading("press-01", 81.0), reading("press-02", 20.0)])
    assert status == 200 and (body["accepted"], body["alerts"]) == (2, 1)

    status, body = api("POST", "/telemetry", [reading("press-02", 21.0, ts=now_ms(-10)), reading("ghost", 1.0),
                                              reading("press-03", "x"), reading("press-03", 1.0, ts=now_ms(7200))])
    assert status == 207
    assert (body["accepted"], body["rejected"]) == (1, 3)
    assert [(r["index"], r["status"], r.get("reason")) for r in body["results"]] == [
        (0, "accepted", None), (1, "rejected", "unknown_machine"), (2, "rejected", "wrong_type"),
        (3, "rejected", "future_timestamp")]

    status, body = api("POST", "/telemetry", [reading("ghost", 1.0), {"machine_id": "press-01"}])
    assert status == 400 and body["error"] == "invalid_readings" and body["accepted"] == 0

    status, body = api("POST", "/telemetry", [reading("press-03", 99.0),
                                              reading("press-03", 99.0, tenant_id="customer-other")])
    assert status == 403 and body["items"] == [1]

    rows = metrics_rows(tenant)
    assert len(rows) == 4 and all(r[0] != "press-03" for r in rows)  # the forbidden request stored nothing
    assert [r[5].startswith("api:api-") for r in alerts(tenant)] == [True]


def test_get_alerts_returns_only_the_tenants_alerts(make_tenant):
    tenant_a = make_tenant()
    tenant_b = make_tenant(activate_it=False)
    kafka_a = Kafka(tenant_a)
    invoke(kafka_a.batch(reading("press-01", 85.0, ts=now_ms(-50)), reading("press-02", 86.0, ts=now_ms(-40))))

    make_tenant.activate(tenant_b)
    kafka_b = Kafka(tenant_b)
    invoke(kafka_b.batch(reading("press-03", 99.0)))
    # tenant B's function cannot be made to write into tenant A's topic or on A's behalf
    assert invoke(kafka_b.event(kafka_b.record(reading("press-01", 99.0), topic=kafka_a.topic)))["bad_records"] == 1
    status, body = api("POST", "/telemetry", reading("press-01", 99.0, tenant_id=tenant_a.tenant_id))
    assert status == 403
    status, body = api("GET", "/alerts")
    assert status == 200 and body["tenant_id"] == tenant_b.tenant_id
    assert [(a["machine_id"], a["value"], a["status"]) for a in body["alerts"]] == [("press-03", 99.0, "active")]

    make_tenant.activate(tenant_a)
    status, body = api("GET", "/alerts")
    assert status == 200 and [a["machine_id"] for a in body["alerts"]] == ["press-02", "press-01"]  # newest first
    assert body["alerts"][0]["severity"] == "critical" and body["alerts"][0]["rule_name"] == "press overheating"
    status, body = api("GET", "/alerts", query={"limit": "1"})
    assert body["count"] == 1
    status, body = api("GET", "/alerts", query={"machine_id": "press-01"})
    assert [a["machine_id"] for a in body["alerts"]] == ["press-01"]
    status, body = api("GET", "/alerts", query={"machine_id": "press-03"})  # B's machine id: nothing of B's
    assert body["alerts"] == []
    assert api("GET", "/alerts", query={"limit": "0"})[0] == 400


def test_api_health(tenant):
    assert api("GET", "/health") == (200, {"status": "ok", "tenant_id": tenant.tenant_id, "version": "1.0.0"})


# ------------------------------------------------------------------------------------------------ caching


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_rule_cache_honours_the_ttl(make_tenant):
    tenant = make_tenant(RULE_CACHE_TTL_SECONDS=60)
    clock = Clock()
    handler.get_processor().set_clock(clock)
    kafka = Kafka(tenant)
    assert invoke(kafka.batch(reading("press-01", 85.0)))["alerts"] == 1  # loads the rules (threshold 80)

    tenant.pg_sql("UPDATE alert_rules SET threshold = 95, clear_threshold = 90 WHERE name = 'press overheating'")
    clock.now += 59
    assert invoke(kafka.batch(reading("press-02", 85.0)))["alerts"] == 1  # cached rule: still 80
    clock.now += 1
    assert invoke(kafka.batch(reading("press-03", 85.0)))["alerts"] == 0  # TTL passed: 95 now
    assert invoke(kafka.batch(reading("press-03", 96.0, ts=now_ms(-5))))["alerts"] == 1


def test_connections_and_secrets_are_reused_and_reconnected_once(tenant):
    kafka = Kafka(tenant)
    invoke(kafka.batch(reading("press-01", 10.0, ts=now_ms(-50))))
    proc = handler.get_processor()
    assert proc.secrets.fetches == 2  # one per database, on the first invocation
    invoke(kafka.batch(reading("press-01", 11.0, ts=now_ms(-40))))
    invoke(kafka.batch(reading("press-01", 12.0, ts=now_ms(-30))))
    assert (proc.pg.connects, proc.tsdb.connects, proc.secrets.fetches) == (1, 1, 2)

    with tenant.admin() as admin:  # the database drops the Lambda's session (failover, idle timeout, ...)
        killed = admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                               "AND application_name = 'alert-processor'", (tenant.db_name,)).fetchall()
    assert killed == [(True,)]
    assert invoke(kafka.batch(reading("press-01", 90.0, ts=now_ms(-20))))["alerts"] == 1
    assert (proc.pg.connects, proc.tsdb.connects) == (2, 1)
    assert proc.secrets.fetches == 3  # the reconnect re-reads the secret (a rotated password is picked up)


def test_secrets_are_never_logged(tenant, capsys, endpoints):
    kafka = Kafka(tenant)
    invoke(kafka.batch(reading("press-01", 85.0), reading("ghost", 1.0)))
    api("POST", "/telemetry", [reading("press-02", 30.0), {"bad": True}])
    api("GET", "/alerts")
    handler.reset()
    out = capsys.readouterr()
    text = out.out + out.err
    assert tenant.password not in text
    assert endpoints["timescaledb"]["password"] not in text
    assert endpoints["postgres"]["password"] not in text
    for line in out.out.splitlines():
        json.loads(line)  # every line is a JSON document


def test_reading_timestamps_round_trip_exactly(tenant):
    ts = datetime.now(UTC).replace(microsecond=123456) - timedelta(minutes=3)
    invoke(Kafka(tenant).batch(reading("press-01", 85.0, ts=ts.isoformat())))
    assert tenant.pg_sql("SELECT reading_ts FROM alerts") == [(ts,)]
    handler.close_connections()
    assert tenant.tsdb_sql('SELECT time FROM "%s".machine_metrics' % tenant.tsdb_schema) == [(ts,)]  # noqa: S608


# ------------------------------------------------------------------------------------------------ hostile records


def raw_record(kafka, data: bytes):
    return kafka.record(base64.b64encode(data).decode(), raw=True)


def raw_reading(machine="press-01", **raw_fields):
    """A reading whose fields are raw JSON texts (what json.dumps cannot produce: 10**400, NaN, lone surrogates)."""
    fields = {"machine_id": json.dumps(machine), "metric": '"temperature"', "value": "50.0",
              "ts": str(now_ms(-60))}
    fields.update(raw_fields)
    return ("{%s}" % ", ".join('"%s": %s' % (k, v) for k, v in fields.items())).encode()


def chunks(tenant):
    handler.close_connections()  # one TimescaleDB session at a time
    return tenant.tsdb_sql("SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_schema = %s",
                           (tenant.tsdb_schema,))[0][0]


HOSTILE = [  # (raw JSON of the record value, reason)
    (raw_reading(ts="1" + "0" * 400), "invalid_timestamp"),  # 10**400
    (raw_reading(ts="-1" + "0" * 400), "invalid_timestamp"),
    (raw_reading(ts="1e400"), "invalid_timestamp"),
    (raw_reading(value="1" + "0" * 400), "invalid_value"),
    (raw_reading(value="-1e400"), "invalid_value"),
    (raw_reading(value="NaN"), "malformed_json"),
    (raw_reading(ts="true"), "wrong_type"),
    (raw_reading(ts='"9999-12-31T23:59:59-01:00"'), "invalid_timestamp"),
    (raw_reading(ts='"0001-01-01T00:00:00+01:00"'), "invalid_timestamp"),
    (b"[" * 30_000 + b"]" * 30_000, "malformed_json"),  # 60 KB, under the 64 KiB cap
    (raw_reading(unit='"\\ud800"'), "invalid_value"),  # lone surrogate: not UTF-8 encodable
    (raw_reading(machine_id='"press-\\ud800"'), "invalid_value"),
    (raw_reading(metric='"\\ud800"'), "invalid_value"),
    (raw_reading(ts='"\\ud800"'), "invalid_timestamp"),
    (raw_reading(tenant_id='"\\ud800"'), "foreign_tenant"),
    (raw_reading(unit='"C\\u0000"'), "invalid_value"),  # NUL: PostgreSQL text rejects it
    (raw_reading(machine_id=json.dumps("m" * 10_000)), "invalid_value"),
    (raw_reading(ts='"2000-01-01T00:00:00Z"'), "stale_timestamp"),
    (raw_reading(ts=str(now_ms(-31 * 86400))), "stale_timestamp"),
    (raw_reading(ts=str(now_ms(3600))), "future_timestamp"),
]


def test_hostile_records_are_dead_lettered_and_the_good_ones_of_the_batch_stored(tenant, capsys):
    """Each payload of the issue (and more) in one batch with good records, through the real handler: the batch
    does not fail, the good readings are in TimescaleDB, every bad one is in the DLQ with its reason."""
    kafka = Kafka(tenant)
    good = [kafka.record(reading("press-01", 85.0, unit="\u00b0C")), kafka.record(reading("press-02", 10.0))]
    bad = [raw_record(kafka, data) for data, _unused in HOSTILE]
    bad.append(kafka.record(reading("press-03", 1.0), topic=kafka.topic + "\x00"))  # NUL in the coordinates
    records = [good[0], *bad[:10], good[1], *bad[10:]]
    summary = invoke(kafka.event(*records))

    expected = {}
    for _unused, reason in HOSTILE:
        expected[reason] = expected.get(reason, 0) + 1
    expected["malformed_record"] = 1
    assert (summary["records"], summary["processed"], summary["alerts"]) == (len(records), 2, 1)
    assert summary["bad_reasons"] == expected
    assert summary["bad_records"] == summary["dead_lettered"] == len(bad)
    assert metrics_rows(tenant) == [("press-01", "temperature", 85.0, "\u00b0C"),
                                    ("press-02", "temperature", 10.0, None)]

    dlq = {m["offset"]: m for m in tenant.receive(tenant.dlq_url)}
    assert set(dlq) == {r["offset"] for r in bad}
    for rec, (data, reason) in zip(bad, HOSTILE, strict=False):
        message = dlq[rec["offset"]]
        assert message["reason"] == reason and message["_attributes"] == {"reason": reason}
        assert message["error"] and base64.b64decode(message["value"]) == data  # replayable
    assert dlq[bad[-1]["offset"]]["reason"] == "malformed_record"
    assert "malformed_json" in {m["reason"] for m in dlq.values()}
    emf = emf_lines(capsys.readouterr().out)
    assert (emf[-1]["Records"], emf[-1]["BadRecords"]) == (len(records), len(bad))


def test_a_batch_of_large_hostile_records_fits_the_dlq(tenant):
    """Ten 60 KB records are more than one SendMessageBatch request may carry (256 KiB): they are sent in
    several requests, none is lost and the batch does not fail."""
    kafka = Kafka(tenant)
    bad = [raw_record(kafka, b"[" * 30_000 + b"]" * 30_000) for _unused in range(10)]
    summary = invoke(kafka.event(*bad, kafka.record(reading("press-01", 10.0))))
    assert (summary["processed"], summary["dead_lettered"]) == (1, 10)
    assert sorted(m["offset"] for m in tenant.receive(tenant.dlq_url)) == [r["offset"] for r in bad]


def test_500_old_readings_create_no_chunk(tenant):
    """One reading per day back to 2000 would create a TimescaleDB chunk per day on the shared database: they
    are older than the retention window (MAX_READING_AGE_SECONDS) and rejected before any write."""
    kafka = Kafka(tenant)
    before = chunks(tenant)
    old = [reading("press-01", 1.0, ts=now_ms(-(40 + day * 14) * 86400)) for day in range(500)]
    summary = invoke(kafka.batch(*old))
    assert summary["bad_reasons"] == {"stale_timestamp": 500} and summary["dead_lettered"] == 500
    status, body = api("POST", "/telemetry", old)
    assert status == 400 and {r["reason"] for r in body["results"]} == {"stale_timestamp"}
    assert chunks(tenant) == before
    assert metrics_rows(tenant) == []
    assert len(tenant.receive(tenant.dlq_url)) == 500


def test_max_reading_age_is_configurable(make_tenant):
    tenant = make_tenant(MAX_READING_AGE_SECONDS=3600, MAX_FUTURE_SKEW_SECONDS=60)
    kafka = Kafka(tenant)
    summary = invoke(kafka.batch(reading("press-01", 1.0, ts=now_ms(-3500)), reading("press-02", 1.0, ts=now_ms(-3700)),
                                 reading("press-03", 1.0, ts=now_ms(120))))
    assert summary["processed"] == 1
    assert summary["bad_reasons"] == {"stale_timestamp": 1, "future_timestamp": 1}


def test_api_hostile_items_are_rejected_and_the_good_ones_stored(tenant):
    body = ("[%s, %s, %s, %s]" % (json.dumps(reading("press-01", 20.0)), raw_reading(unit='"\\ud800"').decode(),
                                  raw_reading(ts='"9999-12-31T23:59:59-01:00"').decode(),
                                  raw_reading(ts="1" + "0" * 400).decode()))
    response = invoke({"resource": "/telemetry", "path": "/telemetry", "httpMethod": "POST", "body": body,
                       "headers": {}, "isBase64Encoded": False, "requestContext": {"requestId": "api-hostile"}})
    doc = json.loads(response["body"])
    assert response["statusCode"] == 207 and doc["accepted"] == 1
    assert [r.get("reason") for r in doc["results"]] == [None, "invalid_value", "invalid_timestamp",
                                                         "invalid_timestamp"]
    response = invoke({"resource": "/telemetry", "path": "/telemetry", "httpMethod": "POST",
                       "body": "[" * 30_000 + "]" * 30_000, "headers": {}, "isBase64Encoded": False})
    assert response["statusCode"] == 400 and json.loads(response["body"])["error"] == "invalid_json"
    assert metrics_rows(tenant) == [("press-01", "temperature", 20.0, None)]
