"""Log lines an operator can search: one JSON object per line (or readable text), each with
the service, the trace and span ids, the tenant and the payment, and nothing secret.

``configure_logging`` puts one handler of ours on the root logger, writing to stderr;
every library's records reach it (uvicorn's too: its own handlers are removed), pass
through ``ContextFilter`` (the ids) and ``RedactionFilter`` (card data and secrets), and
are written by ``JsonLineFormatter`` or ``TextLineFormatter``. Handlers that are not ours
(pytest's) are left alone; calling it again replaces our handler.
"""

import logging
import sys
from datetime import UTC
from datetime import datetime
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from schemas.runtime.log_context import current_ids
from schemas.runtime.log_redaction import RedactionFilter
from schemas.runtime.log_redaction import Redactor
from schemas.runtime.log_redaction import configured_secrets
from schemas.runtime.settings import Settings
from schemas.runtime.tracing import current_span_id
from schemas.runtime.tracing import current_trace_id

# On every line, null when unknown.
CONTEXT_FIELDS = ("service", "trace_id", "span_id", "tenant_id", "payment_id")
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
# uvicorn's copy of the message with terminal colours: noise in a log store.
_DROPPED_EXTRAS = ("color_message", "taskName")


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a line is written (a test runner swaps it),
    like logging's own last-resort handler."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


class ContextFilter(logging.Filter):
    """Sets the ids every line carries, at the moment the line is written."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        record.trace_id = current_trace_id()
        record.span_id = current_span_id()
        record.tenant_id, record.payment_id = current_ids(record)
        return True


def _iso_utc(created: float) -> str:
    moment = datetime.fromtimestamp(created, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonLineFormatter(JsonFormatter):
    """``{"timestamp", "level", "logger", "message", "service", "trace_id", "span_id",
    "tenant_id", "payment_id", ...extras, "exc_info"}``."""

    def __init__(self, redact) -> None:
        super().__init__(reserved_attrs=[*RESERVED_ATTRS, *CONTEXT_FIELDS, *_DROPPED_EXTRAS])
        self._redact = redact

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data["timestamp"] = _iso_utc(record.created)
        log_data["level"] = record.levelname
        log_data["logger"] = record.name
        log_data["message"] = record.message
        for field in CONTEXT_FIELDS:
            log_data[field] = getattr(record, field, None)
        extras: dict[str, Any] = {}
        super().add_fields(extras, record, message_dict)
        for key, value in extras.items():
            log_data.setdefault(key, value)

    def formatException(self, ei) -> str:
        return self._redact(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return self._redact(super().formatStack(stack_info))


class TextLineFormatter(logging.Formatter):
    """``2025-01-01T12:00:00.000Z INFO paysaga.api tenant=… payment=… trace=…: message``"""

    def __init__(self, redact) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(ids)s: %(message)s")
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        known = (
            ("tenant", getattr(record, "tenant_id", None)),
            ("payment", getattr(record, "payment_id", None)),
            ("trace", getattr(record, "trace_id", None)),
        )
        record.ids = "".join(f" {name}={value}" for name, value in known if value)
        return super().format(record)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _iso_utc(record.created)

    def formatException(self, ei) -> str:
        return self._redact(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return self._redact(super().formatStack(stack_info))


def configure_logging(settings: Settings, service: str) -> None:
    """Our one root handler for this process (``service``: "api", "worker")."""
    redact = Redactor(configured_secrets(settings))
    handler = _StderrHandler()
    handler._paysaga = True  # type: ignore[attr-defined]  # how a later call finds it
    handler.addFilter(ContextFilter(service))
    handler.addFilter(RedactionFilter(redact, skip=CONTEXT_FIELDS))
    formatter = JsonLineFormatter if settings.log_format == "json" else TextLineFormatter
    handler.setFormatter(formatter(redact))

    root = logging.getLogger()
    for previous in [h for h in root.handlers if getattr(h, "_paysaga", False)]:
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    # uvicorn installs its own handlers before it calls the app factory: its lines (startup,
    # errors, one per request) go through ours instead, as JSON and redacted.
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        for own in list(logger.handlers):
            logger.removeHandler(own)
        logger.propagate = True
