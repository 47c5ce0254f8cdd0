"""IAM database authentication of the alert processor through the RDS Proxy (DB_AUTH=iam).

Emulator gap (docs/emulator-gaps.md): no local server checks an RDS IAM token (the emulator's proxy endpoint is
not a database, and PostgreSQL knows no tokens). The token is produced here by the real botocore signer (a local
presign, no request), and the connection settings the processor would open are captured at ``psycopg.connect``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest

_LAMBDA = Path(__file__).resolve().parents[3] / "lambdas" / "alert_processor"
if str(_LAMBDA) not in sys.path:
    sys.path.insert(0, str(_LAMBDA))

from alert_processor import resources  # noqa: E402
from alert_processor.config import Config, ConfigError  # noqa: E402

ENV = {"TENANT_ID": "customer-123", "DB_SECRET_ARN": "arn:db", "TSDB_SECRET_ARN": "arn:tsdb",
       "ALERT_TOPIC_ARN": "arn:sns"}
SECRET = {"host": "db.example.internal", "port": 5432, "dbname": "t_customer_123", "username": "t_customer_123_clone",
          "password": "not-for-the-proxy", "sslmode": "verify-full",
          "proxy_host": "mfg-prod-shared-postgres.proxy-abc.eu-west-1.rds.amazonaws.com"}


class Aws:
    def __init__(self):
        self.session = boto3.session.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret",
                                             aws_session_token="session-token", region_name="eu-west-1")

    def client(self, service):
        assert service == "rds"
        return self.session.client("rds")


class Secrets:
    fetches = 0

    def get(self, arn, refresh=False):
        self.fetches += 1
        return dict(SECRET)


def test_db_auth_is_read_from_the_environment():
    assert Config.from_env(dict(ENV)).db_auth == "password"
    assert Config.from_env(dict(ENV, DB_AUTH="iam")).db_auth == "iam"
    with pytest.raises(ConfigError, match="DB_AUTH"):
        Config.from_env(dict(ENV, DB_AUTH="token"))


def test_iam_login_goes_to_the_proxy_with_a_token_for_the_secrets_current_user():
    settings = resources.iam_login(Aws(), SECRET)
    assert settings["host"] == SECRET["proxy_host"] and settings["port"] == 5432
    assert settings["sslmode"] == "verify-full" and settings["sslrootcert"] == "system"
    token = settings["password"]
    assert token != SECRET["password"]
    url = urlsplit("https://" + token)
    query = parse_qs(url.query)
    assert url.netloc == "%s:5432" % SECRET["proxy_host"]
    assert query["Action"] == ["connect"] and query["DBUser"] == ["t_customer_123_clone"]
    assert query["X-Amz-Credential"][0].split("/")[2:4] == ["eu-west-1", "rds-db"]
    assert query["X-Amz-Expires"] == ["900"] and query["X-Amz-Security-Token"] == ["session-token"]


def test_iam_login_needs_the_proxy_host():
    with pytest.raises(resources.Unavailable, match="proxy_host"):
        resources.iam_login(Aws(), dict(SECRET, proxy_host=""))


def test_the_database_connects_with_a_fresh_token_and_never_the_password(monkeypatch):
    import psycopg

    seen = []

    class Connection:
        closed = False
        broken = False

    def connect(**kwargs):
        seen.append(kwargs)
        return Connection()

    monkeypatch.setattr(psycopg, "connect", connect)
    db = resources.Database("postgres", "arn:db", Secrets(), iam_auth=Aws())
    db._connect(refresh=False)
    db._connect(refresh=True)
    assert [k["host"] for k in seen] == [SECRET["proxy_host"]] * 2
    assert all(k["user"] == SECRET["username"] and k["password"] != SECRET["password"] for k in seen)
    assert all(k["password"].startswith(SECRET["proxy_host"] + ":5432/?Action=connect") for k in seen)
    password_db = resources.Database("postgres", "arn:db", Secrets())
    password_db._connect(refresh=False)
    assert seen[-1]["host"] == SECRET["host"] and seen[-1]["password"] == SECRET["password"]
