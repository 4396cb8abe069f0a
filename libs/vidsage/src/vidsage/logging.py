"""structlog setup: JSON when not on a terminal, contextvars merged first, secrets redacted.

Three layers keep a secret out of a log line, whatever a caller binds or an exception says:

- a field whose name says it holds a secret (``password``, ``secret_key``, ``api_key``,
  ``authorization``...) is replaced by ``***``;
- credentials in a URL (``nats://user:pass@host``, ``https://key@host``) are cut out of every
  string value;
- every secret this process was configured with (:func:`register_secrets`, which
  :func:`setup_logging` does with the settings' ``SecretStr`` values) is replaced wherever it
  appears, in structlog lines and in the standard library's (aiohttp, nats-py), exception texts
  and tracebacks included.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Iterable
from typing import Any

import structlog
from pydantic import BaseModel, SecretStr

_SECRET_KEYS = ("secret", "password", "passwd", "token", "api_key", "access_key", "authorization", "cookie")
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s:@]*(?::[^/\s@]*)?@")
_MIN_SECRET_LEN = 8
"""Shorter values are not registered: replacing them everywhere would garble ordinary text."""
MASK = "***"

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def register_secrets(values: Iterable[str | SecretStr | None]) -> None:
    """Redact these values from every log line of this process from now on."""
    with _secrets_lock:
        for value in values:
            text = value.get_secret_value() if isinstance(value, SecretStr) else value
            if text and len(text) >= _MIN_SECRET_LEN:
                _secrets.add(text)


def secret_values(model: BaseModel) -> list[SecretStr]:
    """Every ``SecretStr`` field of a settings model that is set to something else than its
    built-in default (``vidsage`` is no secret), nested groups included."""
    found: list[SecretStr] = []
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        if isinstance(value, SecretStr):
            if value != info.default:
                found.append(value)
        elif isinstance(value, BaseModel):
            found.extend(secret_values(value))
    return found


def redact_url(url: str) -> str:
    """``nats://user:pass@host:4222`` → ``nats://***@host:4222`` (each of a comma-separated list)."""
    return _URL_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}{MASK}@", url)


def scrub(text: str) -> str:
    """``text`` without URL credentials or any registered secret."""
    text = redact_url(text)
    for secret in sorted(_secrets, key=len, reverse=True):  # a longer secret may contain a shorter one
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def _scrub_value(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: _scrub_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_scrub_value(v) for v in value)
    if isinstance(value, BaseException):
        return scrub(f"{type(value).__name__}: {value}")
    return value


def _redact(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """Never let a secret reach a log line, whatever a caller binds."""
    for key in list(event):
        if any(marker in key.lower() for marker in _SECRET_KEYS):
            event[key] = MASK
        else:
            event[key] = _scrub_value(event[key])
    return event


def _scrubbed(renderer: Any) -> Any:
    """The renderer, its output scrubbed (a traceback the console renderer adds included)."""

    def render(logger: Any, method: str, event: dict[str, Any]) -> str:
        return scrub(renderer(logger, method, event))

    return render


class _ScrubbingFormatter(logging.Formatter):
    """The standard library's lines (aiohttp, nats-py), message and traceback, scrubbed."""

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


def setup_logging(
    level: str = "info", fmt: str = "auto", service: str | None = None, settings: BaseModel | None = None
) -> None:
    """Configure structlog and the standard library logging once per process; with ``settings``,
    register their secrets for redaction."""
    if settings is not None:
        register_secrets(secret_values(settings))
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    processors = (
        [*shared, structlog.processors.format_exc_info, _redact, _scrubbed(renderer)]
        if use_json
        else [*shared, _redact, _scrubbed(renderer)]
    )
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    # Route third-party stdlib logging (aiohttp, nats) through a plain handler at warning level.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_ScrubbingFormatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.WARNING)
    if service:
        structlog.contextvars.bind_contextvars(service=service)


def get_logger(name: str | None = None) -> Any:
    """A structlog logger."""
    return structlog.get_logger(name)
