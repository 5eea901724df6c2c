"""Fixtures and helpers of the softphone tests: the Asterisk of ``softphone-config/``
(agents 8001..8008, carriers ``e1trunk`` and ``bigtrunk``) in the private network
namespace of conftest.py, an AMI connection that records events, and Softphones."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from panoramisk import Manager

from cti.asterisk.instance import AsteriskInstance, Ports
from cti.asterisk.netns import PrivateNetns
from cti.asterisk.provision import Install
from pbx_sim.sip import Phone, Softphones

from .conftest import AMI_SECRET, AMI_USER

SOFTPHONE_CONFIG = Path(__file__).parent / "softphone-config"
PORTS = Ports(ami=15038, sip=15060)
TRUNK_USER, TRUNK_PASSWORD = "e1trunk", "E1trunkPw"


def agent_password(extension: str) -> str:
    return f"Agent{extension}pw"


async def answered(phone: Phone, count: int, *, within: float) -> None:
    """Read the phone's events until ``count`` calls were answered."""
    async with asyncio.timeout(within):
        seen = 0
        while seen < count:
            event = await phone.events.get()
            assert event.kind != "hung_up", event
            seen += event.kind == "answered"


@pytest.fixture(scope="module")
def sip_asterisk_module(
    asterisk_install: Install,
    asterisk_netns: PrivateNetns,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[AsteriskInstance]:
    instance = AsteriskInstance(
        asterisk_install,
        SOFTPHONE_CONFIG,
        PORTS,
        state_dir=tmp_path_factory.mktemp("asterisk-state"),
    )
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture
def sip_asterisk(sip_asterisk_module: AsteriskInstance) -> AsteriskInstance:
    if not sip_asterisk_module.status().running:
        sip_asterisk_module.start()
    return sip_asterisk_module


class Ami:
    """A panoramisk connection that records every event."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self._changed = asyncio.Event()
        self.manager = Manager(
            loop=asyncio.get_running_loop(),
            host="127.0.0.1",
            port=PORTS.ami,
            username=AMI_USER,
            secret=AMI_SECRET,
            ping_delay=3600,
            reconnect_timeout=3600,
        )
        self.manager.register_event("*", self._on_event)

    def _on_event(self, _: Manager, event: Any) -> None:
        self.events.append(event)
        self._changed.set()

    async def connect(self) -> None:
        await self.manager.connect()
        await self.wait_for(lambda e: e.event == "FullyBooted")

    async def wait_for(self, match: Callable[[Any], bool], within: float = 10.0) -> Any:
        async with asyncio.timeout(within):
            seen = 0
            while True:
                for event in self.events[seen:]:
                    if match(event):
                        return event
                seen = len(self.events)
                self._changed.clear()
                await self._changed.wait()

    async def action(self, action: dict[str, str]) -> Any:
        return await asyncio.wait_for(self.manager.send_action(action), 10)


@pytest.fixture
async def ami(sip_asterisk: AsteriskInstance) -> AsyncIterator[Ami]:
    connection = Ami()
    await connection.connect()
    try:
        yield connection
    finally:
        connection.manager.close()


@pytest.fixture
async def phones(sip_asterisk: AsteriskInstance) -> AsyncIterator[Softphones]:
    softphones = Softphones(port=PORTS.sip)
    await softphones.start()
    try:
        yield softphones
    finally:
        await softphones.close()
    assert softphones.errors == []
