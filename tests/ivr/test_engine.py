"""The flow engine, sans-I/O: commands out, scripted replies in, outcome at the end."""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Callable, Generator
from dataclasses import replace
from typing import TypeVar

from cti.config import DEMO_TOML, parse_config
from ivr.agi import AgiReply
from ivr.demo import DEMO_IVR_TOML
from ivr.engine import MAX_STEPS, Caller, Outcome, run_flow, run_survey
from ivr.flows import Hours, IvrConfig

NOW = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)  # Monday 10:00 in Shanghai
R = TypeVar("R")


def _ivr() -> IvrConfig:
    config = parse_config(
        tomllib.loads(DEMO_TOML + DEMO_IVR_TOML), "demo", env={"HOTLINE_AMI_SECRET": "s"}
    )
    assert config.ivr is not None
    return config.ivr


def drive(
    flow: Generator[str, AgiReply, R], answer: Callable[[str], AgiReply]
) -> tuple[list[str], R]:
    """Run a flow to its end; ``answer`` plays the PBX."""
    sent: list[str] = []
    try:
        line = next(flow)
        while True:
            sent.append(line)
            line = flow.send(answer(line))
    except StopIteration as stop:
        return sent, stop.value


def keys(*presses: str) -> Callable[[str], AgiReply]:
    """The caller presses these at successive GET DATA prompts ("" = silence)."""
    queue = list(presses)

    def answer(line: str) -> AgiReply:
        if line.startswith("GET DATA"):
            key = queue.pop(0) if queue else ""
            return AgiReply(200, key, None if key else "timeout")
        return AgiReply(200, "0", endpos=8000)

    return answer


def test_menu_to_sub_menu_to_queue() -> None:
    sent, out = drive(run_flow(_ivr(), Caller("021", "4000"), NOW), keys("1", "2"))
    assert out == Outcome(
        "queue", ("open-check:open", "main:1", "fault-menu:2", "queue:fault"), "fault", None
    )
    assert sent == [
        "GET DATA hotline/main-menu 5000 1",
        "GET DATA hotline/fault-menu 5000 1",
        "SET VARIABLE HOTLINE_QUEUE fault",
        "SET VARIABLE HOTLINE_IVR open-check:open>main:1>fault-menu:2>queue:fault",
    ]


def test_invalid_key_plays_invalid_and_retries_then_default() -> None:
    sent, out = drive(run_flow(_ivr(), Caller("021", "4000"), NOW), keys("7", "", "8"))
    assert out.queue == "general"
    assert out.path[1:] == ("main:invalid", "main:timeout", "main:invalid", "queue:general")
    # invalid prompt after a wrong key, not after silence nor after the last try
    assert sent.count('STREAM FILE hotline/invalid ""') == 1


def test_repeat_does_not_use_a_try() -> None:
    _, out = drive(run_flow(_ivr(), Caller("021", "4000"), NOW), keys("9", "9", "9", "9", "3"))
    assert out.queue == "inquiry" and out.path.count("main:9") == 4


def test_operator() -> None:
    _, out = drive(run_flow(_ivr(), Caller("021", "4000"), NOW), keys("0"))
    assert out.queue == "general" and out.path[-2:] == ("operator", "queue:general")


def test_collect_digits_min_max_and_retries() -> None:
    # too short (3 < 4 digits) counts as a failure; then a good one
    sent, out = drive(run_flow(_ivr(), Caller("021", "4000"), NOW), keys("1", "1", "123", "5678"))
    assert "GET DATA hotline/enter-account 5000 12" in sent
    assert out.path[-3:] == ("fault-account:invalid", "account=5678", "queue:fault")
    _, out = drive(run_flow(_ivr(), Caller("021", "4000"), NOW), keys("1", "1", "", ""))
    assert out.path[-3:] == ("fault-account:timeout", "fault-account:timeout", "queue:fault")


def test_closed_hours_on_a_holiday() -> None:
    ivr = _ivr()
    week = (((0, 24 * 60),),) * 7
    hours = Hours("Asia/Shanghai", week, frozenset({dt.date(2026, 11, 23)}), always_open=False)
    sent, out = drive(run_flow(replace(ivr, hours=hours), Caller("021", "4000"), NOW), keys())
    assert out.kind == "callback_request" and out.after == ("HANGUP",)
    assert out.path == ("open-check:closed", "closed:played", "callback_request")
    assert sent == ['STREAM FILE hotline/closed ""']


def test_known_and_vip_callers() -> None:
    ivr = _ivr()
    sent, out = drive(run_flow(ivr, Caller("021", "4001", known=True, vip=True), NOW), keys())
    assert sent[0] == 'STREAM FILE hotline/welcome-back ""'
    assert out.priority == 20 and out.path == ("greeting", "vip", "queue:fault")
    _, plain = drive(run_flow(ivr, Caller("021", "4001", known=True), NOW), keys())
    assert plain.priority is None and plain.path == ("greeting", "queue:fault")


def test_caller_hangs_up_mid_menu() -> None:
    def answer(line: str) -> AgiReply:
        return AgiReply(200, "-1")

    sent, out = drive(run_flow(_ivr(), Caller("021", "4000"), NOW), answer)
    assert out.kind == "gone" and out.path == ("open-check:open", "hangup:caller")
    assert len(sent) == 1


def test_endless_sub_menu_hopping_is_cut() -> None:
    # 1 -> fault menu, * -> main, for ever
    presses = ["1", "*"] * MAX_STEPS
    _, out = drive(run_flow(_ivr(), Caller("021", "4000"), NOW), keys(*presses))
    assert out.queue == "general" and "steps:exceeded" in out.path


def test_survey_score_invalid_and_silence() -> None:
    ivr = _ivr()
    assert ivr.survey is not None
    sent, score = drive(run_survey(ivr, ivr.survey), keys("9", "4"))
    assert score == 4
    assert sent == [
        "GET DATA hotline/survey 6000 1",
        'STREAM FILE hotline/survey-invalid ""',
        "GET DATA hotline/survey 6000 1",
    ]
    _, none = drive(run_survey(ivr, ivr.survey), keys("", ""))
    assert none is None
