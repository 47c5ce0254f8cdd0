#!/usr/bin/env python3
"""moto server (the same WSGI app as ``moto_server``) with a JSON-lines request log.

Usage::

    python localcloud/moto_server.py --host 127.0.0.1 --port 15566 --request-log /path/requests.jsonl

Every request handled by the emulator appends one line to the request log::

    {"ts": "...Z", "method": "POST", "path": "/", "service": "ec2", "action": "DescribeVpcs",
     "status": 200, "mutating": false, "duration_ms": 3.1}

The line is written before the response body is sent, so once a client call has returned its
entry is already in the file (tests rely on this).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gzip
import io
import json
import os
import re
import signal
import sys
import threading
import time
import zlib
from typing import Any
from urllib.parse import parse_qs

# Verbs that start the name of an AWS API operation which changes state.
# fmt: off
WRITE_VERBS = (
    "Abort", "Accept", "Activate", "Add", "Allocate", "Apply", "Archive", "Assign", "Associate", "Attach",
    "Authorize", "Cancel", "Change", "Complete", "Confirm", "Continue", "Copy", "Create", "Deactivate", "Decrease",
    "Delete", "Deprecate", "Deprovision", "Deregister", "Detach", "Disable", "Disassociate", "Enable", "Enter",
    "Execute", "Exit", "Export", "Failover", "Flush", "Import", "Increase", "Initiate", "Install", "Invoke", "Link",
    "Lock", "Merge", "Migrate", "Modify", "Move", "Promote", "Provision", "Publish", "Purchase", "Purge", "Put",
    "Reboot", "Rebuild", "Recover", "Register", "Reject", "Release", "Reload", "Remove", "Renew", "Replace",
    "Request", "Resend", "Reset", "Resize", "Restore", "Resume", "Retry", "Revoke", "Rollback", "Rotate", "Run",
    "Schedule", "Send", "Set", "Signal", "Split", "Start", "Stop", "Subscribe", "Suspend", "Switchover", "Tag",
    "Terminate", "Transfer", "Unarchive", "Unassign", "Uninstall", "Unlink", "Unlock", "Unsubscribe", "Untag",
    "Update", "Upgrade", "Upload", "Write",
)
# fmt: on
_WRITE_RE = re.compile(r"^(?:Batch|Transact)?(?:" + "|".join(WRITE_VERBS) + r")(?=[A-Z0-9_]|$)")

# REST (no "Action") requests that use a write method but only read. Matched against (service, method, path+query).
READ_ONLY_REST = (
    ("s3", "POST", re.compile(r"[?&]select(?:&|=|$)")),  # SelectObjectContent
    ("es", "POST", re.compile(r"^/20\d\d-\d\d-\d\d/(?:opensearch|es)/domain-info")),  # DescribeDomains
    ("kafka", "POST", re.compile(r"^/v1/clusters/[^/]+/client-quotas/describe")),
)
WRITE_METHODS = {"POST", "PUT", "DELETE", "PATCH"}

_HOST_SERVICE_RE = re.compile(r"^(?:[^.]+\.)*?([a-z0-9-]+)\.(?:[a-z]{2}(?:-[a-z]+)+-\d\.)?amazonaws\.com")
_RPC_V2_PATH_RE = re.compile(r"^/service/[^/]+/operation/([A-Za-z0-9]+)$")


def is_mutating_action(action: str | None) -> bool:
    return bool(action) and bool(_WRITE_RE.match(action))


def _credential_scope_service(environ: dict[str, Any]) -> str | None:
    auth = environ.get("HTTP_AUTHORIZATION") or ""
    scope = None
    m = re.search(r"Credential=([^,\s]+)", auth)
    if m:
        scope = m.group(1)
    else:
        cred = parse_qs(environ.get("QUERY_STRING", "")).get("X-Amz-Credential")
        if cred:
            scope = cred[0]
    if scope:
        parts = scope.split("/")
        if len(parts) >= 5:
            return parts[-2].lower()
    return None


def _service_from_host_or_path(environ: dict[str, Any], path: str) -> str | None:
    host = (environ.get("HTTP_HOST") or "").split(":")[0].lower()
    m = _HOST_SERVICE_RE.match(host)
    if m:
        return m.group(1)
    # moto calling itself: http://localhost/<service>_<region>/...
    m = re.match(r"^/([a-z0-9-]+)_([a-z]{2}(?:-[a-z]+)+-\d)/", path)
    if m:
        return m.group(1)
    return None


def _read_body(environ: dict[str, Any]) -> bytes:
    """Read the request body and put an equivalent stream back into the environ."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length <= 0:
        return b""
    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _decode(body: bytes, encoding: str) -> bytes:
    encoding = encoding.lower()
    try:
        if "gzip" in encoding:
            return gzip.decompress(body)
        if "deflate" in encoding:
            return zlib.decompress(body)
    except (OSError, zlib.error, EOFError):
        return b""
    return body


def describe_request(environ: dict[str, Any]) -> dict[str, Any]:
    """Classify one request: service, action (or None) and whether it mutates state."""
    method = environ.get("REQUEST_METHOD", "GET").upper()
    path = environ.get("PATH_INFO", "") or "/"
    query = environ.get("QUERY_STRING", "")

    if path.startswith("/moto-api") or path == "/favicon.ico":
        return {"service": "moto-api", "action": None, "mutating": False}
    if path.startswith(("/latest/meta-data/", "/latest/api/")):  # as moto routes IMDS (token request is a PUT)
        return {"service": "imds", "action": None, "mutating": False}

    service = _credential_scope_service(environ) or _service_from_host_or_path(environ, path)
    action = None
    qs = parse_qs(query)
    if "Action" in qs:
        action = qs["Action"][0]
    target = environ.get("HTTP_X_AMZ_TARGET")
    if action is None and target:
        action = target.rsplit(".", 1)[-1] or None
    if action is None and method == "POST":
        m = _RPC_V2_PATH_RE.match(path)  # smithy-rpc-v2-cbor (e.g. CloudWatch)
        if m:
            action = m.group(1)
    if action is None and (environ.get("CONTENT_TYPE") or "").startswith("application/x-www-form-urlencoded"):
        body = _decode(_read_body(environ), environ.get("HTTP_CONTENT_ENCODING") or "")
        if body:
            try:
                form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
            except UnicodeDecodeError:
                form = {}
            if "Action" in form:
                action = form["Action"][0]
    if service is None and target:
        service = target.split(".", 1)[0].split("_", 1)[0].lower() or None

    if action is not None:
        mutating = is_mutating_action(action)
    else:
        mutating = method in WRITE_METHODS
        if mutating:
            full = path + ("?" + query if query else "")
            for svc, meth, pattern in READ_ONLY_REST:
                if service == svc and method == meth and (pattern.search(full) or pattern.search(path)):
                    mutating = False
                    break
    return {"service": service, "action": action, "mutating": mutating}


class RequestLogMiddleware:
    """WSGI middleware appending one JSON line per request to ``path``."""

    def __init__(self, app: Any, path: str) -> None:
        self.app = app
        self.path = path
        self._lock = threading.Lock()
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the server's lifetime

    def _write(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, separators=(",", ":")) + "\n"
        with self._lock:
            self._fh.write(line)
            self._fh.flush()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        started = time.perf_counter()
        try:
            info = describe_request(environ)
        except Exception as exc:  # never break the emulator because of logging
            info = {"service": None, "action": None, "mutating": None, "log_error": repr(exc)}
        entry: dict[str, Any] = {
            "ts": _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            **info,
            "status": None,
        }
        logged = False

        def _start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            try:
                entry["status"] = int(status.split(" ", 1)[0])
            except ValueError:
                entry["status"] = status
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        try:
            result = self.app(environ, _start_response)
        except BaseException:
            entry["status"] = entry["status"] or 500
            entry["duration_ms"] = round((time.perf_counter() - started) * 1000, 2)
            self._write(entry)
            logged = True
            raise
        finally:
            if not logged:
                entry["duration_ms"] = round((time.perf_counter() - started) * 1000, 2)
                self._write(entry)
        return result


def patch_moto() -> None:
    """Fix emulator bugs where moto answers 500 to a request that AWS accepts (listed in docs/emulator-gaps.md).

    * KMS ``ScheduleKeyDeletion`` / ``CancelKeyDeletion`` with a key ARN as ``KeyId`` (AWS accepts a key id or a
      key ARN; moto 5.2.5 looks the ARN up as an id: ``KeyError``, 500). ``amazon.aws.kms_key`` sends the ARN.
    * Secrets Manager ``GetSecretValue`` of a secret scheduled for deletion: the ``InvalidRequestException`` carries
      AWS's message ("... because it was marked for deletion.") instead of moto's own wording, which clients match
      (the ``amazon.aws.secretsmanager_secret`` lookup's ``on_deleted``).
    * Secrets Manager ``RotateSecret``: the local cloud runs no Lambda code (moto would need Docker), so moto's
      stand-in for the rotation function's four steps (moving ``AWSCURRENT`` to the new, empty version) would break
      the secret. Here ``RotateSecret`` does what AWS does before it invokes the function: it records the rotation
      settings (keeping the configured function when the request names none, as AWS does) and, with
      ``RotateImmediately``, adds the new version with only the ``AWSPENDING`` label and answers its id; the caller
      (a test, playing the Lambda service) runs the function's steps. Without ``RotateImmediately`` nothing is left
      pending (AWS removes the test step's version).
    * Secrets Manager ``UpdateSecretVersionStage`` moving ``AWSCURRENT`` (a rotation's finishSecret step): moto moves
      the label but keeps answering ``GetSecretValue`` without a stage with the old version; here the version that
      gets ``AWSCURRENT`` becomes the secret's current value, as on AWS.
    * EC2 ``CreateNetworkAclEntry`` / ``ReplaceNetworkAclEntry`` with ``IcmpTypeCode``: moto 5.2.5 reads the ICMP
      type and code under a name its request parser never produces and stores the entry without them, so
      ``DescribeNetworkAcls`` answers an ICMP entry for every type (AWS keeps the type and code it was given).
    * CloudWatch Logs ``AssociateKmsKey`` / ``DisassociateKmsKey``: not implemented by moto 5.2.5; here they set or
      clear the group's key, which ``DescribeLogGroups`` answers as ``kmsKeyId`` (``cloudwatch_log_groups``).
    """
    from moto.ec2.responses.network_acls import NetworkACLs
    from moto.kms.models import KmsBackend
    from moto.secretsmanager.exceptions import InvalidRequestException
    from moto.secretsmanager.models import SecretsManagerBackend

    original_get = SecretsManagerBackend.get_secret_value
    if not getattr(original_get, "_localcloud_patched", False):

        def get_secret_value(self: Any, secret_id: str, *args: Any, **kwargs: Any) -> Any:
            if self._is_valid_identifier(secret_id) and self.secrets[secret_id].is_deleted():
                raise InvalidRequestException(
                    "You can't perform this operation on the secret because it was marked for deletion."
                )
            return original_get(self, secret_id, *args, **kwargs)

        get_secret_value._localcloud_patched = True  # type: ignore[attr-defined]
        SecretsManagerBackend.get_secret_value = get_secret_value  # type: ignore[method-assign]

    _patch_rotate_secret(SecretsManagerBackend)
    _patch_logs_kms()

    for name in ("schedule_key_deletion", "cancel_key_deletion"):
        original = getattr(KmsBackend, name)
        if getattr(original, "_localcloud_patched", False):
            continue

        def by_key_id(self: Any, key_id: str, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            return _original(self, self.get_key_id(key_id), *args, **kwargs)

        by_key_id._localcloud_patched = True  # type: ignore[attr-defined]
        setattr(KmsBackend, name, by_key_id)

    for name in ("create_network_acl_entry", "replace_network_acl_entry"):
        original = getattr(NetworkACLs, name)
        if getattr(original, "_localcloud_patched", False):
            continue

        def with_icmp(self: Any, _original: Any = original) -> Any:
            result = _original(self)
            icmp = self._get_param("IcmpTypeCode") or {}
            if icmp:
                acl = self.ec2_backend.get_network_acl(self._get_param("NetworkAclId"))
                egress = str(self._get_param("Egress")).lower() == "true"
                for entry in acl.network_acl_entries:
                    if entry.egress == egress and int(entry.rule_number) == int(self._get_param("RuleNumber")):
                        entry.icmp_type, entry.icmp_code = icmp.get("Type"), icmp.get("Code")
            return result

        with_icmp._localcloud_patched = True  # type: ignore[attr-defined]
        setattr(NetworkACLs, name, with_icmp)


def _patch_logs_kms() -> None:
    from moto.logs.exceptions import ResourceNotFoundException
    from moto.logs.responses import LogsResponse

    if getattr(getattr(LogsResponse, "associate_kms_key", None), "_localcloud_patched", False):
        return

    def _set_key(response: Any, key: str | None) -> str:
        name = response._get_param("logGroupName")
        group = response.logs_backend.groups.get(name)
        if group is None:
            raise ResourceNotFoundException()
        group.kms_key_id = key
        return ""

    def associate_kms_key(self: Any) -> str:
        return _set_key(self, self._get_param("kmsKeyId"))

    def disassociate_kms_key(self: Any) -> str:
        return _set_key(self, None)

    for method in (associate_kms_key, disassociate_kms_key):
        method._localcloud_patched = True  # type: ignore[attr-defined]
        setattr(LogsResponse, method.__name__, method)


def _patch_rotate_secret(backend_class: Any) -> None:
    original = backend_class.rotate_secret
    if getattr(original, "_localcloud_patched", False):
        return

    def rotate_secret(self: Any, secret_id: str, client_request_token: str | None = None,
                      rotation_lambda_arn: str | None = None, rotation_rules: dict[str, Any] | None = None,
                      rotate_immediately: bool = True) -> Any:
        from moto.awslambda.utils import get_backend

        secret = self.secrets[secret_id] if self._is_valid_identifier(secret_id) else None
        lambda_arn = rotation_lambda_arn or (getattr(secret, "rotation_lambda_arn", "") if secret else "")
        if secret is None or not lambda_arn:
            return original(self, secret_id, client_request_token, rotation_lambda_arn, rotation_rules,
                            rotate_immediately)
        if rotation_rules is None and getattr(secret, "auto_rotate_after_days", 0):
            rotation_rules = {"AutomaticallyAfterDays": secret.auto_rotate_after_days}
        before = set(secret.versions)
        functions = get_backend(self.account_id, self.region_name)
        functions.invoke = lambda *args, **kwargs: None  # no Lambda code runs here (see patch_moto)
        secret.set_default_version_id = lambda version_id: None  # the finishSecret step moves AWSCURRENT
        try:
            result = original(self, secret_id, client_request_token, lambda_arn, rotation_rules, rotate_immediately)
        finally:
            del functions.invoke
            del secret.set_default_version_id
        new = [version for version in secret.versions if version not in before]
        if not rotate_immediately:
            for version in new:
                del secret.versions[version]
            return result
        answer = json.loads(result)
        if new:
            answer["VersionId"] = new[0]
        return json.dumps(answer)

    rotate_secret._localcloud_patched = True  # type: ignore[attr-defined]
    backend_class.rotate_secret = rotate_secret

    original_stage = backend_class.update_secret_version_stage

    def update_secret_version_stage(self: Any, secret_id: str, version_stage: str, remove_from_version_id: str,
                                    move_to_version_id: str) -> Any:
        result = original_stage(self, secret_id, version_stage, remove_from_version_id, move_to_version_id)
        if version_stage == "AWSCURRENT" and move_to_version_id:
            secret = self.secrets[secret_id]
            version = secret.versions[move_to_version_id]
            secret.default_version_id = move_to_version_id
            secret.secret_string = version.get("secret_string")
            secret.secret_binary = version.get("secret_binary")
        return result

    backend_class.update_secret_version_stage = update_secret_version_stage


def build_app(request_log: str | None) -> Any:
    # Same construction as moto.server.main().
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    patch_moto()
    main_app = DomainDispatcherApplication(create_backend_app)
    main_app.debug = True  # type: ignore[attr-defined]
    return RequestLogMiddleware(main_app, request_log) if request_log else main_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=int(os.environ.get("MOTO_PORT", "15566")))
    parser.add_argument("--request-log", default=None, help="JSON-lines file to append one entry per request to")
    args = parser.parse_args(argv)

    os.environ.setdefault("MOTO_PORT", str(args.port))
    os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")

    def _exit(signum: int, frame: Any) -> None:
        sys.exit(0)

    signal.signal(signal.SIGTERM, _exit)
    signal.signal(signal.SIGINT, _exit)

    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import run_simple

    app = build_app(args.request_log)
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
