"""The supervisor view in a real browser against ``hotline demo``: lamps change as calls
arrive, barge into a call, switch the monitor's mode, force-release, keyboard use,
reconnect with resume."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import Demo, log_in, start_demo

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    # Busy enough that calls arrive every second or two; long talks to barge into.
    yield from start_demo(
        tmp_path_factory.mktemp("demo-supervisor"),
        "--rate", "50", "--hold", "300", "--patience", "300", "--answer-delay", "1",
    )  # fmt: skip


def lamp_states(page: Any) -> dict[str, str]:
    states: dict[str, str] = page.eval_on_selector_all(
        "#lamp-groups button.lamp",
        "els => Object.fromEntries(els.map(e => [e.dataset.ext, e.dataset.state]))",
    )
    return states


def test_lamps_follow_calls(demo: Demo, page_of: Any, artifacts: Path) -> None:
    page = page_of(demo.url)
    log_in(page, "90001", demo.password)
    # The configured groups are the lamp field's panels; every extension has a lamp.
    page.wait_for_selector(".lamp-group[data-group=fault-team] button.lamp[data-ext='8001']")
    page.wait_for_function(
        "() => document.querySelectorAll('#lamp-groups button.lamp:not([data-state=unknown])')"
        ".length >= 14"
    )
    before = lamp_states(page)
    assert set(before) >= {f"80{n:02d}" for n in range(13)} | {"9001"}
    # Calls arrive: some agent's lamp lights (ringing or busy) while the page watches.
    page.wait_for_function(
        "() => [...document.querySelectorAll('#lamp-groups button.lamp')]"
        ".some(b => b.dataset.state === 'busy')",
        timeout=30_000,
    )
    after = lamp_states(page)
    assert after != before or any(s == "busy" for s in before.values())
    assert any(s == "busy" for s in after.values())
    # Hover text: state, the party and how long.
    busy = next(ext for ext, s in after.items() if s == "busy")
    lamp = page.locator(f"#lamp-groups button.lamp[data-ext='{busy}']").first
    lamp.hover()
    title = lamp.get_attribute("title") or ""
    assert busy in title and "busy" in title
    # Agents with their state; queues; trunk occupancy x/30.
    page.wait_for_selector("#agents tr[data-agent='80001'] td.state")
    assert page.locator("#queues tr[data-queue=general]").count() == 1
    page.wait_for_function(
        "() => /^[0-9]+\\/30$/.test(document.querySelector('#trunks .trunk .num')?.textContent)"
    )
    page.screenshot(path=str(artifacts / "supervisor-lamps.png"), full_page=True)


def test_barge_then_force_release(demo: Demo, page_of: Any, artifacts: Path) -> None:
    page = page_of(demo.url)
    log_in(page, "90001", demo.password)
    row = page.locator("#calls tr[data-state=talking]").first
    row.wait_for(timeout=30_000)
    call_id = row.get_attribute("data-call")
    assert call_id
    row.locator("button[data-op='call.monitor'][data-mode=barge]").click()
    page.wait_for_selector(".notice:has-text('Barge in')")
    # The supervisor's own phone (9001) is on the call: its lamp lights.
    page.wait_for_selector("#lamp-groups button.lamp[data-ext='9001'][data-state=busy]")
    page.screenshot(path=str(artifacts / "supervisor-barge.png"), full_page=True)
    page.fill("#release-reason", "test: force release")
    page.locator(f"#calls tr[data-call='{call_id}'] button[data-op='call.release']").click()
    # The call ends for everyone: its row goes, the spy's phone goes back to idle.
    page.wait_for_selector(f"#calls tr[data-call='{call_id}']", state="detached")
    page.wait_for_selector("#lamp-groups button.lamp[data-ext='9001'][data-state=idle]")
    token = demo.token("90001")
    record = demo.rest("GET", f"/api/calls/{call_id}", token)
    assert record["call_id"] == call_id
    assert record["ended_at"] is not None
    assert not page.locator("#errors .error:not(.notice)").count()


def test_monitor_switches_mode_in_one_session(demo: Demo, page_of: Any, artifacts: Path) -> None:
    page = page_of(demo.url)
    log_in(page, "90001", demo.password)
    row = page.locator("#calls tr[data-state=talking]").first
    row.wait_for(timeout=30_000)
    call_id = row.get_attribute("data-call")
    assert call_id
    row = page.locator(f"#calls tr[data-call='{call_id}']")
    # Every state 9001's lamp goes through from here on: one session rings the phone once.
    page.evaluate(
        """() => {
          const lamp = document.querySelector("#lamp-groups button.lamp[data-ext='9001']");
          window.spyLamp = [lamp.dataset.state];
          new MutationObserver(() => window.spyLamp.push(lamp.dataset.state))
            .observe(lamp, {attributes: true, attributeFilter: ["data-state"]});
        }"""
    )
    # Keyboard only: focus the listen key and press Enter.
    row.locator("button[data-mode=listen]").focus()
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#calls tr[data-call='{call_id}'][data-monitor=listen]")
    page.wait_for_selector("#lamp-groups button.lamp[data-ext='9001'][data-state=busy]")
    assert row.locator("button[data-mode=listen]").get_attribute("aria-pressed") == "true"
    assert "listening" in row.locator("td.monitor").inner_text()
    for mode, shown in (("whisper", "whispering"), ("barge", "barged in"), ("listen", "listening")):
        row.locator(f"button[data-mode={mode}]").click()
        page.wait_for_selector(f"#calls tr[data-call='{call_id}'][data-monitor={mode}]")
        assert shown in row.locator("td.monitor").inner_text()
        assert row.locator(f"button[data-mode={mode}]").get_attribute("aria-pressed") == "true"
        if mode == "barge":
            page.screenshot(path=str(artifacts / "supervisor-monitor-barge.png"), full_page=True)
    # The same spy all along: the phone went busy once and never rang again.
    states = page.evaluate("window.spyLamp")
    first_busy = states.index("busy")
    assert "ringing" not in states[first_busy:] and "idle" not in states[first_busy:], states
    # Stop: the spy hangs up, the keys show no mode, the call goes on.
    row.locator("button[data-mode=stop]").click()
    page.wait_for_selector(f"#calls tr[data-call='{call_id}'][data-monitor='']")
    page.wait_for_selector("#lamp-groups button.lamp[data-ext='9001'][data-state=idle]")
    assert row.get_attribute("data-state") == "talking"
    assert row.locator("button[data-mode=stop]").is_disabled()
    assert not page.locator("#errors .error:not(.notice)").count()


def test_errors_are_shown_and_keyboard_works(demo: Demo, page_of: Any) -> None:
    page = page_of(demo.url)
    # A wrong password: the server's message is on the screen.
    page.fill("#login-agent", "90001")
    page.fill("#login-password", "wrong")
    page.click("#login-submit")
    page.wait_for_selector("#errors .error[data-code=unauthenticated]")
    log_in(page, "90001", demo.password)
    # Keyboard only: Tab reaches a lamp (a real button), Space selects it.
    page.wait_for_selector("#lamp-groups button.lamp[data-ext='8001']")
    page.focus("#act-clear")
    for _ in range(50):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('lamp')"):
            break
    focused = page.evaluate("document.activeElement.dataset.ext")
    assert focused
    page.keyboard.press("Space")
    selected = page.locator(f"#lamp-groups button.lamp[data-ext='{focused}']").first
    assert selected.get_attribute("aria-pressed") == "true"
    assert page.is_enabled("#act-direct") and page.is_enabled("#act-select-call")
    # A refused command shows the server's reply: a group deleted after the page loaded.
    page.keyboard.press("Escape")


def test_server_refusal_is_shown(demo: Demo, page_of: Any) -> None:
    token = demo.token("90001")
    demo.rest("POST", "/api/groups", token, {"name": "gone-soon", "extensions": ["8001"]})
    page = page_of(demo.url)
    log_in(page, "90001", demo.password)
    button = page.locator("#groups button[data-group=gone-soon]")
    button.wait_for()
    demo.rest("DELETE", "/api/groups/gone-soon", token)
    button.click()
    error = page.locator("#errors .error[data-code=not_found]")
    error.wait_for()
    assert "gone-soon" in error.inner_text()


def test_reconnects_and_resumes(demo: Demo, page_of: Any) -> None:
    page = page_of(demo.url)
    log_in(page, "90001", demo.password)
    before = page.evaluate("window.hotline.client.lastEid")
    # The network drops: the console reconnects by itself and resumes after lastEid.
    page.evaluate("window.hotline.client.ws.close()")
    page.wait_for_selector("#conn[data-state=reconnecting], #conn[data-state=connecting]")
    page.wait_for_selector("#conn[data-state=connected]")
    assert page.evaluate("window.hotline.client.connects") == 2
    page.wait_for_function(f"() => window.hotline.client.lastEid > {before}", timeout=30_000)
