"""Sans-I/O codec for the Asterisk Manager Interface (AMI): bytes in, messages out.

Nothing here does I/O, reads a clock, logs or imports asyncio; the CTI link and the PBX
simulator move the bytes and drive these objects (the pattern of STYLE.md section 1).

The wire format, as Asterisk 22 sends it (see ../shared/ami-transcripts/README.md):

- A server stream starts with one banner line, ``Asterisk Call Manager/11.0.0\\r\\n``.
- Then messages: header lines ``Name: value\\r\\n``, ended by an empty line, i.e. every
  message ends with ``\\r\\n\\r\\n``. Headers repeat (``TestEvent`` has ``State:`` twice,
  ``Command`` output is one ``Output:`` header per line), so a message is an ordered list
  of pairs, not a dict. Names are case-insensitive.
- Values may contain a bare LF (``Message: Unable to retrieve endpoint x\\n``); only CRLF
  ends a line. Values may be empty (``AccountCode: ``) and keep their own leading blanks
  (``Output:    Members: ``): exactly one space after the colon is the separator.
- Debian's build sometimes sends a stray CRLF after a ``TestEvent``, so a message can begin
  with empty lines; they are skipped.

Decoding is done on whole messages only: bytes are buffered and split on ``\\r\\n\\r\\n``
before UTF-8 decoding, so a multi-byte character split across TCP reads survives. Invalid
UTF-8 becomes U+FFFD. A line without any colon becomes the pair ``("", line)``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from typing import Final, Literal, TypeVar, overload

from .errors import AMIProtocolError

__all__ = [
    "BANNER_PREFIX",
    "MAX_BANNER_SIZE",
    "MAX_MESSAGE_SIZE",
    "AMIDecoder",
    "Kind",
    "Message",
    "Role",
    "encode_action",
    "encode_message",
]

#: Largest message (headers + the final empty line) the decoder accepts, in bytes. The
#: biggest message in the Asterisk 22 transcripts is ListCommands' answer, 7.4 KB.
MAX_MESSAGE_SIZE: Final = 1024 * 1024
#: Longest banner line (without its CRLF) accepted before giving up on a stream.
MAX_BANNER_SIZE: Final = 1024
#: Every AMI server banner starts with this (``Asterisk Call Manager/11.0.0``; proxies
#: such as astmanproxy say ``Asterisk Call Manager Proxy/...``).
BANNER_PREFIX: Final = b"Asterisk Call Manager"
TERMINATOR: Final = b"\r\n\r\n"

#: Who *we* are on the connection (as in h11): a ``"client"`` (the CTI) reads the server's
#: stream, which starts with the banner; a ``"server"`` (the PBX simulator) reads actions.
Role = Literal["client", "server"]
Kind = Literal["event", "response", "action", "other"]

_T = TypeVar("_T")
_KINDS: Final[dict[str, Kind]] = {
    "Event": "event",
    "Response": "response",
    "Action": "action",
    "event": "event",
    "response": "response",
    "action": "action",
}


class Message:
    """One AMI message: an ordered tuple of ``(name, value)`` string pairs.

    Look-ups ignore case and return the first occurrence; ``get_all`` returns every value
    of a repeated header. Messages are immutable and compare by their pairs.

    A decoded message keeps its text and splits it into headers on first use: ``event``,
    ``response``, ``action`` and ``kind`` are answered from the first line when it is
    ``Event: ...`` (as Asterisk sends it), so a dispatcher that drops most events by name
    (VarSet, TestEvent, RTCP...) never pays for splitting them.
    """

    __slots__ = ("_index", "_pairs", "_text")

    _pairs: tuple[tuple[str, str], ...] | None
    _text: str | None
    _index: dict[str, str] | None

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self._pairs = tuple([(name, value) for name, value in pairs])
        self._text = None
        self._index = None

    @property
    def pairs(self) -> tuple[tuple[str, str], ...]:
        """All headers in wire order, repeats included."""
        pairs = self._pairs
        if pairs is None:
            pairs = self._pairs = _split_headers(self._text or "")
            self._text = None
        return pairs

    # -- look-ups ---------------------------------------------------------------------

    def _lookup(self) -> dict[str, str]:
        # Built on first use: lower-cased name -> first value. Iterating in reverse lets
        # the first occurrence win.
        index = self._index
        if index is None:
            index = self._index = {name.lower(): value for name, value in reversed(self.pairs)}
        return index

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: _T) -> str | _T: ...
    def get(self, name: str, default: _T | None = None) -> str | _T | None:
        """The value of the first header called ``name`` (any case), else ``default``."""
        return self._lookup().get(name.lower(), default)

    def get_all(self, name: str) -> list[str]:
        """Every value of the headers called ``name`` (any case), in order."""
        wanted = name.lower()
        return [value for key, value in self.pairs if key.lower() == wanted]

    def __getitem__(self, name: str) -> str:
        try:
            return self._lookup()[name.lower()]
        except KeyError:
            raise KeyError(name) from None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._lookup()

    def _first(self, prefix: str, lower: str) -> str | None:
        # Fast path: Asterisk puts Event/Response/Action first, spelt like this.
        text = self._text
        if text is not None:
            if text.startswith(prefix):
                end = text.find("\r\n")
                return text[len(prefix) :] if end < 0 else text[len(prefix) : end]
        else:
            pairs = self._pairs
            if pairs and pairs[0][0] == prefix[:-2]:
                return pairs[0][1]
        return self._lookup().get(lower)

    @property
    def event(self) -> str | None:
        """The ``Event`` header, or None."""
        return self._first("Event: ", "event")

    @property
    def response(self) -> str | None:
        """The ``Response`` header (``Success``, ``Error``, ``Goodbye``...), or None."""
        return self._first("Response: ", "response")

    @property
    def action(self) -> str | None:
        """The ``Action`` header (messages a client sends), or None."""
        return self._first("Action: ", "action")

    @property
    def action_id(self) -> str | None:
        """The ``ActionID`` header, or None."""
        text = self._text
        if text is not None:
            # Most events have none: answered without splitting the headers (the link
            # asks every event while an action is pending). A case-insensitive regex
            # costs ten times this.
            lowered = text.lower()
            if not lowered.startswith("actionid:") and "\nactionid:" not in lowered:
                return None
        return self._lookup().get("actionid")

    @property
    def kind(self) -> Kind:
        """Whichever of Event, Response, Action comes first decides: ``event`` for
        ``OriginateResponse`` (Event, then Response), ``action`` for a ``QueueLog``
        action (Action, then an ``Event:`` parameter); ``other`` if none is there."""
        text = self._text
        if text is not None:
            colon = text.find(":")
            first = _KINDS.get(text[:colon]) if colon > 0 else None
            if first is not None:
                return first
        pairs = self.pairs
        if pairs:
            first = _KINDS.get(pairs[0][0])
            if first is not None:
                return first
            for name, _ in pairs:
                kind = _KINDS.get(name.lower())
                if kind is not None:
                    return kind
        return "other"

    def to_dict(self) -> dict[str, str]:
        """Name -> value of the first occurrence, names as sent (for logs and JSON)."""
        return {name: value for name, value in reversed(self.pairs)}

    # -- wire form --------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The exact wire form, ``Name: value\\r\\n`` per header then ``\\r\\n``.

        Not validated: a decoded message comes back byte for byte, bare LFs in values
        included, except a colon not followed by a space (written ``": "``) and a line
        without a colon (decoded as ``("", line)``, written ``": line"``); decoding the
        result always gives the same message again. For anything built from untrusted
        input use :func:`encode_message` or :func:`encode_action`, which refuse CR/LF.
        """
        lines = [f"{name}: {value}\r\n" for name, value in self.pairs]
        lines.append("\r\n")
        return "".join(lines).encode("utf-8")

    # -- object protocol --------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.pairs)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Message):
            return self.pairs == other.pairs
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.pairs)

    def __repr__(self) -> str:
        return f"Message({list(self.pairs)!r})"


def _split_headers(text: str) -> tuple[tuple[str, str], ...]:
    """Header lines of one message (no empty lines, no final CRLFCRLF) -> pairs."""
    pairs: list[tuple[str, str]] = []
    append = pairs.append
    for line in text.split("\r\n"):
        # Fast path: the first colon is followed by the one separating space.
        name, sep, value = line.partition(": ")
        if sep and ":" not in name:
            append((name, value))
            continue
        name, sep, value = line.partition(":")
        if sep:
            append((name, value[1:] if value[:1] == " " else value))
        else:
            append(("", line))
    return tuple(pairs)


_new_message = Message.__new__


def _empty_lines(data: bytearray) -> int:
    """Length of the stray empty lines before a message (Debian's TestEvent sends one
    extra CRLF); they belong to no message and count neither as buffered bytes nor as
    message size."""
    n = 0
    while data.startswith(b"\r\n", n):
        n += 2
    return n


def _message(part: bytearray) -> Message:
    """One message (no leading empty line, no final CRLFCRLF) -> a Message whose headers
    are split on first use."""
    msg = _new_message(Message)
    msg._text = part.decode("utf-8", "replace")
    msg._pairs = None
    msg._index = None
    return msg


class AMIDecoder:
    """Turns an AMI byte stream into :class:`Message` objects (h11 style).

    ``feed(data)`` buffers bytes and parses every complete message; it never raises.
    ``next_message()`` hands them out in stream order, returns None when it needs more
    bytes, and raises :class:`AMIProtocolError` at the point of the stream where the peer
    broke the protocol (check ``err.recoverable``). ``messages()`` drains in a loop.

    The cost of ``feed`` is proportional to ``len(data)`` (amortised), however the stream
    is cut: feeding one byte at a time is fine.
    """

    __slots__ = (
        "_buf",
        "_failure",
        "_need_banner",
        "_ready",
        "_scan",
        "_skipping",
        "banner",
        "max_message_size",
        "role",
    )

    def __init__(self, role: Role = "client", *, max_message_size: int = MAX_MESSAGE_SIZE) -> None:
        if role not in ("client", "server"):
            raise ValueError(f"role must be 'client' or 'server', not {role!r}")
        if max_message_size < len(TERMINATOR) + 1:
            raise ValueError(f"max_message_size too small: {max_message_size}")
        self.role: Role = role
        self.max_message_size = max_message_size
        #: The server's banner line without its CRLF, once received (role "client").
        self.banner: str | None = None
        self._buf = bytearray()
        # Where to resume looking for the terminator: bytes before it were searched.
        self._scan = 0
        self._ready: deque[Message | AMIProtocolError] = deque()
        self._need_banner = role == "client"
        self._skipping = False
        self._failure: AMIProtocolError | None = None

    @property
    def version(self) -> str | None:
        """The AMI version from the banner (``"11.0.0"`` for Asterisk 22), or None."""
        if self.banner is None:
            return None
        return self.banner.partition("/")[2].strip() or None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a complete message (non-zero at EOF means
        the peer closed in the middle of a message)."""
        return len(self._buf)

    @property
    def failed(self) -> bool:
        """True once an unrecoverable error was found; the decoder then ignores input."""
        return self._failure is not None

    # -- input ------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Add received bytes and parse what is complete; never raises on bad input.
        ``feed(b"")`` does nothing (it does not mean end of stream: see ``buffered``)."""
        if self._failure is not None or not data:
            return
        buf = self._buf
        buf += data
        if self._need_banner and not self._read_banner():
            return
        if self._skipping and not self._skip():
            return
        if buf.find(TERMINATOR, self._scan) >= 0:
            parts = buf.split(TERMINATOR)
            tail = parts.pop()
            del buf[: len(buf) - len(tail)]
            ready = self._ready
            limit = self.max_message_size - len(TERMINATOR)
            for part in parts:
                if part.startswith(b"\r\n"):
                    part = part[_empty_lines(part) :]  # noqa: PLW2901
                if not part:
                    continue
                if len(part) > limit:
                    ready.append(self._too_big(f"{len(part) + len(TERMINATOR)} bytes; dropped"))
                    continue
                ready.append(_message(part))
        if buf.startswith(b"\r\n"):
            del buf[: _empty_lines(buf)]
        if len(buf) >= self.max_message_size:
            self._oversize_tail()
        else:
            self._scan = max(len(buf) - 3, 0)

    def _read_banner(self) -> bool:
        buf = self._buf
        end = buf.find(b"\r\n")
        if end < 0:
            head = bytes(buf[: len(BANNER_PREFIX)])
            if not BANNER_PREFIX.startswith(head):
                self._fail(f"not an AMI server: stream starts with {head!r}")
            elif len(buf) > MAX_BANNER_SIZE + 1:
                # Even a CR as the last byte would leave a line over the limit.
                self._fail(f"AMI banner line longer than {MAX_BANNER_SIZE} bytes")
            return False
        line = bytes(buf[:end])
        if not line.startswith(BANNER_PREFIX):
            self._fail(f"not an AMI server: banner {line[:80]!r}")
            return False
        if end > MAX_BANNER_SIZE:
            self._fail(f"AMI banner line longer than {MAX_BANNER_SIZE} bytes")
            return False
        self.banner = line.decode("utf-8", "replace")
        del buf[: end + 2]
        self._need_banner = False
        self._scan = 0
        return True

    def _skip(self) -> bool:
        """Discard the rest of an oversized message; True once its end was found."""
        buf = self._buf
        end = buf.find(TERMINATOR, self._scan)
        if end < 0:
            # Keep 3 bytes: they may be the start of the terminator.
            del buf[: max(len(buf) - 3, 0)]
            self._scan = 0
            return False
        del buf[: end + len(TERMINATOR)]
        self._skipping = False
        self._scan = 0
        return True

    def _too_big(self, what: str) -> AMIProtocolError:
        return AMIProtocolError(
            f"AMI message over max_message_size={self.max_message_size} bytes: {what}",
            recoverable=True,
        )

    def _oversize_tail(self) -> None:
        self._ready.append(self._too_big("no end after that many bytes; skipping to its end"))
        self._skipping = True
        self._skip()

    def _fail(self, reason: str) -> None:
        err = AMIProtocolError(reason, recoverable=False)
        self._failure = err
        self._ready.append(err)
        self._buf.clear()

    # -- output -----------------------------------------------------------------------

    def next_message(self) -> Message | None:
        """The next complete message, or None if more bytes are needed.

        Raises :class:`AMIProtocolError` where the stream is broken: after a recoverable
        one, call again to continue; after an unrecoverable one, every call raises.
        """
        ready = self._ready
        if ready:
            item = ready.popleft()
            if isinstance(item, Message):
                return item
            raise item
        if self._failure is not None:
            raise AMIProtocolError(
                f"AMI decoder unusable after an earlier error: {self._failure}",
                recoverable=False,
            )
        return None

    def messages(self) -> Iterator[Message]:
        """Yield every complete message (stops when more bytes are needed)."""
        while (msg := self.next_message()) is not None:
            yield msg


# -- encoding (what we send) ---------------------------------------------------------

_BAD_IN_NAME: Final = ("\r", "\n", "\0", ":")
_BAD_IN_VALUE: Final = ("\r", "\n", "\0")


def _checked_line(name: object, value: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"AMI header name must be str, not {type(name).__name__}: {name!r}")
    if not isinstance(value, str):
        raise TypeError(
            f"AMI header {name!r}: value must be str, not {type(value).__name__}: {value!r}"
        )
    if not name or name != name.strip() or any(c in name for c in _BAD_IN_NAME):
        raise ValueError(
            f"invalid AMI header name {name!r}: must be non-empty, without surrounding "
            "blanks, CR, LF, NUL or ':'"
        )
    if any(c in value for c in _BAD_IN_VALUE):
        # Asterisk ends a line at CRLF *or* a bare LF: a value with either could smuggle
        # extra headers or a whole extra action onto the link.
        raise ValueError(f"AMI header {name!r}: value must not contain CR, LF or NUL: {value!r}")
    return f"{name}: {value}\r\n"


def _header_pairs(
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
) -> Iterable[tuple[str, str]]:
    if isinstance(headers, Mapping):
        return headers.items()
    return headers


def encode_message(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> bytes:
    """Validated wire form of any message (the PBX simulator's events and responses).

    Raises ValueError/TypeError naming the header if a name or value cannot be sent
    safely (CR, LF, NUL, a colon in a name, an empty name, a non-str).
    """
    lines = [_checked_line(name, value) for name, value in _header_pairs(headers)]
    if not lines:
        raise ValueError("an AMI message needs at least one header")
    lines.append("\r\n")
    return "".join(lines).encode("utf-8")


def encode_action(
    name: str,
    action_id: str | None,
    headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
) -> bytes:
    """Wire form of ``Action: name`` + ``ActionID: action_id`` + ``headers``, validated.

    Repeat a header (``Variable``) by passing pairs. ``headers`` must not contain
    ``Action`` or ``ActionID`` (any case): a client-supplied ActionID would let it steal
    another request's responses. Raises ValueError/TypeError naming the offending header.
    """
    lines = [_checked_line("Action", name)]
    if action_id is not None:
        lines.append(_checked_line("ActionID", action_id))
    for key, value in _header_pairs(headers):
        if isinstance(key, str) and key.lower() in ("action", "actionid"):
            raise ValueError(f"header {key!r} is set by encode_action itself")
        lines.append(_checked_line(key, value))
    lines.append("\r\n")
    return "".join(lines).encode("utf-8")
