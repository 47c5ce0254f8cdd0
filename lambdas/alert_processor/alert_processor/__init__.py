"""Alert processor Lambda of manufacturing.platform: telemetry in (MSK, API Gateway), readings, alerts, notifications.

The entry point is ``alert_processor.handler.handler``. Modules import only the standard library at import time;
boto3 and psycopg are imported on first use, so ``GET /health`` and cold starts stay cheap.
"""

__version__ = "1.0.0"
