"""The agent desktop in a real browser against ``hotline demo``: agent 80000 at
extension 8000 (the person's seat) takes a call through screen pop and wrap-up.

The demo runs without simulated agents, so the waiting callers can only go to 80000;
8000's phone is pbx_sim's and answers after a second (``--person-answer-delay``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import Demo, log_in, start_demo

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    yield from start_demo(
        tmp_path_factory.mktemp("demo-desk"),
        "--agents", "0", "--rate", "30", "--hold", "600", "--patience", "600",
        "--person-answer-delay", "1",
    )  # fmt: skip


def test_call_through_screen_pop_and_wrap_up(demo: Demo, page_of: Any, artifacts: Path) -> None:
    page = page_of(demo.url)
    log_in(page, "80000", demo.password, extension="8000")
    page.wait_for_selector("#my-state[data-state=not_ready]")
    # Keyboard: F2 is "ready".
    page.keyboard.press("F2")
    page.wait_for_selector("#my-state[data-state=ready], #my-state[data-state=ringing]")
    # A waiting caller is offered to 80000: the screen pop appears while the phone rings.
    page.wait_for_selector("#pop[data-state=ringing], #pop[data-state=on_call]", timeout=30_000)
    call_id = page.evaluate("window.hotline.desk.call.call_id")
    caller = page.inner_text("#pop-caller")
    assert caller.startswith("021555")
    # The demo's callers are unknown numbers: the new-customer form, number filled in.
    assert page.is_visible("#new-customer")
    assert page.input_value("#new-phone") == caller.split(" ")[0]
    page.screenshot(path=str(artifacts / "desk-screen-pop.png"), full_page=True)
    page.fill("#new-name", "测试客户 Test")
    page.fill("#new-address", "Futian")
    page.click("#new-save")
    page.wait_for_selector("#pop-customer:not([hidden])")
    assert page.inner_text("#cust-name") == "测试客户 Test"
    # The phone answers: the agent is on the call, the controls come alive.
    page.wait_for_selector("#pop[data-state=on_call]")
    page.wait_for_selector("#my-state[data-state=on_call]")
    assert page.is_enabled("#btn-hangup") and page.is_enabled("#btn-blind")
    # Hold: the server's answer is on the screen (a notice, or its error until hold lands).
    page.keyboard.press("F4")
    page.wait_for_selector("#errors .error")
    # A transfer to something that is not a number is refused before it is sent.
    page.fill("#transfer-to", "abc")
    page.click("#btn-blind")
    page.wait_for_selector("#errors .error[data-code=invalid_params]")
    # F9 hangs up; the wrap-up form opens.
    page.keyboard.press("F9")
    page.wait_for_selector("#wrap-fields:not([disabled])")
    page.check("input[name=disposition][value=complaint]")
    page.fill("#wrap-notes", "wrapped up from the browser")
    page.check("#wrap-resolved")
    page.screenshot(path=str(artifacts / "desk-wrap-up.png"), full_page=True)
    page.focus("#wrap-notes")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#wrap-fields[disabled]")
    # The record has what the agent entered.
    token = demo.token("90001")
    record = demo.rest("GET", f"/api/calls/{call_id}", token)
    assert record["disposition"] == "complaint"
    assert record["notes"] == "wrapped up from the browser"
    assert record["resolved"] is True
    customers = demo.rest("GET", f"/api/customers?phone={caller.split(' ')[0]}", token)
    assert [c["name"] for c in customers["items"]] == ["测试客户 Test"]
