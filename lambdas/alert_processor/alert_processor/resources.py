"""Per-execution-environment resources: AWS clients, secrets, database connections.

Created on first use, then reused by every invocation the environment serves. boto3 and psycopg are imported
here, lazily. Credentials come only from Secrets Manager (``DB_SECRET_ARN`` / ``TSDB_SECRET_ARN``); the AWS
endpoint comes from the standard environment (``AWS_ENDPOINT_URL``, honoured by boto3), so the same code runs
against the local cloud's emulator.
"""

from __future__ import annotations

import contextlib
import json

SECRET_KEYS = ("host", "port", "dbname", "username", "password")


class Unavailable(Exception):  # noqa: N818
    """A dependency (database, AWS API) failed even after one reconnect: retry later (API: 503)."""


class Aws:
    """boto3 clients, one per service, created on first use."""

    def __init__(self):
        self._session = None
        self._clients = {}

    def client(self, service: str):
        client = self._clients.get(service)
        if client is None:
            import boto3
            from botocore.config import Config

            if self._session is None:
                self._session = boto3.session.Session()
            config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=10)
            client = self._clients[service] = self._session.client(service, config=config)
        return client


class Secrets:
    """SecretString JSON documents by ARN, fetched once per environment (``refresh`` after a failed login)."""

    def __init__(self, aws: Aws):
        self.aws = aws
        self._cache = {}
        self.fetches = 0

    def get(self, arn: str, refresh: bool = False) -> dict:
        if refresh or arn not in self._cache:
            try:
                self.fetches += 1
                value = self.aws.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
                doc = json.loads(value)
            except Exception as exc:  # noqa: BLE001 - botocore's errors or a non-JSON secret; never echo it
                raise Unavailable("cannot read secret %s (%s)" % (arn, type(exc).__name__)) from None
            missing = [key for key in SECRET_KEYS if key not in doc]
            if missing:
                raise Unavailable("secret %s lacks %s" % (arn, ", ".join(missing)))
            self._cache[arn] = doc
        return self._cache[arn]


def iam_login(aws: Aws, secret: dict) -> dict:
    """Connection settings for IAM database authentication through the RDS Proxy: the secret's ``proxy_host``, and
    a fresh token (signed locally, valid 15 minutes, only for a new connection) as the password. The proxy presents
    a publicly trusted (ACM) certificate, so without an ``sslrootcert`` in the secret the system store verifies it.
    The secret's password is not used (the proxy requires IAM authentication)."""
    host = secret.get("proxy_host")
    if not host:
        raise Unavailable("secret lacks proxy_host: IAM authentication goes through the RDS Proxy")
    port = int(secret.get("proxy_port") or secret["port"])
    token = aws.client("rds").generate_db_auth_token(DBHostname=host, Port=port, DBUsername=secret["username"])
    settings = {"host": host, "port": port, "password": token, "sslmode": "verify-full"}
    settings["sslrootcert"] = secret.get("proxy_sslrootcert") or "system"
    return settings


class Database:
    """One psycopg connection (autocommit; writers open explicit transactions), reconnected once when broken.

    ``run(fn)`` calls ``fn(conn)``; if that fails because the connection is broken (or cannot be opened), it
    reconnects once — re-reading the secret, in case the password was rotated — and calls ``fn`` again.
    Everything run through it is idempotent, so a repeat after an unknown outcome is safe.
    """

    def __init__(self, name: str, secret_arn: str, secrets: Secrets, connect_timeout: int = 10,
                 statement_timeout_ms: int = 5000, iam_auth: Aws | None = None):
        self.name = name
        self.iam_auth = iam_auth
        self.secret_arn = secret_arn
        self.secrets = secrets
        self.connect_timeout = connect_timeout
        self.statement_timeout_ms = statement_timeout_ms
        self.conn = None
        self.connects = 0

    def secret(self) -> dict:
        return self.secrets.get(self.secret_arn)

    def _connect(self, refresh: bool):
        import psycopg

        secret = self.secrets.get(self.secret_arn, refresh=refresh)
        kwargs = {
            "host": secret["host"], "port": int(secret["port"]), "dbname": secret["dbname"],
            "user": secret["username"], "password": secret["password"],
            "sslmode": secret.get("sslmode", "verify-full"), "connect_timeout": self.connect_timeout,
            "application_name": "alert-processor",
        }
        if secret.get("sslrootcert"):
            kwargs["sslrootcert"] = secret["sslrootcert"]
        if self.iam_auth is not None:
            kwargs.update(iam_login(self.iam_auth, secret))
        if self.statement_timeout_ms:
            kwargs["options"] = "-c statement_timeout=%d" % self.statement_timeout_ms
        self.conn = psycopg.connect(autocommit=True, **kwargs)
        self.connects += 1
        return self.conn

    def connection(self):
        if self.conn is None or self.conn.closed:
            self._connect(refresh=False)
        return self.conn

    def run(self, fn):
        import psycopg

        try:
            return fn(self.connection())
        except psycopg.OperationalError as exc:
            if self.conn is not None and not self.conn.closed and not self.conn.broken:
                raise  # a statement failed on a healthy connection (e.g. a timeout): not a reconnect case
            first = type(exc).__name__
        self.close()
        try:
            return fn(self._connect(refresh=True))
        except psycopg.OperationalError as exc:
            self.close()
            raise Unavailable("%s database unavailable (%s, then %s)" % (self.name, first, type(exc).__name__)) \
                from None

    def close(self):
        if self.conn is not None:
            with contextlib.suppress(Exception):  # closing a broken connection may fail; it is gone either way
                self.conn.close()
            self.conn = None
