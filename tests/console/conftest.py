"""Browser tests of the web console: Debian's chromium driven by Playwright, against a
real ``hotline demo`` (one per test module) on a free port.

Chromium comes from apt (``.ci/run`` installs it; Playwright never downloads a browser
here). Screenshots go to ``artifacts/console/`` (ignored by git) or ``$HOTLINE_ARTIFACTS``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cti.bench.console import CHROMIUM, CHROMIUM_ARGS

playwright_api = pytest.importorskip("playwright.sync_api")

PASSWORD = "console-test-pw"
REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Demo:
    url: str
    password: str
    process: subprocess.Popen[str]

    def rest(self, method: str, path: str, token: str | None = None, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")

    def token(self, agent_id: str) -> str:
        reply = self.rest(
            "POST", "/api/login", body={"agent_id": agent_id, "password": self.password}
        )
        token: str = reply["token"]
        return token


def start_demo(tmp: Path, *options: str) -> Iterator[Demo]:
    """``hotline demo`` as a subprocess, as a person runs it; stopped with SIGINT."""
    port = _free_port()
    hotline = Path(sys.executable).with_name("hotline")
    command = [str(hotline)] if hotline.exists() else [sys.executable, "-m", "cti.cli"]
    command += ["demo", "--http-port", str(port), "--demo-password", PASSWORD, "--var", str(tmp)]
    command += list(options)
    log = open(tmp / "demo.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True, cwd=REPO)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "/", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"hotline demo did not start: {(tmp / 'demo.log').read_text()}")
            time.sleep(0.1)
        yield Demo(url, PASSWORD, process)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()


# Per module, not per session: the sync Playwright API keeps an event loop running in
# this thread while it is open, which the asyncio tests after these would trip over.
@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs it with apt-get")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    path = Path(os.environ.get("HOTLINE_ARTIFACTS", REPO / "artifacts")) / "console"
    path.mkdir(parents=True, exist_ok=True)
    print(f"\nconsole screenshots: {path}")
    return path


class PageErrors:
    """JavaScript errors of a page: a test fails if the console threw."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def check(self) -> None:
        assert not self.errors, self.errors


@pytest.fixture
def page_of(chromium: Any) -> Iterator[Any]:
    """``page_of(url)``: a fresh browser context and page (English labels)."""
    contexts: list[Any] = []
    watchers: list[PageErrors] = []

    def open_page(url: str, *, lang: str = "en") -> Any:
        context = chromium.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        watchers.append(PageErrors(page))
        page.goto(f"{url}/?lang={lang}")
        return page

    yield open_page
    for context in contexts:
        context.close()
    for watcher in watchers:
        watcher.check()


def log_in(page: Any, agent_id: str, password: str, extension: str = "") -> None:
    page.fill("#login-agent", agent_id)
    page.fill("#login-password", password)
    if extension:
        page.fill("#login-extension", extension)
    page.click("#login-submit")
    page.wait_for_selector("#conn[data-state=connected]")


def have_chromium() -> bool:
    return shutil.which(CHROMIUM) is not None
