"""cti.logging: secret redaction, JSON lines, stdlib logging through the same output."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import structlog

from cti.logging import REDACTED, configure_logging, is_secret_key, redact_secrets


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)
    structlog.reset_defaults()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    text = stream.getvalue()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


# ------------------------------------------------------------------ redaction


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "PASSWORD",
        "Secret",
        "ami_secret",
        "token",
        "access_token",
        "Authorization",
        "passwd",
        "X-Auth-Token",
    ],
)
def test_secret_keys(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["event", "agent_id", "extension", "call_id", "pass", 3])
def test_other_keys(key: object) -> None:
    assert not is_secret_key(key)


def test_redact_top_level_and_nested() -> None:
    event = {
        "event": "login",
        "agent_id": "80001",
        "Password": "hunter2",
        "headers": {"Authorization": "Bearer abc", "Accept": "*/*"},
        "frames": [{"Action": "Login", "Secret": "s3"}, ("x", {"token": "t"})],
        "deep": {"a": {"b": {"api_token": "t2", "ok": 1}}},
        "count": 3,
    }
    out = redact_secrets(None, "info", dict(event))
    assert out == {
        "event": "login",
        "agent_id": "80001",
        "Password": REDACTED,
        "headers": {"Authorization": REDACTED, "Accept": "*/*"},
        "frames": [{"Action": "Login", "Secret": REDACTED}, ("x", {"token": REDACTED})],
        "deep": {"a": {"b": {"api_token": REDACTED, "ok": 1}}},
        "count": 3,
    }
    # The caller's nested objects are not modified.
    assert event["headers"] == {"Authorization": "Bearer abc", "Accept": "*/*"}


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        (
            "Action: Login\r\nUsername: hotline\r\nSecret: s3cr3t\r\n",
            "Action: Login\r\nUsername: hotline\r\nSecret: ***\r\n",
        ),
        (
            "Adding action: {'Action': 'Login', 'Secret': 'a b c', 'Username': 'hotline'}",
            "Adding action: {'Action': 'Login', 'Secret': '***', 'Username': 'hotline'}",
        ),
        ('{"password": "pw", "agent_id": "80001"}', '{"password": "***", "agent_id": "80001"}'),
        ("GET /ws?token=abc123&agent=80001 HTTP/1.1", "GET /ws?token=***&agent=80001 HTTP/1.1"),
        ("Authorization: Bearer eyJhbGci.x.y", "Authorization: Bearer ***"),
        ("call c1 answered by 80001", "call c1 answered by 80001"),
    ],
)
def test_redact_secrets_in_text(text: str, redacted: str) -> None:
    assert redact_secrets(None, "info", {"event": text})["event"] == redacted


# ------------------------------------------------------------------ output


def test_json_lines_from_structlog_and_stdlib() -> None:
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    before = datetime.now(UTC)
    structlog.get_logger("cti.test").info(
        "agent logged in", agent_id="80001", password="hunter2", info={"token": "t"}
    )
    logging.getLogger("panoramisk.manager").warning(
        "Adding action %s: %s", "login", {"Action": "Login", "Secret": "s3"}
    )
    logging.getLogger("aiohttp.access").info("line one\nline two")
    structlog.get_logger("cti.test").debug("not shown at info")
    lines = _lines(stream)
    assert len(lines) == 3
    first, second, third = lines
    assert {k: v for k, v in first.items() if k != "timestamp"} == {
        "event": "agent logged in",
        "agent_id": "80001",
        "password": REDACTED,
        "info": {"token": REDACTED},
        "level": "info",
        "logger": "cti.test",
    }
    assert second["event"] == "Adding action login: {'Action': 'Login', 'Secret': '***'}"
    assert (second["level"], second["logger"]) == ("warning", "panoramisk.manager")
    assert third["event"] == "line one\nline two"
    assert "hunter2" not in stream.getvalue()
    assert "s3'" not in stream.getvalue()
    for line in lines:
        assert line["timestamp"].endswith("Z")
        stamp = datetime.fromisoformat(line["timestamp"])
        assert stamp.utcoffset() == timedelta(0)
        assert before - timedelta(seconds=1) <= stamp <= datetime.now(UTC)


def test_json_exception_stays_on_one_line() -> None:
    stream = io.StringIO()
    configure_logging("debug", "json", stream=stream)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        structlog.get_logger().exception("failed", call_id="c1")
        logging.getLogger("aiohttp.server").exception("handler failed")
    first, second = _lines(stream)
    assert (first["event"], first["call_id"], first["level"]) == ("failed", "c1", "error")
    assert first["exception"][0]["exc_type"] == "RuntimeError"
    assert second["exception"][0]["exc_value"] == "boom"


def test_levels_filter_both_worlds() -> None:
    stream = io.StringIO()
    configure_logging("WARNING", "json", stream=stream)
    structlog.get_logger().info("quiet")
    logging.getLogger("aiohttp").info("quiet")
    structlog.get_logger().warning("loud")
    logging.getLogger("aiohttp").error("louder")
    assert [line["event"] for line in _lines(stream)] == ["loud", "louder"]


def test_auto_is_json_when_not_a_terminal() -> None:
    stream = io.StringIO()
    configure_logging("info", "auto", stream=stream)
    structlog.get_logger().info("hello", n=1)
    (line,) = _lines(stream)
    assert (line["event"], line["n"]) == ("hello", 1)


def test_auto_is_console_on_a_terminal() -> None:
    stream = _Terminal()
    configure_logging("info", "auto", stream=stream)
    structlog.get_logger().info("hello", secret="x1y2")
    text = stream.getvalue()
    assert "hello" in text
    assert "x1y2" not in text
    assert REDACTED in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.splitlines()[0])


def test_console_without_terminal_has_no_colour_codes() -> None:
    stream = io.StringIO()
    configure_logging("info", "console", stream=stream)
    logging.getLogger("panoramisk").info("connected to %s", "127.0.0.1:5038")
    text = stream.getvalue()
    assert "connected to 127.0.0.1:5038" in text
    assert "\x1b[" not in text


def test_configuring_again_replaces_the_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("info", "json", stream=first)
    configure_logging("info", "json", stream=second)
    logging.getLogger("x").warning("once")
    assert first.getvalue() == ""
    assert [line["event"] for line in _lines(second)] == ["once"]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="log level must be one of debug, info, warning"):
        configure_logging("verbose")
    with pytest.raises(ValueError, match="log format must be auto, json or console"):
        configure_logging("info", "xml")  # type: ignore[arg-type]


def test_json_starts_with_timestamp_level_logger_event() -> None:
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    structlog.get_logger("cti.calls").info("call queued", call_id="c1", queue="fault")
    (line,) = _lines(stream)
    assert list(line) == ["timestamp", "level", "logger", "event", "call_id", "queue"]
