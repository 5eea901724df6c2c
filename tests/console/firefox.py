"""Debian's Firefox (``firefox-esr``) driven over WebDriver BiDi, the W3C protocol its
built-in remote agent speaks (``--remote-debugging-port``): no geckodriver, no
Playwright browser build, just aiohttp's WebSocket client.

Only what the console tests need: navigate, evaluate, wait for a condition, real
pointer clicks and key presses (``input.performActions``), screenshots, and the page's
JavaScript errors (``log.entryAdded``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import aiohttp

FIREFOX: Final = os.environ.get("HOTLINE_FIREFOX", "/usr/bin/firefox-esr")

# WebDriver key codes (W3C WebDriver §17.4.2) for the keys the tests press.
KEYS: Final = {
    "Enter": "\ue007",
    "Tab": "\ue004",
    "Space": " ",
    "Escape": "\ue00c",
    "F2": "\ue032",
    "F9": "\ue039",
}

# Nothing but 127.0.0.1: Firefox's own services (updates, telemetry, remote settings,
# safe browsing, captive portal checks...) are switched off in the throwaway profile.
PREFS: Final = {
    "app.update.disabledForTesting": True,
    "app.normandy.enabled": False,
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "browser.newtabpage.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "browser.safebrowsing.update.enabled": False,
    "browser.topsites.contile.enabled": False,
    "browser.region.network.url": "",
    "datareporting.policy.dataSubmissionEnabled": False,
    "datareporting.healthreport.uploadEnabled": False,
    "toolkit.telemetry.enabled": False,
    "toolkit.telemetry.server": "data:,",
    "extensions.update.enabled": False,
    "extensions.getAddons.cache.enabled": False,
    "geo.provider.network.url": "",
    "media.gmp-manager.url": "data:,",
    "messaging-system.rsexperimentloader.enabled": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "network.dns.disablePrefetch": True,
    "network.prefetch-next": False,
    "services.settings.server": "data:,#remote-settings-dummy/v1",
}


class BiDiError(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class BiDi:
    """One WebDriver BiDi session: commands with ids, replies matched, events kept."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.log: list[dict[str, Any]] = []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            frame = json.loads(msg.data)
            if frame.get("type") == "event":
                if frame.get("method") == "log.entryAdded":
                    self.log.append(frame["params"])
                continue
            future = self.pending.pop(frame.get("id", -1), None)
            if future is not None and not future.done():
                future.set_result(frame)
        for future in self.pending.values():
            if not future.done():
                future.set_exception(BiDiError("Firefox closed the BiDi connection"))

    async def send(self, method: str, params: dict[str, Any], within: float = 30) -> Any:
        command_id = next(self.ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[command_id] = future
        await self.ws.send_str(json.dumps({"id": command_id, "method": method, "params": params}))
        async with asyncio.timeout(within):
            frame = await future
        if frame.get("type") == "error":
            raise BiDiError(f"{method}: {frame.get('error')}: {frame.get('message')}")
        return frame["result"]

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.send("session.end", {}, within=5)
        await self.ws.close()
        self.reader.cancel()


class Tab:
    """A top-level browsing context of the session."""

    def __init__(self, bidi: BiDi, context: str) -> None:
        self.bidi = bidi
        self.context = context

    async def goto(self, url: str) -> None:
        await self.bidi.send(
            "browsingContext.navigate", {"context": self.context, "url": url, "wait": "complete"}
        )

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (awaited if a promise), as JSON."""
        result = await self._evaluate(f"(async () => JSON.stringify(await ({expression})))()")
        value = result.get("value")
        return None if value is None or value == "undefined" else json.loads(value)

    async def _evaluate(self, expression: str) -> dict[str, Any]:
        reply = await self.bidi.send(
            "script.evaluate",
            {
                "expression": expression,
                "target": {"context": self.context},
                "awaitPromise": True,
                "resultOwnership": "none",
            },
        )
        if reply.get("type") == "exception":
            details = reply.get("exceptionDetails", {})
            raise BiDiError(f"script: {details.get('text')}")
        result: dict[str, Any] = reply["result"]
        return result

    async def wait_for(self, condition: str, within: float = 15) -> Any:
        """Poll a JavaScript condition until it is truthy; its value."""
        deadline = time.monotonic() + within
        while True:
            value = await self.evaluate(condition)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"not within {within} s: {condition}")
            await asyncio.sleep(0.1)

    async def wait_for_selector(self, selector: str, within: float = 15) -> None:
        await self.wait_for(f"document.querySelector({json.dumps(selector)}) !== null", within)

    async def _node(self, selector: str) -> dict[str, Any]:
        await self.wait_for(
            f"(e => e !== null && !e.disabled && e.getClientRects().length > 0)"
            f"(document.querySelector({json.dumps(selector)}))"
        )
        node = await self._evaluate(
            f"(e => (e.scrollIntoView({{block: 'center'}}), e))"
            f"(document.querySelector({json.dumps(selector)}))"
        )
        if node.get("type") != "node":
            raise BiDiError(f"{selector}: not an element")
        return {"sharedId": node["sharedId"]}

    async def click(self, selector: str) -> None:
        """A real mouse click in the middle of the element (as a person does)."""
        element = await self._node(selector)
        pointer = {
            "type": "pointer",
            "id": "mouse",
            "parameters": {"pointerType": "mouse"},
            "actions": [
                {
                    "type": "pointerMove",
                    "x": 0,
                    "y": 0,
                    "origin": {"type": "element", "element": element},
                },
                {"type": "pointerDown", "button": 0},
                {"type": "pointerUp", "button": 0},
            ],
        }
        await self._perform([pointer])

    async def type(self, selector: str, text: str) -> None:
        """Click into a field and type the text key by key."""
        await self.click(selector)
        await self._perform([_keys(text)])

    async def press(self, key: str) -> None:
        await self._perform([_keys(KEYS[key])])

    async def _perform(self, actions: list[dict[str, Any]]) -> None:
        await self.bidi.send("input.performActions", {"context": self.context, "actions": actions})
        await self.bidi.send("input.releaseActions", {"context": self.context})

    async def screenshot(self, path: Path) -> None:
        reply = await self.bidi.send(
            "browsingContext.captureScreenshot", {"context": self.context, "origin": "document"}
        )
        await asyncio.to_thread(path.write_bytes, base64.b64decode(reply["data"]))

    def errors(self) -> list[str]:
        """The page's uncaught JavaScript errors so far."""
        return [
            str(entry.get("text"))
            for entry in self.bidi.log
            if entry.get("type") == "javascript" and entry.get("level") == "error"
        ]


def _keys(text: str) -> dict[str, Any]:
    actions: list[dict[str, str]] = []
    for char in text:
        actions += [{"type": "keyDown", "value": char}, {"type": "keyUp", "value": char}]
    return {"type": "key", "id": "keyboard", "actions": actions}


def available() -> bool:
    return shutil.which(FIREFOX) is not None


@dataclass
class Launched:
    process: subprocess.Popen[bytes]
    port: int
    log: Path


@contextlib.contextmanager
def launched(profile: Path, log: Path) -> Iterator[Launched]:
    """Headless Firefox with its remote agent on a free port, in a throwaway profile."""
    profile.mkdir(parents=True, exist_ok=True)
    (profile / "user.js").write_text(
        "".join(f'user_pref("{k}", {json.dumps(v)});\n' for k, v in PREFS.items())
    )
    port = _free_port()
    command = [FIREFOX, "--headless", "--no-remote", "--profile", str(profile)]
    command += ["--remote-debugging-port", str(port), "--remote-allow-hosts", "127.0.0.1"]
    with open(log, "w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield Launched(process, port, log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@contextlib.asynccontextmanager
async def session(firefox: Launched) -> AsyncIterator[BiDi]:
    """One WebDriver BiDi session with the page's log subscribed."""
    async with aiohttp.ClientSession() as http:
        ws = await _connect(http, firefox)
        bidi = BiDi(ws)
        try:
            await bidi.send("session.new", {"capabilities": {"alwaysMatch": {}}})
            await bidi.send("session.subscribe", {"events": ["log.entryAdded"]})
            yield bidi
        finally:
            await bidi.close()


async def _connect(
    http: aiohttp.ClientSession, firefox: Launched
) -> aiohttp.ClientWebSocketResponse:
    url = f"ws://127.0.0.1:{firefox.port}/session"
    deadline = time.monotonic() + 60
    while True:
        try:
            return await http.ws_connect(url, max_msg_size=64 * 1024 * 1024)
        except aiohttp.ClientError as error:
            if firefox.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"Firefox's remote agent did not start on {url}; see {firefox.log}"
                ) from error
            await asyncio.sleep(0.2)


async def new_window(bidi: BiDi, width: int = 1280, height: int = 900) -> Tab:
    """A page in a window of its own: visible, so its animation frames run (a tab behind
    another one gets none, and the console draws in animation frames)."""
    reply = await bidi.send("browsingContext.create", {"type": "window"})
    tab = Tab(bidi, reply["context"])
    await bidi.send(
        "browsingContext.setViewport",
        {"context": tab.context, "viewport": {"width": width, "height": height}},
    )
    return tab
