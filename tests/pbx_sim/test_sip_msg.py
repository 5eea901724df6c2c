"""The SIP text helpers of the softphones (pure)."""

from __future__ import annotations

import pytest

from pbx_sim.sip import sipmsg

INVITE = (
    "INVITE sip:8001@127.0.0.1:40000 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:15060;rport;branch=z9hG4bKPj1\r\n"
    'f: "张三 \\"VIP\\"" <sip:13800138000@127.0.0.1>;tag=abc\r\n'
    "To: <sip:8001@127.0.0.1>\r\n"
    "i: 5f1c-call-id\r\n"
    "Reason: SIP;cause=200;text=\"x\", Q.850;cause=16;text=\"Normal Clearing\"\r\n"
    "Subject: a folded\r\n"
    " header\r\n"
    "Content-Length: 0\r\n\r\n"
)


def test_headers_long_names_compact_forms_and_folding() -> None:
    found = sipmsg.headers(INVITE)
    assert found["call-id"] == ["5f1c-call-id"]
    assert found["subject"] == ["a folded header"]
    assert sipmsg.header(INVITE, "Content-Length") == "0"
    assert sipmsg.header(INVITE, "P-Asserted-Identity") is None


def test_caller_from_from_header_with_escaped_utf8_name() -> None:
    party = sipmsg.caller_of(INVITE)
    assert party == sipmsg.Party('张三 "VIP"', "13800138000", "sip:13800138000@127.0.0.1")


def test_p_asserted_identity_wins_over_from() -> None:
    invite = INVITE.replace("To:", 'P-Asserted-Identity: "李四" <sip:02150001234@h>\r\nTo:')
    assert sipmsg.caller_of(invite).name == "李四"
    assert sipmsg.caller_of(invite).number == "02150001234"


@pytest.mark.parametrize(
    ("value", "name", "number"),
    [
        ("<sip:8001@127.0.0.1:5060;transport=udp>", "", "8001"),
        ("Agent 8001 <sip:8001@h>", "Agent 8001", "8001"),
        ("sip:9001@h;tag=1", "", "9001"),
        ("<tel:+861012345;phone-context=x>", "", "+861012345"),
        ("<sip:h>", "", ""),
    ],
)
def test_parse_party_forms(value: str, name: str, number: str) -> None:
    party = sipmsg.parse_party(value)
    assert (party.name, party.number) == (name, number)


def test_name_addr_quotes_and_round_trips() -> None:
    text = sipmsg.name_addr('a "b" \\ c', "sip:1@h")
    assert text == '"a \\"b\\" \\\\ c" <sip:1@h>'
    assert sipmsg.parse_party(text).name == 'a "b" \\ c'
    assert sipmsg.name_addr("", "sip:1@h") == "<sip:1@h>"


def test_q850_cause() -> None:
    assert sipmsg.q850_cause(INVITE) == 16
    assert sipmsg.q850_cause(INVITE.replace("Q.850;cause=16", "Q.850;cause=34")) == 34
    assert sipmsg.q850_cause("BYE sip:x SIP/2.0\r\nCall-ID: 1\r\n\r\n") is None


@pytest.mark.parametrize(
    ("code", "answered", "result"),
    [
        (200, True, "answered"),
        (486, False, "busy"),
        (503, False, "congestion"),
        (487, False, "no_answer"),
        (480, False, "no_answer"),
        (404, False, "rejected"),
        (603, False, "rejected"),
        (500, False, "failed"),
    ],
)
def test_classify(code: int, answered: bool, result: str) -> None:
    assert sipmsg.classify(code, answered) == result
