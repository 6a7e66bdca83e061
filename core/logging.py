"""structlog wiring: JSON lines in production, readable lines in development.

Both structlog loggers and plain ``logging`` records go through the same processor chain, so
request id, organization and user (bound in ``contextvars`` by the request middleware, and by
``core.logging_context`` around every Celery job) appear on every line, including Django's,
uvicorn's and Celery's own.

Every process applies the same configuration:

- web (uvicorn): its own lines before the application is loaded come from ``--log-config
  config/uvicorn_logging.json`` (``UVICORN_LOG_CONFIG`` in the image), which uses
  ``structlog_formatter`` below; once Django is set up, ``LOGGING`` owns the uvicorn loggers;
- Celery worker and beat: ``configure_celery_logging`` answers Celery's ``setup_logging``
  signal with Django's ``LOGGING`` instead of letting Celery install its own handler (banners
  are turned off by ``CELERY_QUIET=1``, they are not log lines).

In JSON, every line carries the same keys (``LOG_KEYS``, ``null`` when they do not apply) and
a line may add its own (a request's ``method``, ``path``, ``status``).
"""

import contextlib
import logging
import os
import sys

import structlog

LOG_KEYS = (
    "timestamp",
    "level",
    "logger",
    "event",
    "request_id",
    "organization",
    "user",
    "latency_ms",
    "task_id",
    "task_name",
)


def _celery_job_fields(logger, method_name, event_dict):
    """Celery's own lines about a job (received, succeeded, failed) name it in ``record.data``."""
    data = getattr(event_dict.get("_record"), "data", None)
    if isinstance(data, dict):
        if data.get("id"):
            event_dict.setdefault("task_id", str(data["id"]))
        if data.get("name"):
            event_dict.setdefault("task_name", str(data["name"]))
    return event_dict


def _fixed_keys(logger, method_name, event_dict):
    # One schema for the log pipeline: a key that does not apply is null, never missing; the
    # common keys come first, in one order, then the line's own.
    ordered = {key: event_dict.pop(key, None) for key in LOG_KEYS}
    ordered.update(event_dict)
    return ordered


_SHARED_PROCESSORS = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    _celery_job_fields,
]


def _formatter_options(fmt: str) -> dict:
    if fmt == "json":
        tail = [_fixed_keys, structlog.processors.JSONRenderer()]
    else:
        tail = [structlog.dev.ConsoleRenderer(colors=False)]
    return {
        "processors": [
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            *tail,
        ],
        "foreign_pre_chain": _SHARED_PROCESSORS,
    }


def structlog_formatter(fmt: str | None = None) -> structlog.stdlib.ProcessorFormatter:
    """The formatter of ``build_logging``, for log configurations given as files.

    A factory (``"()"`` in a dictConfig) for uvicorn's ``--log-config``; without ``fmt`` it
    follows ``LOG_FORMAT``, default JSON (those files are for servers).
    """
    return structlog.stdlib.ProcessorFormatter(
        **_formatter_options(fmt or os.environ.get("LOG_FORMAT", "json"))
    )


def _log_uncaught_exception(exc_type, exc, tb) -> None:
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    logging.getLogger("commandcenter.crash").critical(
        "uncaught exception", exc_info=(exc_type, exc, tb)
    )


def build_logging(*, fmt: str, level: str) -> dict:
    structlog.configure(
        processors=[
            *_SHARED_PROCESSORS,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    # uvicorn's loggers get handlers of their own (and propagate=False) from its default log
    # config: listing them here removes those, so their lines go through the root handler.
    uvicorn = {"level": level, "propagate": True}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structlog": {"()": structlog.stdlib.ProcessorFormatter, **_formatter_options(fmt)}
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structlog"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.request": {"level": "ERROR"},
            "django.server": {"level": "WARNING"},
            "django.channels.server": {"level": "WARNING"},
            "daphne": {"level": "WARNING"},
            "uvicorn": uvicorn,
            "uvicorn.error": uvicorn,
            "uvicorn.access": {"level": "WARNING", "propagate": True},
            "celery": {"level": "INFO"},
        },
    }


def configure_logging(config: dict) -> None:
    """``LOGGING_CONFIG``: Django's ``LOGGING`` plus what a dictConfig cannot say.

    In JSON mode, ``warnings.warn()`` output (a library's UserWarning) and the traceback of an
    exception that ends the process would otherwise be bare text lines on stderr.
    """
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(config)
    if getattr(settings, "LOG_FORMAT", "console") == "json":
        logging.captureWarnings(True)
        sys.excepthook = _log_uncaught_exception


def _json_say(msg, f=None) -> None:
    """Celery's worker writes its shutdown notices ("worker: Warm shutdown") straight to the
    terminal from a signal handler: written as a JSON line instead, with one ``os.write`` like
    the original (no logging lock taken inside a signal handler)."""
    import datetime
    import json

    record = dict.fromkeys(LOG_KEYS)
    record.update(
        timestamp=datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z"),
        level="warning",
        logger="celery.apps.worker",
        event=str(msg).strip(),
    )
    stream = f or sys.__stderr__
    with contextlib.suppress(OSError, ValueError, AttributeError):
        os.write(stream.fileno(), (json.dumps(record) + "\n").encode())


def _apply_django_logging(**_kwargs) -> None:
    from django.conf import settings

    configure_logging(settings.LOGGING)
    if settings.LOG_FORMAT == "json":
        from celery.apps import worker

        worker.safe_say = _json_say


def configure_celery_logging() -> None:
    """Worker and beat log through Django's ``LOGGING`` (one format, one set of keys).

    A receiver of ``setup_logging`` tells Celery not to configure logging itself (no root
    handler of its own, no stdout redirection); ``--loglevel`` is then ignored in favour of
    ``LOG_LEVEL``. The job context (request id, organization, task) comes from
    ``core.logging_context``.
    """
    from celery.signals import setup_logging

    from .logging_context import connect_celery_log_context

    setup_logging.connect(_apply_django_logging, weak=False, dispatch_uid="core.logging.celery")
    connect_celery_log_context()
