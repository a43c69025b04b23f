"""Structured logs: one JSON object per line, with an allow-list of fields.

Only the fields below ever reach a log line. Exception messages and tracebacks are left
out (they can carry submitted values); the exception's type is kept, and the request id
ties a line to its audit record, where the details are.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

#: Extra fields a log call may attach; anything else passed in `extra` is dropped.
FIELDS = (
    "request_id",
    "method",
    "route",
    "status",
    "latency_ms",
    "model_version",
    "model_alias",
    "error_type",
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            entry["error_type"] = record.exc_info[0].__name__
        return json.dumps(entry, default=str)


#: Loggers that print raw URLs at INFO (uvicorn's access log; httpx and httpcore for each
#: outgoing request, such as a read from an EHR's FHIR server with a patient id in the path).
QUIET = {"uvicorn.access": "CRITICAL", "httpx": "WARNING", "httpcore": "WARNING"}

#: For `uvicorn.run(log_config=...)`: uvicorn's own loggers write JSON too, and the loggers
#: in QUIET keep raw URLs out; the service logs each request by its route template.
LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": JsonFormatter}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        }
    },
    "root": {"handlers": ["stderr"], "level": "INFO"},
    "loggers": {
        "uvicorn": {"handlers": [], "propagate": True},
        "uvicorn.error": {"handlers": [], "propagate": True},
        **{name: {"level": level} for name, level in QUIET.items()},
    },
}


def configure_logging() -> None:
    """Make JSON the format of every log line, once per process (however it was started)."""
    root = logging.getLogger()
    if not any(isinstance(handler.formatter, JsonFormatter) for handler in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
        if root.level > logging.INFO:
            root.setLevel(logging.INFO)
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    for name, level in QUIET.items():
        logging.getLogger(name).setLevel(level)
