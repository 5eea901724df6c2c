"""The sans-I/O AGI parser: environments and replies as Asterisk 22 writes them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.agi import AgiEnvironment, AgiError, AgiHangup, AgiParser, AgiReply, quote
from pbx_sim.agi import parse_command

ENV = (
    b"agi_network: yes\n"
    b"agi_network_script: incoming\n"
    b"agi_request: agi://127.0.0.1:4573/incoming\n"
    b"agi_channel: PJSIP/e1trunk-00000001\n"
    b"agi_uniqueid: 1700000000.1\n"
    b"agi_callerid: 0215550101\n"
    b"agi_arg_1: 4000\n"
    b"agi_arg_2: x y\n"
    b"\n"
)


def test_environment_then_replies_in_one_chunk() -> None:
    parser = AgiParser()
    items = parser.feed(ENV + b"200 result=0\n")
    env, reply = items
    assert isinstance(env, AgiEnvironment)
    assert env.channel == "PJSIP/e1trunk-00000001" and env.uniqueid == "1700000000.1"
    assert env.script == "incoming" and env.caller == "0215550101"
    assert env.args == ("4000", "x y")
    assert reply == AgiReply(200, "0")


def test_byte_at_a_time_gives_the_same_items() -> None:
    data = ENV + b"200 result=49 endpos=8000\r\n200 result=123 (timeout)\n"
    whole = AgiParser().feed(data)
    parser = AgiParser()
    pieces = [item for i in range(len(data)) for item in parser.feed(data[i : i + 1])]
    assert pieces == whole


@pytest.mark.parametrize(
    ("line", "code", "result", "data", "endpos", "digit"),
    [
        (b"200 result=49 endpos=12000", 200, "49", None, 12000, "1"),
        (b"200 result=0 endpos=8000", 200, "0", None, 8000, ""),
        (b"200 result= (timeout)", 200, "", "timeout", None, ""),
        (b"200 result=12345 (timeout)", 200, "12345", "timeout", None, ""),
        (b"200 result=1 (some value (nested))", 200, "1", "some value (nested)", None, ""),
        (b"200 result=-1", 200, "-1", None, None, ""),
        (b"510 Invalid or unknown command", 510, "", None, None, ""),
        (b"511 Command Not Permitted on a dead channel or intercept routine", 511, "", None,
         None, ""),
    ],
)  # fmt: skip
def test_replies(
    line: bytes, code: int, result: str, data: str | None, endpos: int | None, digit: str
) -> None:
    parser = AgiParser()
    parser.feed(b"agi_channel: X\n\n")
    (reply,) = parser.feed(line + b"\n")
    assert isinstance(reply, AgiReply)
    assert (reply.code, reply.result, reply.data, reply.endpos) == (code, result, data, endpos)
    assert reply.digit == digit
    assert reply.hung_up == (code == 511 or result == "-1")


def test_usage_reply_is_one_reply() -> None:
    parser = AgiParser()
    parser.feed(b"agi_channel: X\n\n")
    items = parser.feed(
        b"520-Invalid command syntax.  Proper usage follows:\n"
        b" Usage: GET DATA <file to be streamed> [timeout] [max digits]\n"
        b"520 End of proper usage.\n200 result=0\n"
    )
    assert [i.code for i in items if isinstance(i, AgiReply)] == [520, 200]


def test_hangup_line_between_replies() -> None:
    parser = AgiParser()
    parser.feed(b"agi_channel: X\n\n")
    items = parser.feed(b"HANGUP\n200 result=-1\n")
    assert isinstance(items[0], AgiHangup) and parser.hung_up
    assert isinstance(items[1], AgiReply) and items[1].hung_up


def test_broken_streams_are_errors_not_guesses() -> None:
    with pytest.raises(AgiError):
        AgiParser().feed(b"hello there\n")
    parser = AgiParser()
    parser.feed(b"agi_channel: X\n\n")
    with pytest.raises(AgiError):
        parser.feed(b"nonsense\n")
    with pytest.raises(AgiError):
        AgiParser().feed(b"agi_x: " + b"a" * 20000)


@given(st.text(alphabet=st.characters(blacklist_characters="'\r\n"), max_size=40))
def test_quote_round_trips_through_the_pbx_parser(text: str) -> None:
    # pbx_sim splits like a POSIX shell, where ' also quotes (Asterisk: only "), and a
    # command is one line: the flows quote neither (prompt names exclude them).
    words = parse_command(f"STREAM FILE {quote(text)} {quote('')}")
    assert words[2:] == [text, ""]
