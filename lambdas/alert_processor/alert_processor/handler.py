"""Lambda entry point: ``alert_processor.handler.handler``.

One :class:`~alert_processor.processor.Processor` per execution environment, created on the first invocation
from the environment (``TENANT_ID``, ``DB_SECRET_ARN``, ``TSDB_SECRET_ARN``, ``ALERT_TOPIC_ARN``, ...) and reused:
its secrets, connections and caches live as long as the environment.
"""

from __future__ import annotations

from .config import Config
from .processor import Processor

_processor: Processor | None = None


def get_processor() -> Processor:
    global _processor
    if _processor is None:
        _processor = Processor(Config.from_env())
    return _processor


def handler(event, context):
    return get_processor().handle(event, context)


def close_connections():
    """Close the database connections (they reopen on the next invocation). Tests use it: the local
    TimescaleDB serves one session at a time."""
    if _processor is not None:
        _processor.close()


def reset():
    """Forget the execution environment's state (connections, secrets, caches, configuration)."""
    global _processor
    close_connections()
    _processor = None
