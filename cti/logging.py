"""Logging for the whole process: structlog for Hotline, the same output for stdlib logging.

:func:`configure_logging` sets up one handler on stderr. Hotline's own code logs with
``structlog.get_logger()``; libraries that use :mod:`logging` (aiohttp, panoramisk, asyncio)
go through the same processors, so every line has the same shape:

* ``json``: one JSON object per line: ``timestamp`` (ISO 8601, UTC), ``level``, ``logger``,
  ``event`` and the bound fields. For log collectors.
* ``console``: aligned, coloured lines for a person at a terminal.
* ``auto``: ``console`` when stderr is a terminal, ``json`` otherwise.

Secrets are redacted before rendering, by :func:`redact_secrets`: the value of any field
whose name contains password, passwd, secret, token or authorization (any case, in nested
dicts and lists too) becomes ``"***"``, and so does ``NAME: value`` / ``NAME=value`` text in
messages, which catches AMI frames (``Secret: ...``), dict reprs (``'secret': '...'``) and
query strings (``?token=...``) that libraries log.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import Final, Literal, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

__all__ = ["REDACTED", "configure_logging", "is_secret_key", "redact_secrets"]

REDACTED: Final = "***"
LEVELS: Final = ("debug", "info", "warning", "error", "critical")

_SECRET_WORDS = r"password|passwd|secret|token|authorization"
_SECRET_KEY_RE = re.compile(_SECRET_WORDS, re.IGNORECASE)
# NAME: value, NAME=value, 'NAME': 'value', "NAME": "value", Authorization: Bearer value
_SECRET_TEXT_RE = re.compile(
    rf"(?P<key>[\w.-]*(?:{_SECRET_WORDS})[\w.-]*)"
    r"(?P<sep>['\"]?\s*[:=]\s*)"
    r"(?P<scheme>(?:bearer|basic|digest|token)\s+)?"
    r"(?:(?P<quote>['\"])(?P<quoted>.*?)(?P=quote)|(?P<bare>[^\s'\",;&}\]]+))",
    re.IGNORECASE,
)
_MAX_DEPTH: Final = 20

# Marks the handler this module installs, so that configuring again replaces it.
_HANDLER_NAME: Final = "hotline"


def is_secret_key(key: object) -> bool:
    """True when a field named ``key`` holds a secret (password, token, ...)."""
    return isinstance(key, str) and _SECRET_KEY_RE.search(key) is not None


def _redact_text(text: str) -> str:
    def hide(match: re.Match[str]) -> str:
        scheme = match["scheme"] or ""
        if match["quote"] is not None:
            value = f"{match['quote']}{REDACTED}{match['quote']}"
        else:
            value = REDACTED
        return f"{match['key']}{match['sep']}{scheme}{value}"

    return _SECRET_TEXT_RE.sub(hide, text)


def _redact(value: object, depth: int = 0) -> object:
    if depth > _MAX_DEPTH:
        return value
    if isinstance(value, str):
        return _redact_text(value)
    if isinstance(value, Mapping):
        return {
            key: REDACTED if is_secret_key(key) else _redact(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(_redact(item, depth + 1) for item in value)
    return value


def redact_secrets(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: replace secrets with ``"***"`` (see the module docstring)."""
    for key, value in list(event_dict.items()):
        if is_secret_key(key):
            event_dict[key] = REDACTED
        elif isinstance(value, str | Mapping | list | tuple):
            event_dict[key] = _redact(value)
    return event_dict


_FIRST_KEYS: Final = ("timestamp", "level", "logger", "event")


def _first_keys_first(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """JSON lines read better with when, how bad, who and what at the start."""
    ordered = {key: event_dict.pop(key) for key in _FIRST_KEYS if key in event_dict}
    ordered.update(event_dict)
    return ordered


def configure_logging(
    level: str = "info",
    fmt: Literal["auto", "json", "console"] = "auto",
    *,
    stream: TextIO | None = None,
) -> None:
    """Send all logging (structlog and stdlib) to ``stream`` (default: stderr).

    ``level`` is one of debug, info, warning, error, critical (any case); ``fmt`` is json,
    console, or auto (console when the stream is a terminal). Calling it again replaces the
    previous set-up. Raises :class:`ValueError` for an unknown level or format.
    """
    name = level.lower()
    if name not in LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)}, not {level!r}")
    if fmt not in ("auto", "json", "console"):
        raise ValueError(f"log format must be auto, json or console, not {fmt!r}")
    out = sys.stderr if stream is None else stream
    if fmt == "auto":
        isatty = getattr(out, "isatty", None)
        fmt = "console" if callable(isatty) and isatty() else "json"
    numeric = logging.getLevelNamesMapping()[name.upper()]

    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        redact_secrets,
    ]
    renderer: Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer(sort_keys=False, default=str)
        final: list[Processor] = [
            structlog.processors.dict_tracebacks,
            _first_keys_first,
            renderer,
        ]
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=_wants_color(out))
        final = [renderer]

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.stdlib.PositionalArgumentsFormatter(),
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
    )
    handler = logging.StreamHandler(out)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)

    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == _HANDLER_NAME:
            root.removeHandler(old)
            old.close()
    root.addHandler(handler)
    root.setLevel(numeric)


def _wants_color(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(callable(isatty) and isatty())
