"""Function configuration from the environment (one function per tenant). Never holds credentials."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

TENANT_ID_RE = re.compile(r"^[a-z](?:[a-z0-9]|-(?!-)){1,30}[a-z0-9]$")


class ConfigError(Exception):
    """The function is misconfigured (a deployment error, not a bad request)."""


def _number(env, name, default, cast, minimum, maximum):
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = cast(raw)
    except (ValueError, OverflowError):
        raise ConfigError("%s must be a number, got %r" % (name, raw)) from None
    if not minimum <= value <= maximum:
        raise ConfigError("%s must be between %s and %s" % (name, minimum, maximum))
    return value


@dataclass(frozen=True)
class Config:
    tenant_id: str
    db_secret_arn: str
    tsdb_secret_arn: str
    alert_topic_arn: str
    dlq_url: str | None = None
    rule_cache_ttl: float = 60.0
    max_future_skew: float = 300.0
    max_reading_age: float = 30 * 86400.0
    api_max_readings: int = 500
    api_max_alerts: int = 500
    connect_timeout: int = 10
    statement_timeout_ms: int = 5000
    notify_max_alerts: int = 50
    cors_allow_origins: tuple[str, ...] = ()
    # PostgreSQL authentication: "iam" = an IAM token (rds generate_db_auth_token) at the secret's proxy_host (the
    # RDS Proxy, IAMAuth REQUIRED); "password" = the secret's password at its host (the documented alternative).
    db_auth: str = "password"

    @classmethod
    def from_env(cls, env=None) -> Config:
        env = os.environ if env is None else env
        missing = [name for name in ("TENANT_ID", "DB_SECRET_ARN", "TSDB_SECRET_ARN", "ALERT_TOPIC_ARN")
                   if not env.get(name)]
        if missing:
            raise ConfigError("missing environment variables: %s" % ", ".join(missing))
        tenant_id = env["TENANT_ID"]
        if not TENANT_ID_RE.match(tenant_id):
            raise ConfigError("TENANT_ID is not a valid tenant id")
        origins = tuple(o.strip() for o in env.get("CORS_ALLOW_ORIGINS", "").split(",") if o.strip())
        db_auth = env.get("DB_AUTH") or "password"
        if db_auth not in ("iam", "password"):
            raise ConfigError("DB_AUTH must be iam or password, got %r" % db_auth)
        return cls(
            tenant_id=tenant_id,
            db_secret_arn=env["DB_SECRET_ARN"],
            tsdb_secret_arn=env["TSDB_SECRET_ARN"],
            alert_topic_arn=env["ALERT_TOPIC_ARN"],
            dlq_url=env.get("DLQ_URL") or None,
            rule_cache_ttl=_number(env, "RULE_CACHE_TTL_SECONDS", 60.0, float, 0, 86400),
            max_future_skew=_number(env, "MAX_FUTURE_SKEW_SECONDS", 300.0, float, 0, 86400),
            max_reading_age=_number(env, "MAX_READING_AGE_SECONDS", 30 * 86400.0, float, 60, 10 * 366 * 86400),
            api_max_readings=_number(env, "API_MAX_READINGS", 500, int, 1, 10000),
            connect_timeout=_number(env, "DB_CONNECT_TIMEOUT_SECONDS", 10, int, 1, 300),
            statement_timeout_ms=_number(env, "DB_STATEMENT_TIMEOUT_MS", 5000, int, 0, 900000),
            notify_max_alerts=_number(env, "NOTIFY_MAX_ALERTS", 50, int, 1, 500),
            cors_allow_origins=origins,
            db_auth=db_auth,
        )
