"""A throw-away tenant of the alert processor on the local cloud (used by its integration tests and benchmark).

Creates, on the running local cloud: a PostgreSQL role + database owned by it (as platform_admin, over TLS) with
lambdas/alert_processor/schema/postgres.sql applied as the tenant role; a TimescaleDB schema with
schema/timescaledb.sql; an SNS alert topic with an SQS queue subscribed (raw delivery) to read notifications back;
an SQS dead-letter queue; the two connection secrets in Secrets Manager. ``destroy()`` removes all of it.

Names: PostgreSQL role/database ``t_ap_<hex>``, tenant id and TimescaleDB schema ``t-ap-<hex>`` (a hyphen, so
identifier quoting is exercised). The local TimescaleDB serves ONE session at a time: every connection opened
here is closed before returning, and callers must close the handler's connections before reading back.
"""

from __future__ import annotations

import json
import re
import sys
import uuid
from pathlib import Path

import boto3
import psycopg

ROOT = Path(__file__).resolve().parents[2]
LAMBDA_DIR = ROOT / "lambdas" / "alert_processor"
SCHEMA_DIR = LAMBDA_DIR / "schema"
SCHEMA_NAME_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,62}$")

if str(LAMBDA_DIR) not in sys.path:
    sys.path.insert(0, str(LAMBDA_DIR))


def load_endpoints(path=None) -> dict:
    import os

    path = Path(path or os.environ.get("LOCALCLOUD_ENDPOINTS") or ROOT / ".localcloud" / "endpoints.json")
    return json.loads(path.read_text())


def render_timescaledb_schema(schema: str) -> str:
    if not SCHEMA_NAME_RE.match(schema):
        raise ValueError("invalid TimescaleDB schema name %r" % schema)
    return (SCHEMA_DIR / "timescaledb.sql").read_text().replace("{schema}", '"%s"' % schema)


class Tenant:
    def __init__(self, endpoints: dict, suffix: str | None = None, with_dlq: bool = True):
        self.endpoints = endpoints
        self.hex = suffix or uuid.uuid4().hex[:10]
        self.tenant_id = "t-ap-%s" % self.hex
        self.db_name = self.role = "t_ap_%s" % self.hex
        self.password = uuid.uuid4().hex + "Aa1"
        self.tsdb_schema = self.tenant_id
        self.with_dlq = with_dlq
        aws = endpoints["aws"]
        self.session = boto3.session.Session(aws_access_key_id=aws["access_key"],
                                             aws_secret_access_key=aws["secret_key"], region_name=aws["region"])
        self._created = []

    # ------------------------------------------------------------------------------------------- connections

    def client(self, service):
        return self.session.client(service, endpoint_url=self.endpoints["aws"]["endpoint_url"])

    def admin(self, dbname="postgres"):
        pg = self.endpoints["postgres"]
        return psycopg.connect(host=pg["host"], port=pg["port"], user=pg["user"], password=pg["password"],
                               dbname=dbname, sslmode=pg["sslmode"], sslrootcert=pg["sslrootcert"], autocommit=True)

    def tenant_pg(self):
        """A connection as the tenant's role to its database (what the Lambda gets)."""
        pg = self.endpoints["postgres"]
        return psycopg.connect(host=pg["host"], port=pg["port"], user=self.role, password=self.password,
                               dbname=self.db_name, sslmode=pg["sslmode"], sslrootcert=pg["sslrootcert"],
                               autocommit=True)

    def tsdb(self):
        ts = self.endpoints["timescaledb"]
        return psycopg.connect(host=ts["host"], port=ts["port"], user=ts["user"], password=ts["password"],
                               dbname=ts["dbname"], sslmode=ts["sslmode"], sslrootcert=ts["sslrootcert"],
                               autocommit=True, connect_timeout=120)

    def pg_sql(self, query, params=None):
        with self.tenant_pg() as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else None

    def tsdb_sql(self, query, params=None):
        with self.tsdb() as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else None

    # ------------------------------------------------------------------------------------------- lifecycle

    def create(self, machines=(), rules=()):
        with self.admin() as conn:
            conn.execute("CREATE ROLE %s LOGIN PASSWORD '%s'" % (self.role, self.password))
            self._created.append("role")
            conn.execute("CREATE DATABASE %s OWNER %s" % (self.db_name, self.role))
            self._created.append("database")
            conn.execute("REVOKE CONNECT, TEMPORARY ON DATABASE %s FROM PUBLIC" % self.db_name)
        with self.tenant_pg() as conn:
            conn.execute((SCHEMA_DIR / "postgres.sql").read_text())
        self.seed(machines, rules)
        self._created.append("tsdb")
        self.tsdb_sql(render_timescaledb_schema(self.tsdb_schema))

        sns, sqs, secrets = self.client("sns"), self.client("sqs"), self.client("secretsmanager")
        self.topic_arn = sns.create_topic(Name="%s-alerts" % self.tenant_id)["TopicArn"]
        self._created.append("topic")
        self.notify_url = sqs.create_queue(QueueName="%s-notifications" % self.tenant_id)["QueueUrl"]
        self._created.append("notify_queue")
        notify_arn = sqs.get_queue_attributes(QueueUrl=self.notify_url,
                                              AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=notify_arn,
                      Attributes={"RawMessageDelivery": "true"})
        self.dlq_url = None
        if self.with_dlq:
            self.dlq_url = sqs.create_queue(QueueName="%s-dlq" % self.tenant_id)["QueueUrl"]
            self._created.append("dlq")
        pg, ts = self.endpoints["postgres"], self.endpoints["timescaledb"]
        pg_secret = {"host": pg["host"], "port": pg["port"], "dbname": self.db_name, "username": self.role,
                     "password": self.password, "sslmode": pg["sslmode"], "sslrootcert": pg["sslrootcert"]}
        self.db_secret_arn = secrets.create_secret(Name="%s/alert-processor/postgres" % self.tenant_id,
                                                   SecretString=json.dumps(pg_secret))["ARN"]
        self._created.append("db_secret")
        ts_secret = {"host": ts["host"], "port": ts["port"], "dbname": ts["dbname"], "username": ts["user"],
                     "password": ts["password"], "sslmode": ts["sslmode"], "sslrootcert": ts["sslrootcert"],
                     "schema": self.tsdb_schema}
        self.tsdb_secret_arn = secrets.create_secret(Name="%s/alert-processor/timescaledb" % self.tenant_id,
                                                     SecretString=json.dumps(ts_secret))["ARN"]
        self._created.append("tsdb_secret")
        return self

    def seed(self, machines=(), rules=()):
        """machines: ids; rules: dicts of alert_rules columns. Returns the new rule ids."""
        ids = []
        with self.tenant_pg() as conn:
            for machine in machines:
                conn.execute("INSERT INTO machines (machine_id) VALUES (%s) ON CONFLICT DO NOTHING", (machine,))
            for rule in rules:
                cols = list(rule)
                ids.append(conn.execute(
                    "INSERT INTO alert_rules (%s) VALUES (%s) RETURNING rule_id"  # noqa: S608 - test data
                    % (", ".join(cols), ", ".join(["%s"] * len(cols))), [rule[c] for c in cols]).fetchone()[0])
        return ids

    def env(self, **overrides) -> dict:
        aws = self.endpoints["aws"]
        env = {
            "AWS_ENDPOINT_URL": aws["endpoint_url"], "AWS_ACCESS_KEY_ID": aws["access_key"],
            "AWS_SECRET_ACCESS_KEY": aws["secret_key"], "AWS_DEFAULT_REGION": aws["region"],
            "AWS_REGION": aws["region"], "TENANT_ID": self.tenant_id, "DB_SECRET_ARN": self.db_secret_arn,
            "TSDB_SECRET_ARN": self.tsdb_secret_arn, "ALERT_TOPIC_ARN": self.topic_arn,
            "DB_CONNECT_TIMEOUT_SECONDS": "120",
        }
        if self.dlq_url:
            env["DLQ_URL"] = self.dlq_url
        env.update({k: str(v) for k, v in overrides.items()})
        return env

    def receive(self, queue_url, wait=0, max_messages=10) -> list[dict]:
        """Drain a queue: every message body parsed as JSON, plus its attributes under "_attributes"."""
        sqs = self.client("sqs")
        out = []
        while True:
            response = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=max_messages,
                                           WaitTimeSeconds=wait, MessageAttributeNames=["All"])
            messages = response.get("Messages", [])
            if not messages:
                return out
            for message in messages:
                body = json.loads(message["Body"])
                body["_attributes"] = {k: v.get("StringValue") for k, v in
                                       (message.get("MessageAttributes") or {}).items()}
                out.append(body)
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            wait = 0

    def destroy(self):
        errors = []

        def attempt(fn):
            try:
                fn()
            except Exception as exc:  # noqa: BLE001 - clean up as much as possible, report at the end
                errors.append(exc)

        sqs, secrets = self.client("sqs"), self.client("secretsmanager")
        if "db_secret" in self._created:
            attempt(lambda: secrets.delete_secret(SecretId=self.db_secret_arn, ForceDeleteWithoutRecovery=True))
        if "tsdb_secret" in self._created:
            attempt(lambda: secrets.delete_secret(SecretId=self.tsdb_secret_arn, ForceDeleteWithoutRecovery=True))
        if "dlq" in self._created:
            attempt(lambda: sqs.delete_queue(QueueUrl=self.dlq_url))
        if "notify_queue" in self._created:
            attempt(lambda: sqs.delete_queue(QueueUrl=self.notify_url))
        if "topic" in self._created:
            sns = self.client("sns")

            def drop_topic():
                for sub in sns.list_subscriptions_by_topic(TopicArn=self.topic_arn).get("Subscriptions", []):
                    sns.unsubscribe(SubscriptionArn=sub["SubscriptionArn"])
                sns.delete_topic(TopicArn=self.topic_arn)

            attempt(drop_topic)
        if "tsdb" in self._created:
            attempt(lambda: self.tsdb_sql('DROP SCHEMA IF EXISTS "%s" CASCADE' % self.tsdb_schema))

        def drop_pg():
            with self.admin() as conn:
                conn.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.db_name)
                conn.execute("DROP ROLE IF EXISTS %s" % self.role)

        if "role" in self._created:
            attempt(drop_pg)
        self._created = []
        if errors:
            raise errors[0]
