"""The supervisor view's conference and group panels in a real browser against
``hotline demo``: a select-call conference with add / mute / unmute / drop / end and
every member's state from the server's ``conference.*`` events; group create, edit,
call and delete, checked over REST."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import Demo, log_in, start_demo

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    # Next to no calls: the agents' phones are free to join conferences.
    yield from start_demo(
        tmp_path_factory.mktemp("demo-conference"), "--rate", "0.01", "--answer-delay", "0.5"
    )


def member(page: Any, room: str, ext: str) -> Any:
    return page.locator(f"#conferences li[data-room='{room}'] tr[data-ext='{ext}']")


def wait_member(page: Any, room: str, ext: str, **attrs: str) -> None:
    match = "".join(f"[data-{k}='{v}']" for k, v in attrs.items())
    page.wait_for_selector(f"#conferences li[data-room='{room}'] tr[data-ext='{ext}']{match}")


def test_select_call_conference_keys(demo: Demo, page_of: Any, artifacts: Path) -> None:
    page = page_of(demo.url)
    log_in(page, "90001", demo.password)
    page.wait_for_selector("#conferences li.empty")
    for ext in ("8001", "8002"):
        page.locator(f"#lamp-groups button.lamp[data-ext='{ext}']").first.click()
    page.click("#act-select-call")
    conf = page.locator("#conferences li.conference").first
    conf.wait_for()
    room = conf.get_attribute("data-room")
    assert room
    # The owner's phone and both extensions join: the rows follow the PBX's events.
    for ext in ("9001", "8001", "8002"):
        wait_member(page, room, ext, state="joined")
    assert "Select-call" in conf.locator("h3").inner_text()
    # Add one more from the keyboard: type into the room's field, Enter.
    field = conf.locator("input[name=extensions]")
    field.focus()
    page.keyboard.type("8003")
    page.keyboard.press("Enter")
    wait_member(page, room, "8003", state="joined")
    assert field.input_value() == ""
    # Mute 8002: the row says so when the PBX reports it; the key becomes unmute.
    member(page, room, "8002").locator("button[data-op='conference.mute']").click()
    wait_member(page, room, "8002", muted="true")
    key = member(page, room, "8002").locator("button[data-op='conference.unmute']")
    assert key.inner_text() == "Unmute" and key.get_attribute("aria-pressed") == "true"
    assert "muted" in member(page, room, "8002").locator("td").nth(2).inner_text()
    page.screenshot(path=str(artifacts / "supervisor-conference.png"), full_page=True)
    key.click()
    wait_member(page, room, "8002", muted="false")
    # Drop 8001: it leaves the room, its key is spent, the others stay.
    member(page, room, "8001").locator("button[data-op='conference.drop']").click()
    page.wait_for_selector(
        f"#conferences li[data-room='{room}'] tr[data-ext='8001']:is([data-state=dropped],"
        "[data-state=left])"
    )
    assert member(page, room, "8001").locator("button[data-op='conference.drop']").is_disabled()
    page.wait_for_selector("#lamp-groups button.lamp[data-ext='8001'][data-state=idle]")
    wait_member(page, room, "8003", state="joined")
    # End: the conference goes from the panel and its phones go idle.
    conf.locator("button[data-op='conference.end']").click()
    page.wait_for_selector(f"#conferences li[data-room='{room}']", state="detached")
    page.wait_for_selector("#conferences li.empty")
    for ext in ("8002", "8003", "9001"):
        page.wait_for_selector(f"#lamp-groups button.lamp[data-ext='{ext}'][data-state=idle]")
    assert not page.locator("#errors .error:not(.notice)").count()


def test_refused_conference_key_is_shown(demo: Demo, page_of: Any) -> None:
    page = page_of(demo.url, lang="zh")
    log_in(page, "90001", demo.password)
    page.locator("#lamp-groups button.lamp[data-ext='8004']").first.click()
    page.click("#act-select-call")
    conf = page.locator("#conferences li.conference").first
    conf.wait_for()
    room = conf.get_attribute("data-room")
    assert room
    # Chinese labels on the panel, as on the seeds' consoles.
    assert conf.locator("button[data-op='conference.end']").inner_text() == "结束会议"
    wait_member(page, room, "8004", state="joined")
    # An extension that does not exist: the server refuses, the message is on screen.
    conf.locator("input[name=extensions]").fill("abc")
    conf.locator("button[type=submit]").click()
    page.wait_for_selector("#errors .error[data-code=invalid_params]")
    conf.locator("button[data-op='conference.end']").click()
    page.wait_for_selector(f"#conferences li[data-room='{room}']", state="detached")


def test_group_create_edit_call_delete(demo: Demo, page_of: Any, artifacts: Path) -> None:
    token = demo.token("90001")
    page = page_of(demo.url)
    log_in(page, "90001", demo.password)
    # Create from the form, Enter in the last field.
    page.fill("#group-name", "night-shift")
    page.fill("#group-extensions", "8005, 8006")
    page.fill("#group-description", "after 22:00")
    page.focus("#group-description")
    page.keyboard.press("Enter")
    item = page.locator("#groups li[data-group=night-shift]")
    item.wait_for()
    assert "8005, 8006" in item.inner_text()
    stored = demo.rest("GET", "/api/groups", token)["items"]
    group = next(g for g in stored if g["name"] == "night-shift")
    assert group["extensions"] == ["8005", "8006"] and group["description"] == "after 22:00"
    # The lamp field has a panel for the new group.
    page.wait_for_selector(".lamp-group[data-group=night-shift] button.lamp[data-ext='8006']")
    # Edit: the form is filled in, the name is fixed; change the extensions.
    item.locator("button[data-action=edit]").click()
    assert page.input_value("#group-name") == "night-shift"
    assert page.evaluate("document.activeElement.id") == "group-extensions"
    page.fill("#group-extensions", "8005 8007")
    page.click("#group-save")
    page.wait_for_selector(".lamp-group[data-group=night-shift] button.lamp[data-ext='8007']")
    panel = page.locator(".lamp-group[data-group=night-shift]")
    assert not panel.locator("button.lamp[data-ext='8006']").count()
    stored = demo.rest("GET", "/api/groups", token)["items"]
    assert next(g for g in stored if g["name"] == "night-shift")["extensions"] == ["8005", "8007"]
    # A second group with the same name is refused with the server's code.
    page.fill("#group-name", "night-shift")
    page.fill("#group-extensions", "8008")
    page.click("#group-save")
    page.wait_for_selector("#errors .error[data-code=conflict]")
    # Group call: a conference of the group's phones, shown as a group call.
    item.locator("button[data-action=call]").click()
    conf = page.locator("#conferences li.conference").first
    conf.wait_for()
    room = conf.get_attribute("data-room")
    assert room
    wait_member(page, room, "8005", state="joined")
    wait_member(page, room, "8007", state="joined")
    assert "night-shift" in conf.locator("h3").inner_text()
    page.screenshot(path=str(artifacts / "supervisor-groups.png"), full_page=True)
    conf.locator("button[data-op='conference.end']").click()
    page.wait_for_selector(f"#conferences li[data-room='{room}']", state="detached")
    # Delete takes a second press: after the first the group is still stored.
    delete = item.locator("button[data-action=delete]")
    delete.click()
    assert delete.inner_text() == "Press again to delete"
    assert any(g["name"] == "night-shift" for g in demo.rest("GET", "/api/groups", token)["items"])
    delete.click()
    item.wait_for(state="detached")
    page.wait_for_selector(".lamp-group[data-group=night-shift]", state="detached")
    assert all(g["name"] != "night-shift" for g in demo.rest("GET", "/api/groups", token)["items"])
