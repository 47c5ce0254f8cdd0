#!/usr/bin/env python3
"""Fault injection in front of the AWS emulator: service-correct throttling errors and 503s at a set rate.

    python localcloud/faults.py --port 15567 --upstream http://127.0.0.1:15566 [--throttle 0.2] [--unavailable 0.05]
                                [--seed 1] [--log faults.jsonl]

Started by ``localcloud/ctl.py up --services faults`` (see localcloud/README.md). Every request is either
forwarded to the emulator unchanged (its answer streamed back) or answered here with the error a real AWS service
of the request's protocol returns, so botocore parses the same code it would get from AWS:

=============  ==============================================  ==========================================
protocol       throttling                                      unavailable (5xx)
=============  ==============================================  ==========================================
ec2            503 ``RequestLimitExceeded`` (EC2 XML)          503 ``Unavailable``
query          400 ``Throttling`` (``ErrorResponse`` XML)      503 ``ServiceUnavailable``
json / cbor    400 ``ThrottlingException`` (``__type``)         503 ``ServiceUnavailableException``
rest-json      429 ``TooManyRequestsException``                503 ``ServiceUnavailableException``
rest-xml (S3)  503 ``SlowDown``                                503 ``ServiceUnavailable``
=============  ==============================================  ==========================================

The protocol is read off the request itself (``X-Amz-Target`` / ``Smithy-Protocol`` headers, a form body with
``Action=``, the service of the SigV4 credential scope), which is exactly what the client chose. Injected requests
are not forwarded (a throttled request did nothing). Faults are drawn from one seeded generator in request order:
the same seed and the same request sequence give the same faults.

Control (never faulted): ``GET /_faults`` returns the settings and counters; ``POST /_faults`` with a JSON body
``{"throttle": 0.2, "unavailable": 0.05, "seed": 1, "services": ["ec2"], "actions": ["DescribeVpcs"],
"first_of_each": true, "reset": true}`` changes any of them (``reset`` clears the counters and the calls seen; a new
``seed`` restarts the generator). ``first_of_each`` throttles the first targeted request of every (service, action)
whatever the draw: every operation a run makes then meets at least one fault, however few requests it sends (a
rate alone can miss a service that makes three calls).
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import sys
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONTROL_PATH = "/_faults"
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
              "expect", "content-length"}
SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/([^/]+)/aws4_request")
REST_XML_SERVICES = {"s3", "s3-control", "cloudfront", "route53"}
THROTTLE = "throttle"
UNAVAILABLE = "unavailable"

# (status, code, message) per protocol and fault kind
ERRORS = {
    ("ec2", THROTTLE): (503, "RequestLimitExceeded", "Request limit exceeded."),
    ("ec2", UNAVAILABLE): (503, "Unavailable", "The server is overloaded and can't handle the request."),
    ("query", THROTTLE): (400, "Throttling", "Rate exceeded"),
    ("query", UNAVAILABLE): (503, "ServiceUnavailable", "Service is unavailable. Please try again later."),
    ("json", THROTTLE): (400, "ThrottlingException", "Rate exceeded"),
    ("json", UNAVAILABLE): (503, "ServiceUnavailableException", "Service is unavailable. Please try again later."),
    ("rest-json", THROTTLE): (429, "TooManyRequestsException", "Rate exceeded"),
    ("rest-json", UNAVAILABLE): (503, "ServiceUnavailableException", "Service is unavailable. Please try again later."),
    ("rest-xml", THROTTLE): (503, "SlowDown", "Please reduce your request rate."),
    ("rest-xml", UNAVAILABLE): (503, "ServiceUnavailable", "Service is unavailable. Please try again later."),
}
# awsQueryCompatible services (moved from the query protocol to JSON/CBOR): their JSON/CBOR errors also carry the
# query-protocol code in x-amzn-query-error, which botocore reports as the code (as it would from AWS).
QUERY_COMPATIBLE_SERVICES = {"sqs", "monitoring"}
QUERY_COMPATIBLE = {"ThrottlingException": "Throttling", "ServiceUnavailableException": "ServiceUnavailable"}


def _cbor_text(value: str) -> bytes:
    data = value.encode()
    n = len(data)
    if n < 24:
        head = bytes([0x60 | n])
    elif n < 256:
        head = bytes([0x78, n])
    else:
        head = bytes([0x79]) + n.to_bytes(2, "big")
    return head + data


def _cbor_map(items: dict[str, str]) -> bytes:
    """A CBOR map of text strings (all an rpcv2Cbor error body needs)."""
    out = bytes([0xA0 | len(items)])
    for key, value in items.items():
        out += _cbor_text(key) + _cbor_text(value)
    return out


class Faults:
    """Settings, the seeded generator and the counters; shared by the handler threads."""

    def __init__(self, throttle=0.0, unavailable=0.0, seed=0, services=None, actions=None, log_path=None):
        self.lock = threading.Lock()
        self.log_path = log_path
        self.throttle = self.unavailable = 0.0
        self.services: set[str] = set()
        self.actions: set[str] = set()
        self.first_of_each = False
        self.configure({"throttle": throttle, "unavailable": unavailable, "seed": seed, "services": services or [],
                        "actions": actions or [], "reset": True})

    def configure(self, settings: dict) -> None:
        with self.lock:
            for key in ("throttle", "unavailable"):
                if key in settings:
                    rate = float(settings[key])
                    if not 0.0 <= rate <= 1.0:
                        raise ValueError(f"{key} must be a rate between 0 and 1, not {rate!r}")
                    setattr(self, key, rate)
            if self.throttle + self.unavailable > 1.0:
                raise ValueError("throttle + unavailable must not exceed 1")
            if "seed" in settings:
                self.seed = int(settings["seed"])
                self.rng = random.Random(self.seed)  # noqa: S311 (reproducible faults, not crypto)
            if "services" in settings:
                self.services = set(settings["services"] or [])
            if "actions" in settings:
                self.actions = set(settings["actions"] or [])
            if "first_of_each" in settings:
                self.first_of_each = bool(settings["first_of_each"])
            if settings.get("reset"):
                self.seen: set[tuple[str, str]] = set()
                self.requests = 0
                self.forwarded = 0
                self.injected: Counter = Counter()
                self.by_call: Counter = Counter()
                self.started = time.time()

    def draw(self, service: str, action: str) -> str | None:
        """The fault for this request (THROTTLE, UNAVAILABLE) or None; counts the request either way."""
        with self.lock:
            self.requests += 1
            targeted = (not self.services or service in self.services) and (not self.actions or action in self.actions)
            roll = self.rng.random() if targeted else 1.0
            kind = None
            if targeted and self.first_of_each and (service, action) not in self.seen:
                self.seen.add((service, action))
                kind = THROTTLE
            elif roll < self.throttle:
                kind = THROTTLE
            elif roll < self.throttle + self.unavailable:
                kind = UNAVAILABLE
            if kind is None:
                self.forwarded += 1
            return kind

    def record(self, kind: str, code: str, service: str, action: str) -> None:
        with self.lock:
            self.injected[code] += 1
            self.by_call[f"{service}:{action}:{code}"] += 1
            if self.log_path:
                with open(self.log_path, "a", encoding="utf-8") as log:
                    log.write(json.dumps({"time": time.time(), "fault": kind, "code": code, "service": service,
                                          "action": action}) + "\n")

    def snapshot(self) -> dict:
        with self.lock:
            return {
                "throttle": self.throttle, "unavailable": self.unavailable, "seed": self.seed,
                "services": sorted(self.services), "actions": sorted(self.actions),
                "first_of_each": self.first_of_each, "requests": self.requests, "forwarded": self.forwarded,
                "injected": sum(self.injected.values()), "injected_by_code": dict(self.injected),
                "injected_by_call": dict(self.by_call), "since": self.started,
            }


def classify(method: str, path: str, headers, body: bytes) -> tuple[str, str, str]:
    """(protocol, service, action) of an AWS request."""
    auth = headers.get("Authorization", "")
    query = urllib.parse.urlsplit(path).query
    match = SCOPE.search(auth) or SCOPE.search("Credential=" + urllib.parse.parse_qs(query).get(
        "X-Amz-Credential", [""])[0])
    service = match.group(1) if match else "unknown"
    target = headers.get("X-Amz-Target", "")
    if headers.get("Smithy-Protocol", "").lower() == "rpc-v2-cbor":
        return "cbor", service, path.rsplit("/", 1)[-1]
    if target:
        return "json", service, target.rsplit(".", 1)[-1]
    content_type = headers.get("Content-Type", "")
    if "x-www-form-urlencoded" in content_type or (method == "GET" and "Action=" in query):
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace")) if body else {}
        action = (form.get("Action") or urllib.parse.parse_qs(query).get("Action") or ["?"])[0]
        return ("ec2" if service == "ec2" else "query"), service, action
    protocol = "rest-xml" if service in REST_XML_SERVICES else "rest-json"
    return protocol, service, f"{method} {urllib.parse.urlsplit(path).path}"


def error_response(protocol: str, kind: str, service: str = "") -> tuple[int, dict, bytes, str]:
    """(status, headers, body, code) of an injected fault in the protocol's own format; code: what the client sees."""
    family = "json" if protocol == "cbor" else protocol
    status, code, message = ERRORS[(family, kind)]
    request_id = str(uuid.uuid4())
    headers = {"x-amzn-RequestId": request_id, "Date": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())}
    if protocol == "ec2":
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code>'
                f"<Message>{message}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>")
        headers["Content-Type"] = "text/xml;charset=UTF-8"
    elif protocol == "query":
        body = (f'<ErrorResponse xmlns="https://aws.amazon.com/"><Error><Type>Sender</Type><Code>{code}</Code>'
                f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>")
        headers["Content-Type"] = "text/xml"
    elif protocol == "rest-xml":
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
                f"<RequestId>{request_id}</RequestId></Error>")
        headers["Content-Type"] = "application/xml"
        headers["x-amz-request-id"] = request_id
    elif protocol == "cbor":
        headers.update({"Content-Type": "application/cbor", "Smithy-Protocol": "rpc-v2-cbor"})
        seen = code
        if service in QUERY_COMPATIBLE_SERVICES:
            seen = QUERY_COMPATIBLE.get(code, code)
            headers["x-amzn-query-error"] = f"{seen};Sender"
        return status, headers, _cbor_map({"__type": code, "message": message}), seen
    else:  # json, rest-json
        headers.update({"Content-Type": "application/x-amz-json-1.1" if protocol == "json" else "application/json",
                        "x-amzn-ErrorType": code})
        body = json.dumps({"__type": code, "message": message})
        if service in QUERY_COMPATIBLE_SERVICES:
            code = QUERY_COMPATIBLE.get(code, code)  # what botocore reports (and what is counted)
            headers["x-amzn-query-error"] = f"{code};Sender"
    return status, headers, body.encode(), code


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "localcloud-faults"
    faults: Faults
    upstream: urllib.parse.SplitResult
    local = threading.local()

    def log_message(self, format, *args):  # noqa: A002 (BaseHTTPRequestHandler's signature)
        pass  # the emulator's request log records what was forwarded; faults go to --log

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, headers: dict, body: bytes, head_only: bool = False) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if not head_only or "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head_only:
            self.wfile.write(body)

    def _control(self, body: bytes) -> None:
        if self.command == "POST":
            try:
                self.faults.configure(json.loads(body or b"{}"))
            except (ValueError, TypeError) as exc:
                self._send(400, {"Content-Type": "application/json"}, json.dumps({"error": str(exc)}).encode())
                return
        self._send(200, {"Content-Type": "application/json"}, json.dumps(self.faults.snapshot()).encode())

    def _forward(self, body: bytes) -> tuple[int, list, bytes]:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["Content-Length"] = str(len(body))
        # The emulator builds URLs it returns (SQS queue URLs, ...) from Host: it must see its own, so a run through
        # the proxy leaves exactly the state of a direct run (on AWS such URLs do not depend on the endpoint either).
        headers["Host"] = self.upstream.netloc
        for attempt in (1, 2):  # a kept-alive upstream connection may have been closed by the emulator
            conn = getattr(self.local, "conn", None)
            if conn is None:
                conn = self.local.conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port,
                                                                    timeout=300)
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                return response.status, response.getheaders(), data
            except (http.client.HTTPException, OSError):
                conn.close()
                self.local.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _handle(self) -> None:
        body = self._body()
        if self.path.startswith(CONTROL_PATH):
            self._control(body)
            return
        protocol, service, action = classify(self.command, self.path, self.headers, body)
        kind = self.faults.draw(service, action)
        if kind is not None:
            status, headers, payload, code = error_response(protocol, kind, service)
            self.faults.record(kind, code, service, action)
            self._send(status, headers, payload, head_only=self.command == "HEAD")
            return
        try:
            status, headers, data = self._forward(body)
        except (http.client.HTTPException, OSError) as exc:
            self._send(502, {"Content-Type": "text/plain"}, f"localcloud faults: upstream error: {exc}".encode())
            return
        out = {k: v for k, v in headers if k.lower() not in HOP_BY_HOP}
        if self.command == "HEAD":
            length = dict((k.lower(), v) for k, v in headers).get("content-length")
            if length is not None:
                out["Content-Length"] = length
        self._send(status, out, data, head_only=self.command == "HEAD")

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _handle


def serve(port: int, upstream: str, faults: Faults, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    handler = type("FaultHandler", (Handler,), {"faults": faults, "upstream": urllib.parse.urlsplit(upstream),
                                                "local": threading.local()})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="the emulator's URL, e.g. http://127.0.0.1:15566")
    parser.add_argument("--throttle", type=float, default=0.0, help="rate of throttling errors (0..1)")
    parser.add_argument("--unavailable", type=float, default=0.0, help="rate of 503 errors (0..1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log", help="JSON-lines file of the injected faults")
    args = parser.parse_args(argv)
    faults = Faults(args.throttle, args.unavailable, args.seed, log_path=args.log)
    server = serve(args.port, args.upstream, faults, args.host)
    print(f"faults: listening on http://{args.host}:{args.port} -> {args.upstream} "
          f"(throttle {args.throttle}, unavailable {args.unavailable}, seed {args.seed})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
