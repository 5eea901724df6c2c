"""The web console in Debian's Firefox (``firefox-esr``, installed by ``.ci/run``), driven
over WebDriver BiDi (tests/console/firefox.py) against ``hotline demo``: a supervisor
sees the lamps and agents change live, barges into a live call and force-releases it;
an agent in a second window takes a call through screen pop, hangs up with F9 and wraps up.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import firefox
from .conftest import Demo, start_demo

pytestmark = pytest.mark.browser

# Counts every lamp and agent-state change the page paints from here on.
WATCH_CHANGES = """(() => {
  window.painted = {lamps: 0, agents: 0};
  new MutationObserver((records) => { window.painted.lamps += records.length; })
    .observe(document.getElementById("lamp-groups"),
             {attributes: true, attributeFilter: ["data-state"], subtree: true});
  new MutationObserver(() => { window.painted.agents += 1; })
    .observe(document.querySelector("#agents tbody"),
             {characterData: true, childList: true, subtree: true});
  return true;
})()"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    if not firefox.available():
        if os.environ.get("CI"):
            pytest.fail(f"{firefox.FIREFOX} is missing: .ci/run installs firefox-esr")
        pytest.skip(f"{firefox.FIREFOX} is missing (apt-get install -y firefox-esr)")
    # Busy: every simulated agent talks for minutes, the next caller waits for 80000.
    yield from start_demo(
        tmp_path_factory.mktemp("demo-firefox"),
        "--rate", "50", "--hold", "300", "--patience", "300", "--answer-delay", "1",
        "--person-answer-delay", "1",
    )  # fmt: skip


async def log_in(tab: firefox.Tab, agent_id: str, password: str, extension: str = "") -> None:
    await tab.wait_for_selector("#login-agent")
    await tab.type("#login-agent", agent_id)
    await tab.type("#login-password", password)
    if extension:
        await tab.type("#login-extension", extension)
    await tab.click("#login-submit")
    await tab.wait_for_selector("#conn[data-state=connected]")


def test_console_in_firefox(demo: Demo, tmp_path: Path, artifacts: Path) -> None:
    with firefox.launched(tmp_path / "profile", tmp_path / "firefox.log") as browser:
        asyncio.run(drive(demo, browser, artifacts))


async def drive(demo: Demo, browser: firefox.Launched, artifacts: Path) -> None:
    async with firefox.session(browser) as bidi:
        sup = await firefox.new_window(bidi)
        await sup.goto(f"{demo.url}/?lang=en")
        assert "Firefox" in await sup.evaluate("navigator.userAgent")
        assert await sup.evaluate("document.visibilityState") == "visible"
        await log_in(sup, "90001", demo.password)
        # The lamp field from the snapshot, then live changes painted as they arrive.
        await sup.wait_for(
            "document.querySelectorAll('#lamp-groups button.lamp:not([data-state=unknown])')"
            ".length >= 14"
        )
        await sup.wait_for_selector("#agents tr[data-agent='80001'] td.state")
        assert await sup.evaluate(WATCH_CHANGES)
        await sup.wait_for("window.painted.lamps > 0 && window.painted.agents > 0", within=30)

        # The agent in a second window: ready with F2, a caller pops up on the screen.
        desk = await firefox.new_window(bidi)
        await desk.goto(f"{demo.url}/?lang=en")
        await log_in(desk, "80000", demo.password, extension="8000")
        await desk.wait_for_selector("#my-state[data-state=not_ready]")
        assert await sup.evaluate("document.visibilityState") == "visible"
        await desk.click("#my-state")  # the page has the keyboard focus
        await desk.press("F2")
        await desk.wait_for_selector("#pop[data-state=ringing], #pop[data-state=on_call]", 30)
        desk_call = await desk.evaluate("window.hotline.desk.call.call_id")
        caller = await desk.evaluate("document.getElementById('pop-caller').textContent")
        assert caller.startswith("021555")
        await desk.wait_for_selector("#pop[data-state=on_call]")
        await desk.screenshot(artifacts / "firefox-desk-screen-pop.png")
        # The supervisor's lamp for 8000 lights with the agent's call.
        await sup.wait_for_selector("#lamp-groups button.lamp[data-ext='8000'][data-state=busy]")

        # Barge into another live call, then force-release it.
        call_id = await sup.wait_for(
            "[...document.querySelectorAll('#calls tr[data-state=talking]')]"
            f".map(r => r.dataset.call).find(c => c !== {json.dumps(desk_call)})",
            within=30,
        )
        row = f"#calls tr[data-call='{call_id}']"
        await sup.click(f"{row} button[data-mode=barge]")
        await sup.wait_for_selector(f"{row}[data-monitor=barge]")
        await sup.wait_for_selector("#lamp-groups button.lamp[data-ext='9001'][data-state=busy]")
        await sup.screenshot(artifacts / "firefox-supervisor-barge.png")
        await sup.type("#release-reason", "firefox: force release")
        await sup.click(f"{row} button[data-op='call.release']")
        await sup.wait_for(f"document.querySelector({json.dumps(row)}) === null")
        await sup.wait_for_selector("#lamp-groups button.lamp[data-ext='9001'][data-state=idle]")
        token = demo.token("90001")
        record = demo.rest("GET", f"/api/calls/{call_id}", token)
        assert record["ended_at"] is not None
        assert record["released_by"] == "90001"
        assert record["release_reason"] == "firefox: force release"

        # The agent hangs up with F9 and wraps up; the record has it.
        await desk.click("#my-state")
        await desk.press("F9")
        await desk.wait_for_selector("#wrap-fields:not([disabled])")
        await desk.click("input[name=disposition][value=inquiry]")
        await desk.type("#wrap-notes", "wrapped up in Firefox")
        await desk.click("#wrap-submit")
        await desk.wait_for_selector("#wrap-fields[disabled]")
        record = demo.rest("GET", f"/api/calls/{desk_call}", token)
        assert record["disposition"] == "inquiry"
        assert record["notes"] == "wrapped up in Firefox"
        assert not await sup.evaluate(
            "document.querySelectorAll('#errors .error:not(.notice)').length"
        )
        assert not desk.errors(), desk.errors()
