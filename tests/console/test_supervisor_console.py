"""The supervisor view in a real browser against ``hotline demo``: lamps change as calls
arrive, barge into a call, switch the monitor's mode, force-release, keyboard use,
reconnect with resume."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.harness import Client

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


# The console's client seen from the page: every eid that reaches the views (applied) and
# every event frame on the wire (arrived). A slow link: its login waits for the test's
# word (``mayLogin``, once an event was published meanwhile, to be missed), and its resume
# waits until a live event has come (the subscription is live from login), so that live
# events overtake the ones resume replays.
RECORD_AND_SLOW_SESSION = """() => {
  const c = window.hotline.client;
  const seen = { applied: [], arrived: [], resumedFrom: null, loginAt: null, mayLogin: false };
  window.seen = seen;
  const onEvent = c.handlers.onEvent;
  c.handlers.onEvent = (frame, at) => { seen.applied.push(frame.eid); onEvent(frame, at); };
  const onFrame = c._frame.bind(c);
  c._frame = (text, at) => {
    const frame = JSON.parse(text);
    if (frame.type === "event") seen.arrived.push(frame.eid);
    onFrame(text, at);
  };
  const command = c.command.bind(c);
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  c.command = async (op, params) => {
    if (op === "login") {
      for (let waited = 0; !seen.mayLogin && waited < 15000; waited += 50) await sleep(50);
      seen.loginAt = seen.arrived.length;
    } else if (op === "resume") {
      seen.resumedFrom = params.last_eid;
      for (let waited = 0; seen.arrived.length === seen.loginAt && waited < 15000; waited += 50) {
        await sleep(50);
      }
    }
    return command(op, params);
  };
}"""


def server_view(demo: Demo, topics: list[str], after: int | None) -> list[int]:
    """From a second WebSocket client as 90001 on ``topics``: the eids after ``after``
    the server has (what its ``resume`` replays), or with None the first live one."""

    async def ask() -> list[int]:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(demo.url.replace("http", "ws", 1) + "/ws") as ws,
        ):
            client = Client(ws)
            for op, params in (
                ("login", {"token": demo.token("90001")}),
                ("subscribe", {"topics": topics}),
            ):
                assert (await client.ask(op, **params))["ok"]
            if after is None:
                client.events.clear()
                while not client.events:
                    frame = json.loads(await ws.receive_str())
                    if frame["type"] == "event":
                        client.events.append(frame)
            else:
                reply = await client.ask("resume", last_eid=after)
                assert reply["ok"], reply
            return [e["eid"] for e in client.events if e["type"] == "event"]

    # The sync Playwright API runs an event loop in this thread: asyncio gets its own.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, ask()).result(timeout=20)


def test_reconnect_applies_missed_and_overtaken_events_in_order(demo: Demo, page_of: Any) -> None:
    page = page_of(demo.url)
    log_in(page, "90001", demo.password)
    page.evaluate(RECORD_AND_SLOW_SESSION)
    page.wait_for_function("() => window.seen.applied.length > 0", timeout=20_000)
    applied_before, arrived_before = page.evaluate(
        "() => { window.hotline.client.ws.close(); "
        "return [window.seen.applied.length, window.seen.arrived.length]; }"
    )
    page.wait_for_selector("#conn[data-state=reconnecting], #conn[data-state=connecting]")
    topics = page.evaluate("window.hotline.client.topics")
    # Published while the console is away: resume has to replay it.
    server_view(demo, topics, None)
    page.evaluate("window.seen.mayLogin = true")
    page.wait_for_selector("#conn[data-state=connected]")
    assert page.evaluate("window.hotline.client.connects") == 2
    # A few live events after the resume too.
    page.wait_for_function(
        f"() => window.seen.applied.length > {applied_before} + 3", timeout=20_000
    )
    seen = page.evaluate("window.seen")
    resumed_from = seen["resumedFrom"]
    assert resumed_from == seen["applied"][applied_before - 1]
    applied = seen["applied"][applied_before:]
    arrived = seen["arrived"][arrived_before:]
    # The race this is about did happen: a replayed event came after a live one.
    assert arrived != sorted(arrived), f"no live event overtook a replayed one: {arrived}"
    published = [eid for eid in server_view(demo, topics, resumed_from) if eid <= applied[-1]]
    # Everything the server has for these topics since the resume point, once, in order.
    assert applied == published
