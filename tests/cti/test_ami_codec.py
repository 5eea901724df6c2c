"""Tests of the sans-I/O AMI codec (cti/ami/codec.py) and the transcript loader.

The main check replays every real Asterisk 22 transcript: each connection's server stream
(and client stream) is decoded whole, one byte at a time (which puts a chunk boundary at
every byte offset in one pass) and in random chunks, and must give exactly the messages of
the transcript's blocks, as parsed independently block by block.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cti.ami import (
    MAX_BANNER_SIZE,
    MAX_MESSAGE_SIZE,
    AMIDecoder,
    AMIProtocolError,
    Message,
    encode_action,
    encode_message,
)
from cti.ami.codec import Role
from cti.ami.transcript import (
    ENV_VAR,
    Block,
    TranscriptFormatError,
    conn_streams,
    parse_transcript,
    read_transcript,
    transcript_paths,
    transcripts_dir,
)

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
PATHS = transcript_paths()
TRANSCRIPTS = {p.name: read_transcript(p) for p in PATHS}


# -- an independent, obviously-correct parse of one block -----------------------------


def reference_parse(data: bytes) -> Message:
    """One server/client block -> Message, line by line on bytes.

    Only CRLF ends a line (a bare LF stays inside the value); empty lines (Debian's stray
    CRLF before a message) are skipped; one space after the first colon is the separator.
    """
    assert data.endswith(b"\r\n\r\n"), data[-20:]
    pairs = []
    for raw_line in data[:-4].split(b"\r\n"):
        if not raw_line:
            continue
        line = raw_line.decode("utf-8", "replace")
        if ":" not in line:
            pairs.append(("", line))
            continue
        colon = line.index(":")
        value = line[colon + 1 :]
        pairs.append((line[:colon], value[1:] if value.startswith(" ") else value))
    return Message(pairs)


# -- helpers ------------------------------------------------------------------------

Item = Message | tuple[str, bool]


def decode(
    chunks: Iterable[bytes], role: Role = "client", **kw: int
) -> tuple[AMIDecoder, list[Item]]:
    """Feed chunks, draining after each; errors become ("error", recoverable) items and
    decoding stops at the first unrecoverable one."""
    dec = AMIDecoder(role, **kw)
    out: list[Item] = []
    for chunk in chunks:
        dec.feed(chunk)
        while True:
            try:
                msg = dec.next_message()
            except AMIProtocolError as err:
                out.append(("error", err.recoverable))
                if not err.recoverable:
                    return dec, out
                continue
            if msg is None:
                break
            out.append(msg)
    return dec, out


def decoded(chunks: Iterable[bytes], role: Role = "client", **kw: int) -> list[Item]:
    return decode(chunks, role, **kw)[1]


def one_byte_chunks(stream: bytes) -> Iterable[bytes]:
    return (stream[i : i + 1] for i in range(len(stream)))


def cut(stream: bytes, sizes: list[int]) -> list[bytes]:
    chunks, pos, i = [], 0, 0
    while pos < len(stream):
        chunks.append(stream[pos : pos + sizes[i % len(sizes)]])
        pos += sizes[i % len(sizes)]
        i += 1
    return chunks


class Case:
    """One connection's stream in one direction, and what decoding it must give."""

    def __init__(self, name: str, conn: int, kind: str, blocks: list[Block]) -> None:
        self.id = f"{name.removesuffix('.ami')}-{kind}-c{conn}"
        self.role: Role = "client" if kind == "server" else "server"
        self.stream = b"".join(b.data for b in blocks)
        self.banner: str | None = None
        if kind == "server":
            assert blocks[0].data.startswith(b"Asterisk Call Manager/"), self.id
            assert blocks[0].data.endswith(b"\r\n") and blocks[0].data.count(b"\r\n") == 1
            self.banner = blocks[0].data[:-2].decode()
            blocks = blocks[1:]
        self.blocks = blocks
        self.expected = [reference_parse(b.data) for b in blocks]


CASES = [
    Case(name, conn, kind, blocks)
    for name, all_blocks in TRANSCRIPTS.items()
    for kind in ("server", "client")
    for conn, blocks in conn_streams(all_blocks, kind).items()
]
SERVER_CASES = [c for c in CASES if c.role == "client"]


PROPERTIES = ("kind", "event", "response", "action", "action_id")


def check_lazy_properties(
    chunks: list[bytes], role: Role, expected: Sequence[Item], **kw: int
) -> None:
    """A decoded message answers kind/event/... from its first line before splitting its
    headers: each property, read first on freshly decoded messages, must agree with the
    same property of a message built from pairs."""
    for prop in PROPERTIES:
        fresh = decoded(chunks, role, **kw)
        assert [getattr(m, prop) if isinstance(m, Message) else m for m in fresh] == [
            getattr(Message(m.pairs), prop) if isinstance(m, Message) else m for m in expected
        ], prop


def check(case: Case, dec: AMIDecoder, out: list[Item]) -> None:
    assert out == case.expected
    assert dec.banner == case.banner
    assert dec.buffered == 0
    assert not dec.failed


# -- the transcripts ------------------------------------------------------------------


def test_transcripts_are_there() -> None:
    assert len(PATHS) >= 25, f"no transcripts found in {transcripts_dir()}"
    assert len(SERVER_CASES) >= 29  # file 11 has 5 connections
    assert sum(len(c.expected) for c in SERVER_CASES) > 4900


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_transcript_stream_whole(case: Case) -> None:
    dec, out = decode([case.stream], case.role)
    check(case, dec, out)
    # The wire form of each decoded message is its block, byte for byte (less the stray
    # CRLF some blocks start with, which belongs to no message).
    for msg, block in zip(out, case.blocks, strict=True):
        assert isinstance(msg, Message)
        assert msg.to_bytes() == block.data.removeprefix(b"\r\n")
    check_lazy_properties([case.stream], case.role, case.expected)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_transcript_stream_one_byte_at_a_time(case: Case) -> None:
    dec, out = decode(one_byte_chunks(case.stream), case.role)
    check(case, dec, out)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_transcript_stream_in_tcp_sized_chunks(case: Case) -> None:
    for size in (1460, 4096, 65536):
        dec, out = decode(cut(case.stream, [size]), case.role)
        check(case, dec, out)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    case=st.sampled_from(CASES),
    sizes=st.lists(st.integers(1, 3000), min_size=1, max_size=40),
)
def test_transcript_stream_random_chunks(case: Case, sizes: list[int]) -> None:
    dec, out = decode(cut(case.stream, sizes), case.role)
    check(case, dec, out)


def test_every_split_of_a_small_transcript() -> None:
    case = next(c for c in SERVER_CASES if c.id.startswith("00a-"))
    for k in range(len(case.stream) + 1):
        dec, out = decode([case.stream[:k], case.stream[k:]], case.role)
        check(case, dec, out)


def all_messages() -> list[Message]:
    return [m for c in SERVER_CASES for m in c.expected]


def test_transcripts_repeated_headers() -> None:
    callid = [m for m in all_messages() if m.get("AppFunction") == "ast_channel_callid_set"]
    assert len(callid) >= 77
    for m in callid:
        assert m.event == "TestEvent"
        assert m.get_all("State") == ["CallIDChange", "CallIDChange"]
        assert m["state"] == "CallIDChange"
    output = [m for m in all_messages() if "Output" in m]
    assert any(len(m.get_all("Output")) > 3 for m in output)
    # Indentation of command output survives: only one blank is the separator.
    assert any(v.startswith("   Members:") for m in output for v in m.get_all("Output"))


def test_transcripts_originate_response_is_an_event() -> None:
    originate = [m for m in all_messages() if m.event == "OriginateResponse"]
    assert len(originate) == 44
    for m in originate:
        assert m.kind == "event"
        assert m.response in ("Success", "Failure")
        assert m.action_id is not None and m.action_id.startswith("s")


def test_transcripts_bare_lf_stays_in_the_value() -> None:
    (m,) = [m for m in all_messages() if m.action_id == "s11-032"]
    assert m.kind == "response"
    assert m["Message"] == "Unable to retrieve endpoint nosuchendpoint\n"
    assert m.to_bytes().endswith(b"nosuchendpoint\n\r\n\r\n")


def test_transcripts_empty_values_and_kinds() -> None:
    msgs = all_messages()
    assert any(m.get("AccountCode") == "" for m in msgs)
    assert any(m.get("Challenge") == "" for m in msgs)
    kinds = {m.kind for m in msgs}
    assert kinds == {"event", "response"}
    actions = [m for c in CASES if c.role == "server" for m in c.expected]
    assert {m.kind for m in actions} == {"action", "other"}  # 11: one action lacks Action
    (queue_log,) = [m for m in actions if m.action == "QueueLog"]
    assert queue_log.kind == "action" and queue_log.event == "AGENTSTATE"
    (lower,) = [m for m in actions if m.get("actionid") == "s11-lowercase"]
    assert lower.kind == "action" and lower.action == "ping"


# -- UTF-8 ----------------------------------------------------------------------------

CHINESE = (
    "Event: Newchannel\r\nChannel: PJSIP/e1trunk-00000001\r\nCallerIDNum: 13800138000\r\n"
    "CallerIDName: 张伟\r\nConnectedLineName: 客服中心 王芳\r\n\r\n"
).encode()


def test_chinese_name_split_inside_a_character_at_every_offset() -> None:
    stream = BANNER + CHINESE + CHINESE
    start = stream.index("张".encode())
    assert len("张伟".encode()) == 6
    for k in range(len(stream) + 1):
        out = decoded([stream[:k], stream[k:]])
        assert [m.get("CallerIDName") for m in out if isinstance(m, Message)] == ["张伟"] * 2
        assert out[0] == out[1]
    # The case panoramisk gets wrong: a read that ends in the middle of 张.
    out = decoded([stream[: start + 1], stream[start + 1 : start + 2], stream[start + 2 :]])
    assert isinstance(out[0], Message) and out[0]["ConnectedLineName"] == "客服中心 王芳"
    out = decoded(one_byte_chunks(stream))
    assert [m.get("CallerIDName") for m in out if isinstance(m, Message)] == ["张伟"] * 2


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    stream = BANNER + b"Event: X\r\nCallerIDName: \xe5\xbc\r\nBad\xff: \xc3\x28\r\n\r\n"
    out = decoded([stream])
    (m,) = out
    assert isinstance(m, Message)
    assert m.pairs == (("Event", "X"), ("CallerIDName", "\ufffd"), ("Bad\ufffd", "\ufffd("))


# -- shapes of lines ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "pair"),
    [
        (b"Challenge: ", ("Challenge", "")),
        (b"Challenge:", ("Challenge", "")),
        (b"Key:value", ("Key", "value")),
        (b"Key:  two", ("Key", " two")),
        (b"Output:    Members: ", ("Output", "   Members: ")),
        (b"Key:x: y", ("Key", "x: y")),
        (b"Data: PJSIP/8001,qwE", ("Data", "PJSIP/8001,qwE")),
        (b"--END COMMAND--", ("", "--END COMMAND--")),
        (b": no name", ("", "no name")),
        (b"Message: a\nb\r", ("Message", "a\nb\r")),
    ],
)
def test_line_shapes(line: bytes, pair: tuple[str, str]) -> None:
    out = decoded([b"Response: Success\r\n" + line + b"\r\n\r\n"], "server")
    assert out == [Message([("Response", "Success"), pair])]


def test_stray_crlf_between_messages() -> None:
    stream = (
        BANNER + b"Event: A\r\n\r\n\r\nEvent: B\r\n\r\n\r\n\r\n\r\n\r\n\r\nEvent: C\r\n\r\n\r\n"
    )
    for chunks in ([stream], list(one_byte_chunks(stream))):
        dec, out = decode(chunks)
        assert [m.event for m in out if isinstance(m, Message)] == ["A", "B", "C"]
        assert dec.buffered == 0  # a stray CRLF at EOF is not a message cut short


@pytest.mark.parametrize(
    ("wire", "kind"),
    [
        (b"Events\r\n\r\n", "other"),
        (b"Event\r\nResponse: x\r\n\r\n", "response"),
        (b"Event:\r\n\r\n", "event"),
        (b"EVENT: X\r\n\r\n", "event"),
        (b"ActionID: 1\r\nAction: Ping\r\n\r\n", "action"),
        (b"Action: QueueLog\r\nEvent: AGENTSTATE\r\n\r\n", "action"),
        (b"Event: OriginateResponse\r\nResponse: Success\r\n\r\n", "event"),
    ],
)
def test_kind_of_decoded_messages(wire: bytes, kind: str) -> None:
    (m,) = decoded([wire], "server")
    assert isinstance(m, Message) and m.kind == kind
    assert Message(m.pairs).kind == kind


def test_no_colon_lines_make_other_messages() -> None:
    out = decoded([b"hello\r\nworld\r\n\r\n"], "server")
    assert out == [Message([("", "hello"), ("", "world")])]
    m = out[0]
    assert isinstance(m, Message) and m.kind == "other"
    assert m.to_bytes() == b": hello\r\n: world\r\n\r\n"
    assert decoded([m.to_bytes()], "server") == [m]


# -- banner ---------------------------------------------------------------------------


def test_banner_exposed_and_version() -> None:
    dec = AMIDecoder()
    assert dec.banner is None and dec.version is None
    dec.feed(b"Asterisk Call Manager/11.0.0\r")
    assert dec.banner is None and dec.next_message() is None
    dec.feed(b"\nResponse: Success\r\n\r\n")
    assert dec.banner == "Asterisk Call Manager/11.0.0"
    assert dec.version == "11.0.0"
    assert dec.next_message() == Message([("Response", "Success")])
    assert AMIDecoder("server").banner is None


@pytest.mark.parametrize(
    "stream",
    [
        b"SSH-2.0-OpenSSH_9.2p1\r\n",
        b"Response: Success\r\n\r\n",
        b"Asterisk\r\n",
        b"Asterisk Call Manager/" + b"1" * MAX_BANNER_SIZE + b"\r\n",
    ],
)
def test_not_an_ami_server_is_fatal(stream: bytes) -> None:
    for chunks in ([stream], list(one_byte_chunks(stream))):
        dec, out = decode(chunks)
        assert out == [("error", False)]
        assert dec.failed
        dec.feed(b"Event: X\r\n\r\n")  # ignored
        with pytest.raises(AMIProtocolError) as info:
            dec.next_message()
        assert not info.value.recoverable
        assert "unusable" in str(info.value)


def test_banner_prefix_checked_before_its_line_ends() -> None:
    dec = AMIDecoder()
    dec.feed(b"HTTP/1.1 400 Bad")
    with pytest.raises(AMIProtocolError, match="not an AMI server"):
        dec.next_message()


def test_server_role_needs_no_banner() -> None:
    out = decoded([b"Action: Ping\r\nActionID: 1\r\n\r\n"], "server")
    assert out == [Message([("Action", "Ping"), ("ActionID", "1")])]
    assert out[0].kind == "action"  # type: ignore[union-attr]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="role"):
        AMIDecoder("pbx")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_message_size"):
        AMIDecoder(max_message_size=4)


# -- size limit -----------------------------------------------------------------------


def msg_of_size(n: int, tag: str = "X") -> bytes:
    head = f"Event: {tag}\r\nPad: ".encode()
    data = head + b"p" * (n - len(head) - 4) + b"\r\n\r\n"
    assert len(data) == n
    return data


@pytest.mark.parametrize("split", ["whole", "one-byte", "7"])
def test_oversize_message_is_dropped_and_decoder_recovers(split: str) -> None:
    limit = 200
    stream = (
        BANNER
        + msg_of_size(limit, "A")
        + msg_of_size(limit + 1, "B")
        + msg_of_size(5 * limit, "C")
        + msg_of_size(50, "D")
    )
    chunks = {"whole": [stream], "one-byte": list(one_byte_chunks(stream)), "7": cut(stream, [7])}
    dec, out = decode(chunks[split], max_message_size=limit)
    assert [m.event if isinstance(m, Message) else m for m in out] == [
        "A",
        ("error", True),
        ("error", True),
        "D",
    ]
    assert dec.buffered == 0 and not dec.failed


def test_stray_crlf_does_not_count_towards_the_size_limit() -> None:
    stream = BANNER + b"\r\n\r\n\r\n" + msg_of_size(64) + b"\r\n" + msg_of_size(64)
    for chunks in ([stream], list(one_byte_chunks(stream))):
        out = decoded(chunks, max_message_size=64)
        assert [m.event for m in out if isinstance(m, Message)] == ["X", "X"]
        assert len(out) == 2


def test_oversize_error_comes_after_the_messages_before_it() -> None:
    dec = AMIDecoder("server", max_message_size=100)
    dec.feed(b"Action: Ping\r\n\r\n" + b"x" * 150)
    assert dec.next_message() == Message([("Action", "Ping")])
    with pytest.raises(AMIProtocolError, match="max_message_size=100") as info:
        dec.next_message()
    assert info.value.recoverable
    assert dec.next_message() is None
    assert dec.buffered <= 3  # the skipped message is not kept in memory
    dec.feed(b"yyy\r\n\r\nAction: Logoff\r\n\r\n")
    assert dec.next_message() == Message([("Action", "Logoff")])


def test_default_limit_is_one_mib_and_memory_stays_bounded() -> None:
    assert MAX_MESSAGE_SIZE == 1024 * 1024
    dec = AMIDecoder("server")
    chunk = b"Output: " + b"z" * 65528
    errors = 0
    for _ in range(40):  # 2.5 MiB without an end
        dec.feed(chunk)
        while True:
            try:
                if dec.next_message() is None:
                    break
            except AMIProtocolError:
                errors += 1
        assert dec.buffered <= MAX_MESSAGE_SIZE
    assert errors == 1
    dec.feed(b"\r\n\r\nAction: Ping\r\n\r\n")
    assert list(dec.messages()) == [Message([("Action", "Ping")])]


# -- fuzzing --------------------------------------------------------------------------

NASTY = st.lists(
    st.sampled_from(
        [
            b"\r\n",
            b"\r\n\r\n",
            b"\r",
            b"\n",
            b":",
            b": ",
            b" ",
            b"Event",
            b"Event: ",
            b"Response",
            b"Response: ",
            b"Action: ",
            b"action:",
            b"a",
            b"\xe5\xbc\xa0",
            b"\xe5",
            b"\xff",
            b"\x00",
            BANNER,
        ]
    ),
    max_size=60,
).map(b"".join)


@settings(max_examples=200, deadline=None)
@given(
    data=st.one_of(st.binary(max_size=400), NASTY),
    with_banner=st.booleans(),
    role=st.sampled_from(["client", "server"]),
    sizes=st.lists(st.integers(1, 50), min_size=1, max_size=5),
    limit=st.sampled_from([16, 64, MAX_MESSAGE_SIZE]),
)
def test_fuzz_only_protocol_errors_and_chunking_does_not_matter(
    data: bytes, with_banner: bool, role: Role, sizes: list[int], limit: int
) -> None:
    stream = (BANNER if with_banner else b"") + data
    dec1, whole = decode([stream], role, max_message_size=limit)
    dec2, chunked = decode(cut(stream, sizes), role, max_message_size=limit)
    dec3, single = decode(one_byte_chunks(stream), role, max_message_size=limit)
    assert whole == chunked == single
    assert dec1.buffered == dec2.buffered == dec3.buffered
    check_lazy_properties([stream], role, whole, max_message_size=limit)
    for m in whole:
        if isinstance(m, Message):
            assert m.kind in ("event", "response", "action", "other")
            assert len(m) > 0
            # Re-encoding a decoded message and decoding it again is stable.
            again = decode([m.to_bytes()], "server")[1]
            assert again == [m] or limit < len(m.to_bytes())


# -- look-ups on a decoded message's text ------------------------------------------------

# Lines as they can come off the wire: names in any case, repeated, with colons and
# blanks in odd places, values with colons, bare LFs, non-ASCII text.
_NAMES = ["Event", "Channel", "channel", "CHANNEL", "Variable", "Value", "ActionID", "a:b", "X "]
_WIRE_LINE = st.one_of(
    st.builds(
        lambda name, sep, value: f"{name}{sep}{value}",
        st.sampled_from(_NAMES),
        st.sampled_from([": ", ":", ":  ", ": :"]),
        st.text(st.characters(exclude_characters="\r\0", codec="utf-8"), max_size=12),
    ),
    st.text(st.characters(exclude_characters="\r\n\0", codec="utf-8"), min_size=1, max_size=12),
    st.sampled_from(["Channel", "x"]),  # no colon: the name is "", the line the value
)
_QUERIES = [*_NAMES, "event", "VALUE", "variable", "nope", "", "a", "b", "Channel\r\nValue", "x"]


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(_WIRE_LINE, min_size=1, max_size=8))
@example(lines=["Event: X", "Channel", "Value: x"])  # a name spanning two lines
@example(lines=["Channel:: x", "channel: y", "a:b: z", "Value:x", "X : w"])
def test_get_on_decoded_text_equals_get_on_split_headers(lines: list[str]) -> None:
    """``get`` on a fresh decoded message reads its text (ASCII: a scan of the
    lower-cased copy); it must answer exactly what the split headers answer."""
    wire = ("\r\n".join(lines) + "\r\n\r\n").encode()
    if wire.startswith(b"\r\n"):
        return  # a stray empty line, not a header
    [reference] = decoded([wire], "server")
    assert isinstance(reference, Message)
    split = Message(reference.pairs)
    for query in _QUERIES:
        [fresh] = decoded([wire], "server")
        assert fresh.get(query) == split.get(query), query
        [fresh] = decoded([wire], "server")
        assert (query in fresh) == (query in split), query
        [fresh] = decoded([wire], "server")
        assert fresh.get(query, "default") == split.get(query, "default"), query
    [fresh] = decoded([wire], "server")
    assert [fresh.get(q) for q in _QUERIES] == [split.get(q) for q in _QUERIES]
    assert fresh.action_id == split.action_id


# -- Message API ----------------------------------------------------------------------


def test_message_lookups() -> None:
    m = Message(
        [
            ("Event", "TestEvent"),
            ("State", "CallIDChange"),
            ("ChanVariable", "A=1"),
            ("state", "Other"),
            ("ChanVariable", "B=2"),
            ("ActionID", "s1"),
        ]
    )
    assert m.get("STATE") == "CallIDChange"
    assert m.get_all("state") == ["CallIDChange", "Other"]
    assert m.get_all("chanvariable") == ["A=1", "B=2"]
    assert m.get("nope") is None and m.get("nope", "") == ""
    assert m["actionid"] == "s1" and m.action_id == "s1"
    with pytest.raises(KeyError):
        m["nope"]
    assert "EVENT" in m and "nope" not in m and 3 not in m
    assert len(m) == 6
    assert m.to_dict() == {
        "Event": "TestEvent",
        "State": "CallIDChange",
        "ChanVariable": "A=1",
        "state": "Other",
        "ActionID": "s1",
    }
    assert m == Message(m.pairs) and hash(m) == hash(Message(list(m.pairs)))
    assert m != m.pairs
    assert "TestEvent" in repr(m)


@pytest.mark.parametrize(
    ("pairs", "kind"),
    [
        ([("Event", "Hangup")], "event"),
        ([("Event", "OriginateResponse"), ("Response", "Failure"), ("ActionID", "o1")], "event"),
        ([("ActionID", "x"), ("event", "late")], "event"),
        ([("Response", "Success"), ("ActionID", "1")], "response"),
        ([("response", "Goodbye")], "response"),
        ([("Action", "Ping")], "action"),
        # QueueLog (file 12) is an action with an Event: parameter.
        ([("Action", "QueueLog"), ("Queue", "sales"), ("Event", "AGENTSTATE")], "action"),
        ([("ActionID", "x"), ("action", "QueueLog"), ("Event", "AGENTSTATE")], "action"),
        ([("ActionID", "x"), ("Channel", "y")], "other"),
        ([], "other"),
    ],
)
def test_message_kind(pairs: list[tuple[str, str]], kind: str) -> None:
    m = Message(pairs)
    assert m.kind == kind


def test_originate_response_keeps_both_headers() -> None:
    m = Message([("Event", "OriginateResponse"), ("Response", "Success"), ("ActionID", "o1")])
    assert (m.event, m.response, m.action_id) == ("OriginateResponse", "Success", "o1")
    assert m.action is None


# -- encoding -------------------------------------------------------------------------

NAME = st.text(st.characters(exclude_characters="\r\n\0:", codec="utf-8"), min_size=1).filter(
    lambda s: s == s.strip()
)
VALUE = st.text(st.characters(exclude_characters="\r\n\0", codec="utf-8"))


@settings(max_examples=150, deadline=None)
@given(pairs=st.lists(st.tuples(NAME, VALUE), min_size=1, max_size=12), cut_at=st.integers(0))
def test_encode_decode_roundtrip(pairs: list[tuple[str, str]], cut_at: int) -> None:
    wire = encode_message(pairs)
    assert wire == Message(pairs).to_bytes()
    cut_at %= len(wire) + 1
    assert decoded([wire[:cut_at], wire[cut_at:]], "server") == [Message(pairs)]


@settings(max_examples=100, deadline=None)
@given(
    name=NAME,
    action_id=st.one_of(st.none(), VALUE),
    headers=st.lists(
        st.tuples(NAME.filter(lambda n: n.lower() not in ("action", "actionid")), VALUE),
        max_size=10,
    ),
)
def test_encode_action_roundtrip(
    name: str, action_id: str | None, headers: list[tuple[str, str]]
) -> None:
    out = decoded([encode_action(name, action_id, headers)], "server")
    (m,) = out
    assert isinstance(m, Message)
    assert m.kind == "action" and m.action == name and m.action_id == action_id
    assert list(m.pairs[1 if action_id is None else 2 :]) == headers


def test_encode_action_wire_form() -> None:
    assert encode_action("Originate", "a1", {"Channel": "PJSIP/8001", "Async": "true"}) == (
        b"Action: Originate\r\nActionID: a1\r\nChannel: PJSIP/8001\r\nAsync: true\r\n\r\n"
    )
    assert encode_action("Ping", None) == b"Action: Ping\r\n\r\n"
    assert encode_action("Originate", "a2", [("Variable", "A=1"), ("Variable", "B=张")]) == (
        "Action: Originate\r\nActionID: a2\r\nVariable: A=1\r\nVariable: B=张\r\n\r\n".encode()
    )


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("Hangup", "a", {"Channel": "PJSIP/8001\r\nAction: Originate"}), "Channel"),
        (("Hangup", "a", {"Channel": "PJSIP/8001\nAction: Originate"}), "Channel"),
        (("Hangup", "a", {"Channel": "PJSIP/8001\rX"}), "Channel"),
        (("Hangup", "a", {"Channel": "PJSIP/8001\0"}), "Channel"),
        (("Hangup", "a", {"Chan\r\nnel": "x"}), "Chan"),
        (("Hangup", "a", {"Chan:nel": "x"}), "Chan:nel"),
        (("Hangup", "a", {"": "x"}), "''"),
        (("Hangup", "a", {" Channel": "x"}), " Channel"),
        (("Hangup\r\nAction: Originate", "a", {}), "Action"),
        (("Hangup", "a\nAction: Originate", {}), "ActionID"),
        (("Hangup", "a", {"ActionID": "stolen"}), "ActionID"),
        (("Hangup", "a", [("action", "Originate")]), "action"),
    ],
)
def test_injection_rejected(args: tuple[str, str, dict[str, str]], named: str) -> None:
    with pytest.raises(ValueError, match=named.replace("\r", "\\\\r").replace("\n", "\\\\n")):
        encode_action(*args)


def test_non_str_rejected_and_empty_message() -> None:
    with pytest.raises(TypeError, match="Priority"):
        encode_action("Originate", "a", {"Priority": 1})  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        encode_message([(1, "x")])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="at least one"):
        encode_message([])
    with pytest.raises(ValueError, match="Event"):
        encode_message({"Event": "X\r\n"})


# -- transcript loader ----------------------------------------------------------------


def test_transcript_loader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = (
        b"### note conn=0 t=0.000011 len=6\nhello\n"
        b"<<< server conn=1 t=0.000599 len=30\nAsterisk Call Manager/11.0.0\r\n"
        b">>> client conn=1 t=0.000643 len=16\nAction: Ping\r\n\r\n"
    )
    blocks = parse_transcript(raw)
    assert [(b.kind, b.conn, b.t, len(b.data)) for b in blocks] == [
        ("note", 0, 0.000011, 6),
        ("server", 1, 0.000599, 30),
        ("client", 1, 0.000643, 16),
    ]
    assert conn_streams(blocks, "client") == {1: [blocks[2]]}
    with pytest.raises(TranscriptFormatError, match="byte 0"):
        parse_transcript(b"<<< sever conn=1 t=0.1 len=3\nabc")
    with pytest.raises(TranscriptFormatError, match="len=99"):
        parse_transcript(b"<<< server conn=1 t=0.1 len=99\nabc")
    (tmp_path / "x.ami").write_bytes(raw)
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert transcripts_dir() == tmp_path
    assert transcript_paths() == [tmp_path / "x.ami"]
    assert read_transcript(tmp_path / "x.ami") == blocks
    monkeypatch.delenv(ENV_VAR)
    assert transcripts_dir().name == "ami-transcripts"
