"""The whole Hotline server against a generated real Asterisk, for end-to-end tests:
its SQLite store seeded from the configuration, the server logged in over AMI, and a
carrier placing calls as Local channels (:class:`cti.asterisk.stack.AmiCarrier`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cti.asterisk.instance import Ports
from cti.asterisk.netns import PrivateNetns
from cti.asterisk.provision import Install
from cti.asterisk.stack import AmiCarrier, GeneratedAsterisk, start_generated
from cti.center.server import HotlineServer
from cti.config import Config
from cti.store import Store
from tests.harness import start_server


def generated_asterisk(
    config: Callable[[], Config],
    name: str,
    *,
    ports: Ports,
    agi_port: int | None = None,
    start: bool = True,
) -> Any:
    """A module fixture: Asterisk running the configuration generated from ``config()``
    (its dialplan handing trunk callers to Hotline's FastAGI server on ``agi_port``);
    with ``start`` false, configured only (a test fixture starts it)."""

    @pytest.fixture(scope="module")
    def generated(
        asterisk_install: Install,
        asterisk_netns: PrivateNetns,
        tmp_path_factory: pytest.TempPathFactory,
    ) -> Iterator[GeneratedAsterisk]:
        stack = start_generated(
            asterisk_install,
            config(),
            tmp_path_factory.mktemp(name),
            ports=ports,
            cti_agi=f"127.0.0.1:{agi_port}" if agi_port is not None else None,
            start=start,
        )
        try:
            yield stack
        finally:
            stack.stop()

    return generated


@dataclass
class Hotline:
    server: HotlineServer
    store: Store
    carrier: AmiCarrier

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.http_port}"


@contextlib.asynccontextmanager
async def hotline_on(
    pbx: GeneratedAsterisk, db: Path, password: str, *, agi_port: int | None = None
) -> AsyncIterator[Hotline]:
    """Hotline on ``pbx`` with every agent's password ``password``; ``agi_port``: the
    FastAGI port the generated dialplan's ``CTI_AGI`` names. Logs in now (Asterisk fixes
    a session's classes at login); the carrier's calls are hung up at the end."""
    config = pbx.config
    store = await Store.open(db)
    server: HotlineServer | None = None
    try:
        await store.seed_from_config(config, password)
        agi = agi_port is not None
        server = await start_server(config, store, pbx.ports.ami, agi=agi, agi_port=agi_port or 0)
        carrier = await AmiCarrier.connect(
            "127.0.0.1", pbx.ports.ami, config.ami.username, config.ami.secret
        )
        try:
            yield Hotline(server, store, carrier)
        finally:
            for call in carrier.calls:
                await carrier.hang_up(call)
            await carrier.close()
    finally:
        # the store's thread would keep the test process alive at exit
        if server is not None:
            await server.stop()
        await store.close()
