"""Secrets Manager rotation of a PostgreSQL / TimescaleDB login, alternating-users strategy.

Secrets Manager calls the function four times per rotation, with ``Step`` = ``createSecret``, ``setSecret``,
``testSecret``, ``finishSecret`` and the new version's ``ClientRequestToken``:

* createSecret: the new version (``AWSPENDING``) is the current one with the *other* user of the pair
  (``<user>`` <-> ``<user>_clone``) and a new password from ``GetRandomPassword``;
* setSecret: as the admin (the secret's ``masterarn`` names the admin secret) the other user is created if it does
  not exist yet (LOGIN, member of the base user, so it has exactly the base user's privileges) and gets the new
  password, as a SCRAM-SHA-256 verifier (the plaintext never reaches the server);
* testSecret: the new user logs in to the secret's database over TLS;
* finishSecret: ``AWSCURRENT`` moves to the new version (the old one becomes ``AWSPREVIOUS``).

The user that was current is not touched: every session and every client still holding the previous version
keeps working until the *next* rotation changes that user's password, so no client ever sees a half-rotated
password. Each step is idempotent (Secrets Manager retries a failed step).

Secret fields: ``host``, ``port``, ``dbname``, ``username``, ``password``, ``sslmode`` (default verify-full),
``sslrootcert`` (optional), ``masterarn``. The admin secret has ``host``, ``port``, ``username``, ``password``
(and optionally ``dbname``, ``sslmode``, ``sslrootcert``); its host and port are not used: the admin connects to
the server of the rotated secret.

Environment: ``EXCLUDE_CHARACTERS`` (password characters to avoid; default: quoting and URL characters),
``PASSWORD_LENGTH`` (32), ``CONNECT_TIMEOUT`` (10 s), ``SECRETS_MANAGER_ENDPOINT`` (a VPC endpoint URL, optional).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import re
import secrets as _random

SUFFIX = "_clone"
DEFAULT_EXCLUDE = "\"'\\/@:;`%{}[]<>()|&$#~,=?^*!+ "
IDENT_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
LOG = logging.getLogger("secret_rotation")
LOG.setLevel(os.environ.get("LOG_LEVEL", "INFO"))

_client = None


class RotationError(Exception):
    """A step cannot proceed: Secrets Manager marks the rotation failed and retries it later."""


def secretsmanager():
    global _client  # noqa: PLW0603 - one client per execution environment
    if _client is None:
        import boto3

        endpoint = os.environ.get("SECRETS_MANAGER_ENDPOINT") or None
        _client = boto3.client("secretsmanager", endpoint_url=endpoint)
    return _client


def reset():
    """Forget the client (tests switch endpoints)."""
    global _client  # noqa: PLW0603
    _client = None


def log(step: str, arn: str, message: str) -> None:
    print(json.dumps({"level": "INFO", "step": step, "secret": arn, "message": message}, sort_keys=True))


def handler(event, context=None):
    arn = event["SecretId"]
    token = event["ClientRequestToken"]
    step = event["Step"]
    if step not in STEPS:
        raise RotationError("unknown step %r" % step)
    client = secretsmanager()
    meta = client.describe_secret(SecretId=arn)
    if not meta.get("RotationEnabled"):
        raise RotationError("secret %s is not enabled for rotation" % arn)
    versions = meta.get("VersionIdsToStages", {})
    if token not in versions:
        raise RotationError("secret version %s has no stage for rotation of secret %s" % (token, arn))
    if "AWSCURRENT" in versions[token]:
        log(step, arn, "version %s is already AWSCURRENT" % token)
        return {"step": step, "done": False}
    if "AWSPENDING" not in versions[token]:
        raise RotationError("secret version %s is not AWSPENDING for rotation of secret %s" % (token, arn))
    STEPS[step](client, arn, token)
    return {"step": step, "done": True}


# ------------------------------------------------------------------------------------------------ the steps


def create_secret(client, arn, token):
    current = get_value(client, arn, "AWSCURRENT")
    try:
        get_value(client, arn, "AWSPENDING", token)
        log("createSecret", arn, "pending version exists")
        return
    except client.exceptions.ResourceNotFoundException:
        pass
    check_secret(current, arn)
    pending = dict(current)
    pending["username"] = other_user(current["username"])
    pending["password"] = client.get_random_password(
        PasswordLength=int(os.environ.get("PASSWORD_LENGTH", "32")),
        ExcludeCharacters=os.environ.get("EXCLUDE_CHARACTERS", DEFAULT_EXCLUDE),
    )["RandomPassword"]
    client.put_secret_value(SecretId=arn, ClientRequestToken=token, SecretString=json.dumps(pending, sort_keys=True),
                            VersionStages=["AWSPENDING"])
    log("createSecret", arn, "pending version for user %s" % pending["username"])


def set_secret(client, arn, token):
    import psycopg

    pending = get_value(client, arn, "AWSPENDING", token)
    check_secret(pending, arn)
    try:
        connect(pending).close()
        log("setSecret", arn, "pending user already has the pending password")
        return
    except psycopg.OperationalError:
        pass
    current = get_value(client, arn, "AWSCURRENT")
    user, base = pending["username"], base_user(pending["username"])
    if base_user(current["username"]) != base:
        raise RotationError("pending user %s is not of the pair of the current user %s" % (user, current["username"]))
    if not current.get("masterarn"):
        raise RotationError("secret %s has no masterarn (the admin secret)" % arn)
    admin = json.loads(client.get_secret_value(SecretId=current["masterarn"])["SecretString"])
    admin_login = dict(pending, username=admin["username"], password=admin["password"])
    for key in ("sslmode", "sslrootcert"):
        if admin.get(key) and not pending.get(key):
            admin_login[key] = admin[key]
    # The admin connects to the rotated secret's server, to its maintenance database (the tenant database may
    # refuse the admin's CONNECT).
    admin_login["dbname"] = admin.get("dbname") or "postgres"
    verifier = scram_sha256_verifier(pending["password"])
    with connect(admin_login) as conn:
        exists = conn.execute("SELECT rolconnlimit FROM pg_roles WHERE rolname = %s", (user,)).fetchone()
        limit = conn.execute("SELECT rolconnlimit FROM pg_roles WHERE rolname = %s", (base,)).fetchone()
        if limit is None:
            raise RotationError("base user %s does not exist on the server" % base)
        if exists is None:
            conn.execute("CREATE ROLE %s LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT CONNECTION LIMIT %d "
                         "PASSWORD '%s'" % (quote(user), int(limit[0]), verifier))
        else:
            conn.execute("ALTER ROLE %s LOGIN PASSWORD '%s'" % (quote(user), verifier))
        if user != base:
            member = conn.execute("SELECT pg_has_role(%s, %s, 'MEMBER')", (user, base)).fetchone()[0]
            if not member:
                conn.execute("GRANT %s TO %s" % (quote(base), quote(user)))
    log("setSecret", arn, "password of user %s set%s" % (user, "" if exists else " (user created)"))


def test_secret(client, arn, token):
    pending = get_value(client, arn, "AWSPENDING", token)
    check_secret(pending, arn)
    with connect(pending) as conn:
        row = conn.execute("SELECT current_user, has_database_privilege(current_database(), 'CONNECT')").fetchone()
    if row[0] != pending["username"] or not row[1]:
        raise RotationError("pending user %s cannot use database %s" % (pending["username"], pending["dbname"]))
    log("testSecret", arn, "user %s logs in to %s" % (pending["username"], pending["dbname"]))


def finish_secret(client, arn, token):
    meta = client.describe_secret(SecretId=arn)
    current = next((v for v, stages in meta["VersionIdsToStages"].items() if "AWSCURRENT" in stages), None)
    if current == token:
        return
    client.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId=token,
                                       RemoveFromVersionId=current)
    log("finishSecret", arn, "AWSCURRENT moved to %s" % token)


STEPS = {"createSecret": create_secret, "setSecret": set_secret, "testSecret": test_secret,
         "finishSecret": finish_secret}


# ------------------------------------------------------------------------------------------------ helpers


def get_value(client, arn, stage, token=None):
    kwargs = {"SecretId": arn, "VersionStage": stage}
    if token:
        kwargs["VersionId"] = token
    value = json.loads(client.get_secret_value(**kwargs)["SecretString"])
    if not isinstance(value, dict):
        raise RotationError("secret %s is not a JSON object" % arn)
    return value


def check_secret(value, arn):
    missing = [k for k in ("host", "port", "dbname", "username", "password") if not value.get(k)]
    if missing:
        raise RotationError("secret %s lacks %s" % (arn, ", ".join(missing)))
    if not IDENT_RE.match(base_user(value["username"])) or not IDENT_RE.match(value["username"]):
        raise RotationError("secret %s: user name %r is not a plain identifier" % (arn, value["username"]))


def base_user(user):
    return user[: -len(SUFFIX)] if user.endswith(SUFFIX) else user


def other_user(user):
    return base_user(user) if user.endswith(SUFFIX) else user + SUFFIX


def quote(ident):
    if not IDENT_RE.match(ident):
        raise RotationError("%r is not a plain identifier" % ident)
    return '"%s"' % ident


def connect(value):
    import psycopg

    kwargs = {"host": value["host"], "port": int(value["port"]), "dbname": value["dbname"],
              "user": value["username"], "password": value["password"],
              "sslmode": value.get("sslmode") or "verify-full",
              "connect_timeout": int(os.environ.get("CONNECT_TIMEOUT", "10")),
              "application_name": "secret-rotation"}
    if value.get("sslrootcert"):
        kwargs["sslrootcert"] = value["sslrootcert"]
    return psycopg.connect(autocommit=True, **kwargs)


def scram_sha256_verifier(password, iterations=4096):
    """PostgreSQL's SCRAM-SHA-256 verifier (RFC 7677), so ALTER ROLE never carries the plaintext."""
    salt = _random.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    parts = [base64.b64encode(part).decode() for part in (salt, stored_key, server_key)]
    return "SCRAM-SHA-256$%d:%s$%s:%s" % (iterations, parts[0], parts[1], parts[2])
