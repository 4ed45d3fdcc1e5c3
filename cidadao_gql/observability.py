"""Logs and traces.

Logs are JSON lines (python-json-logger) on stderr, uvicorn's included, each with the
request id of the request that wrote it (`request_id`, from a context variable the endpoint
sets); the same id is the `x-request-id` header and `extensions.requestId` of every GraphQL
error. `LOG_FORMAT=text` gives plain lines for a terminal.

Tracing is on when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (the standard OpenTelemetry
variable; the other `OTEL_*` variables apply too): a span per GraphQL operation with its
resolvers (Strawberry's extension) and one per SQL statement (the asyncpg instrumentation),
sent over OTLP/HTTP in batches.
"""

from __future__ import annotations

import itertools
import logging
import logging.config
import os
import re
from contextvars import ContextVar
from typing import Any

from starlette.requests import HTTPConnection

from cidadao_gql.settings import Settings

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


def given_or_new(given: str | None) -> str:
    """The caller's X-Request-ID when it is sane (1 to 64 of `A-Za-z0-9._-`), else a new id."""
    return given if given is not None and _SANE_ID.match(given) else new_id()


# A new id is a random prefix drawn once per process and a counter: unique, and 32 hex
# digits as before, without a call to os.urandom per request (8 % of a worker's time on the
# response cache's hit path, py-spy under benchmarks/hit_path.py). The prefix is drawn
# again in a forked child, which must not repeat its parent's ids.
_ids: tuple[str, itertools.count[int]] = ("", itertools.count())


def _new_prefix() -> None:
    global _ids
    _ids = (os.urandom(8).hex(), itertools.count())


_new_prefix()
os.register_at_fork(after_in_child=_new_prefix)


def new_id() -> str:
    prefix, counter = _ids
    return f"{prefix}{next(counter):016x}"


def request_id(connection: HTTPConnection) -> str:
    """The request's id, the same wherever it is asked for (middleware, endpoint, error
    handler): the caller's X-Request-ID when it is sane, else a new one. The logs carry it."""
    state = connection.scope.setdefault("state", {})
    assigned: str | None = state.get("request_id")
    if assigned is None:
        assigned = state["request_id"] = given_or_new(connection.headers.get("x-request-id"))
    REQUEST_ID.set(assigned)
    return assigned


def logging_config(settings: Settings) -> dict[str, Any]:
    """A dictConfig for the root logger and uvicorn's, as JSON or as text."""
    formatter: dict[str, Any] = (
        {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": FIELDS + " %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
        if settings.log_format == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}
    )
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "default",
        "filters": ["request_id"],
        "stream": "ext://sys.stderr",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"default": formatter},
        "handlers": {"default": handler},
        "root": {"handlers": ["default"], "level": settings.log_level},
        "loggers": {
            name: {"handlers": [], "propagate": True, "level": settings.log_level}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }


def configure_logging(settings: Settings) -> None:
    logging.config.dictConfig(logging_config(settings))


_tracing = False


def configure_tracing(settings: Settings) -> bool:
    """Start exporting traces when an OTLP endpoint is configured; once per process."""
    global _tracing
    if _tracing or not settings.otel_endpoint:
        return _tracing
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "cidadao-gql"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    AsyncPGInstrumentor().instrument()  # type: ignore[no-untyped-call]  # unannotated upstream
    _tracing = True
    return True
