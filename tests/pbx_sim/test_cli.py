"""``hotline sim`` as a standalone AMI server, driven by a third-party AMI client
(panoramisk): login, an inbound trunk call shows up as events, Originate works, and the
AMI secret never appears in the output."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from panoramisk import Manager

SECRET = "s3cret-not-in-logs"


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[tuple[int, asyncio.subprocess.Process]]:
    env = dict(os.environ, HOTLINE_SIM_SECRET=SECRET)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pbx_sim.cli",
        "--ami-port",
        "0",
        "--ami-user",
        "tester",
        "--agents",
        "2",
        "--answer-delay",
        "0.2",
        "--spool-dir",
        str(tmp_path / "spool"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 15)).decode()
    m = re.search(r"listening on 127\.0\.0\.1:(\d+) as tester", line)
    assert m, line
    try:
        yield int(m.group(1)), proc
    finally:
        if proc.returncode is None:
            proc.terminate()
        out, err = await asyncio.wait_for(proc.communicate(), 15)
        text = line + out.decode() + err.decode()
        assert SECRET not in text
        assert proc.returncode == 0


async def test_panoramisk_against_hotline_sim(sim: tuple[int, asyncio.subprocess.Process]) -> None:
    port, _proc = sim
    loop = asyncio.get_running_loop()
    manager = Manager(
        loop=loop,
        host="127.0.0.1",
        port=port,
        username="tester",
        secret=SECRET,
        ping_delay=60,
        reconnect_timeout=60,
    )
    events: list[dict[str, str]] = []
    arrived = asyncio.Event()
    logged_in = asyncio.Event()

    def on_event(_manager: object, event: dict[str, str]) -> None:
        events.append(dict(event))
        arrived.set()

    manager.register_event("*", on_event)
    manager.on_login = lambda _m: logged_in.set()
    await manager.connect()
    try:
        await asyncio.wait_for(logged_in.wait(), 10)
        pong = await manager.send_action({"Action": "Ping"})
        assert pong.success and pong.Ping == "Pong"

        # An inbound carrier call through the trunk context (a Local channel into
        # from-trunk, as transcript 10 does): it is answered and waits with music.
        queued = await manager.send_action(
            {
                "Action": "Originate",
                "Channel": "Local/5000@from-trunk",
                "Application": "Wait",
                "Data": "5",
                "CallerID": '"Alice" <0215550101>',
                "Async": "true",
            }
        )
        # panoramisk waits for the OriginateResponse of an async Originate: [Response, event]
        assert queued[0].success and queued[-1].Event == "OriginateResponse", queued
        assert queued[-1].Response == "Success", queued
        # Click-to-dial: agent 8001 first, then extension 8002.
        c2d = await manager.send_action(
            {
                "Action": "Originate",
                "Channel": "PJSIP/8001",
                "Context": "internal",
                "Exten": "8002",
                "Priority": "1",
                "Async": "true",
            }
        )
        assert c2d[0].success and c2d[-1].Response == "Success", c2d

        async def seen(pred: Callable[[dict[str, str]], bool]) -> None:
            while not any(pred(e) for e in events):
                arrived.clear()
                await arrived.wait()

        await asyncio.wait_for(
            seen(lambda e: e.get("Event") == "MusicOnHoldStart" and "from-trunk" in e["Channel"]),
            10,
        )
        await asyncio.wait_for(
            seen(lambda e: e.get("Event") == "BridgeEnter" and "8002" in e["Channel"]), 10
        )
        assert any(
            e.get("Event") == "Newchannel" and e.get("Context") == "from-trunk" for e in events
        )
        status = await manager.send_action({"Action": "CoreShowChannels"})
        assert status  # a list action answered as an event list
    finally:
        manager.close()


async def test_wrong_secret_is_refused(sim: tuple[int, asyncio.subprocess.Process]) -> None:
    port, _proc = sim
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    assert (await reader.readline()).startswith(b"Asterisk Call Manager/11.0.0")
    writer.write(b"Action: Login\r\nActionID: x\r\nUsername: tester\r\nSecret: nope\r\n\r\n")
    reply = await asyncio.wait_for(reader.read(), 5)  # answered after ~1 s, then closed
    assert b"Message: Authentication failed" in reply
    writer.close()
