"""Structured JSON logs and CloudWatch Embedded Metric Format (EMF), hand-rolled (no runtime dependency).

Every line on stdout is one JSON object; Lambda ships stdout to CloudWatch Logs, which extracts the metrics of
lines carrying an ``_aws`` block. Callers log reason codes, counts and coordinates — never telemetry values,
request bodies or credentials.
"""

from __future__ import annotations

import json
import os
import sys
import time

NAMESPACE = "ManufacturingPlatform/AlertProcessor"
METRIC_UNITS = {
    "ProcessingLatency": "Milliseconds",
    "Records": "Count",
    "Alerts": "Count",
    "BadRecords": "Count",
}
LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}


class Logger:
    def __init__(self, tenant_id: str | None = None, stream=None, level: str | None = None):
        self.tenant_id = tenant_id
        self.stream = stream
        self.request_id = None
        self.level = LEVELS.get((level or os.environ.get("LOG_LEVEL") or "INFO").upper(), 20)

    def _write(self, obj):
        stream = self.stream or sys.stdout
        stream.write(json.dumps(obj, separators=(",", ":"), default=str) + "\n")
        stream.flush()

    def log(self, level: str, message: str, **fields):
        if LEVELS[level] < self.level:
            return
        entry = {"timestamp": _iso_now(), "level": level, "message": message, "service": "alert-processor",
                 "tenant": self.tenant_id, "request_id": self.request_id}
        entry.update(fields)
        self._write(entry)

    def debug(self, message, **fields):
        self.log("DEBUG", message, **fields)

    def info(self, message, **fields):
        self.log("INFO", message, **fields)

    def warning(self, message, **fields):
        self.log("WARNING", message, **fields)

    def error(self, message, **fields):
        self.log("ERROR", message, **fields)

    def metrics(self, values: dict, **properties):
        """One EMF line: ``values`` by metric name (units from METRIC_UNITS), dimension Tenant."""
        self._write(emf(self.tenant_id, values, request_id=self.request_id, **properties))


def emf(tenant_id: str, values: dict, timestamp_ms: int | None = None, **properties) -> dict:
    doc = {
        "_aws": {
            "Timestamp": int(time.time() * 1000) if timestamp_ms is None else timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Tenant"]],
                "Metrics": [{"Name": name, "Unit": METRIC_UNITS.get(name, "None")} for name in values],
            }],
        },
        "Tenant": tenant_id,
    }
    doc.update({k: v for k, v in properties.items() if v is not None})
    doc.update(values)
    return doc


def _iso_now():
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + ".%03dZ" % int(now % 1 * 1000)
