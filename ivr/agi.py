"""The AGI protocol, sans-I/O: bytes in, typed environment and replies out.

A FastAGI session is one TCP connection opened by the PBX (Asterisk's ``AGI(agi://...)``,
or pbx_sim's :mod:`pbx_sim.agi_client`). The PBX first sends the ``agi_*`` environment,
one ``agi_name: value`` line each, ended by a blank line. Then the server writes one
command line at a time and reads one reply::

    200 result=49 endpos=12000        STREAM FILE: the caller pressed "1" (ASCII 49)
    200 result=12345 (timeout)        GET DATA: digits, then the time-out flag
    200 result=1 (value)              GET VARIABLE
    510 Invalid or unknown command
    520-Invalid command syntax.  Proper usage follows:
    ...
    520 End of proper usage.

When the caller hangs up, the PBX writes ``HANGUP`` on its own line (between replies:
Asterisk's AGISIGHUP) and answers further commands with ``511``. :class:`AgiParser` turns
a byte stream into these pieces; nothing here reads a socket or a clock.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

__all__ = [
    "AgiEnvironment",
    "AgiError",
    "AgiHangup",
    "AgiParser",
    "AgiReply",
    "quote",
]

#: Longest line accepted; a longer one is a protocol error, not a memory leak.
MAX_LINE: Final = 16 * 1024
#: The most environment lines a session may send (Asterisk sends about 25).
MAX_ENV_LINES: Final = 200

_REPLY_RE: Final = re.compile(r"(\d{3})(?: result=(\S*))?(?: \((.*?)\))?(?: endpos=(-?\d+))?\s*$")


class AgiError(Exception):
    """The peer broke the protocol (the session should be closed)."""


@dataclass(frozen=True, slots=True)
class AgiEnvironment:
    """The ``agi_*`` variables, without their ``agi_`` prefix (``request``, ``channel``,
    ``callerid``, ``arg_1``, ...)."""

    values: Mapping[str, str]

    def get(self, name: str, default: str = "") -> str:
        return self.values.get(name, default)

    @property
    def channel(self) -> str:
        return self.get("channel")

    @property
    def uniqueid(self) -> str:
        return self.get("uniqueid")

    @property
    def caller(self) -> str:
        """The caller's number; empty when withheld (Asterisk sends ``unknown``)."""
        value = self.get("callerid")
        return "" if value in ("unknown", "anonymous") else value

    @property
    def script(self) -> str:
        """The path of ``agi://host:port/script`` (``incoming``, ``callback``, ...)."""
        script = self.get("network_script")
        if not script:
            script = self.get("request").split("://", 1)[-1].partition("/")[2]
        return script.split("?", 1)[0].strip("/")

    @property
    def args(self) -> tuple[str, ...]:
        out = []
        n = 1
        while f"arg_{n}" in self.values:
            out.append(self.values[f"arg_{n}"])
            n += 1
        return tuple(out)


@dataclass(frozen=True, slots=True)
class AgiReply:
    """One reply: ``code`` (200 = done), ``result`` as written, the bracketed ``data``
    (``timeout``, a variable's value) and ``endpos`` of playback commands."""

    code: int
    result: str = ""
    data: str | None = None
    endpos: int | None = None

    @property
    def ok(self) -> bool:
        return self.code == 200

    @property
    def number(self) -> int:
        """``result`` as an integer (-1 = the channel hung up or failed); 0 if not one."""
        try:
            return int(self.result)
        except ValueError:
            return 0

    @property
    def digit(self) -> str:
        """The key pressed during STREAM FILE / WAIT FOR DIGIT (``result`` is its ASCII
        code), or "" for none."""
        n = self.number
        key = chr(n) if 0 < n < 128 else ""
        return key if key and key in "0123456789*#ABCD" else ""

    @property
    def timed_out(self) -> bool:
        return self.data == "timeout"

    @property
    def hung_up(self) -> bool:
        return self.code == 511 or (self.code == 200 and self.result == "-1")


@dataclass(frozen=True, slots=True)
class AgiHangup:
    """The PBX wrote ``HANGUP``: the caller is gone; the script should finish."""


def quote(arg: str) -> str:
    """One command argument as Asterisk's parser reads it: double quotes group,
    a backslash escapes a quote or a backslash. Empty strings stay visible (``""``)."""
    if arg and not any(c in arg for c in ' \t"\\'):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


class AgiParser:
    """Feed bytes from the PBX; take out the environment once, then replies in order."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._env: dict[str, str] = {}
        self._env_lines = 0
        self.environment: AgiEnvironment | None = None
        self._usage: int | None = None  # inside a multi-line 520- reply
        self.hung_up = False

    def feed(self, data: bytes) -> list[AgiEnvironment | AgiReply | AgiHangup]:
        """Everything complete in the stream so far, in order."""
        self._buffer += data
        out: list[AgiEnvironment | AgiReply | AgiHangup] = []
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > MAX_LINE:
                    raise AgiError(f"line longer than {MAX_LINE} bytes")
                return out
            raw = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            line = raw.decode("utf-8", "replace").rstrip("\r")
            item = self._line(line)
            if item is not None:
                out.append(item)

    def _line(self, line: str) -> AgiEnvironment | AgiReply | AgiHangup | None:
        if self.environment is None:
            if not line:
                self.environment = AgiEnvironment(MappingProxyType(self._env))
                return self.environment
            self._env_lines += 1
            if self._env_lines > MAX_ENV_LINES:
                raise AgiError("too many environment lines")
            name, sep, value = line.partition(":")
            if not sep or not name.startswith("agi_"):
                raise AgiError(f"expected an agi_* environment line; found {line[:60]!r}")
            self._env[name[4:]] = value.strip()
            return None
        if self._usage is not None:
            # Usage text of a 520- reply runs until the "520 End of proper usage." line.
            if line.startswith(f"{self._usage} "):
                usage, self._usage = self._usage, None
                return AgiReply(usage, "", line[4:])
            return None
        if not line:
            return None
        if line.rstrip() == "HANGUP":
            self.hung_up = True
            return AgiHangup()
        if len(line) >= 4 and line[:3].isdigit() and line[3] == "-":
            self._usage = int(line[:3])
            return None
        match = _REPLY_RE.match(line)
        if match is None:
            # e.g. "200 result=1 (a value with) endpos=x", a form not worth guessing at
            head = line[:3]
            if head.isdigit():
                rest = line[4:]
                result = rest[7:].split(" ", 1)[0] if rest.startswith("result=") else ""
                return AgiReply(int(head), result, None)
            raise AgiError(f"expected an AGI reply; found {line[:60]!r}")
        code, result, data, endpos = match.groups()
        return AgiReply(int(code), result or "", data, None if endpos is None else int(endpos))
