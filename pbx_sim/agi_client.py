"""The asyncio side of FastAGI: pbx_sim is the AGI *client* (as Asterisk is).

:class:`FastAGIConnector` implements :class:`pbx_sim.agi.AGIHandler`: for each
``AGI(agi://host:port/...)`` it opens a TCP connection, writes the ``agi_*`` environment
and a blank line, then feeds every command line it reads into the world
(``World.agi_command``); the world's answers (``200 result=...``) are written back. EOF or
a connection failure ends the session (``World.agi_closed``). No protocol logic lives here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from .channels import Channel

if TYPE_CHECKING:
    from .ami_server import WorldRunner

__all__ = ["FastAGIConnector"]

log = logging.getLogger("pbx_sim.agi")

#: Seconds allowed to connect to the FastAGI server.
CONNECT_TIMEOUT = 5.0
#: Longest command line accepted from the AGI server.
MAX_LINE = 64 * 1024


class _Session:
    def __init__(self) -> None:
        self.writer: asyncio.StreamWriter | None = None
        self.pending: list[str] = []
        self.task: asyncio.Task[None] | None = None


class FastAGIConnector:
    """Runs the FastAGI sessions the world asks for, on the runner's event loop."""

    def __init__(self, runner: WorldRunner) -> None:
        self.runner = runner
        self.world = runner.world
        self.sessions: dict[str, _Session] = {}
        self.world.agi_handler = self

    # -- AGIHandler -------------------------------------------------------------------

    def start(self, chan: Channel, url: str, env: list[tuple[str, str]]) -> None:
        session = _Session()
        self.sessions[chan.uniqueid] = session
        session.task = asyncio.get_running_loop().create_task(
            self._run(chan, url, env, session), name=f"agi {chan.name}"
        )

    def reply(self, chan: Channel, line: str) -> None:
        session = self.sessions.get(chan.uniqueid)
        if session is None:
            return
        if session.writer is None:
            session.pending.append(line)
            return
        session.writer.write((line + "\n").encode())

    def hangup(self, chan: Channel) -> None:
        self.reply(chan, "HANGUP")

    # -- the connection ---------------------------------------------------------------

    async def _run(
        self, chan: Channel, url: str, env: list[tuple[str, str]], session: _Session
    ) -> None:
        world = self.world
        hostport = url.split("://", 1)[1].split("/", 1)[0]
        host, _, port_text = hostport.rpartition(":")
        if not host:
            host, port_text = hostport, "4573"
        failed = False
        writer: asyncio.StreamWriter | None = None
        try:
            reader, w = await asyncio.wait_for(
                asyncio.open_connection(host, int(port_text), limit=MAX_LINE), CONNECT_TIMEOUT
            )
            writer = session.writer = w
            head = "".join(f"{k}: {v}\n" for k, v in env) + "\n"
            w.write(head.encode())
            for line in session.pending:
                w.write((line + "\n").encode())
            session.pending.clear()
            while True:
                raw = await reader.readline()
                if not raw:
                    break
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if line:
                    world.agi_command(self.runner.now(), chan, line)
                    self.runner.poke()
        except (OSError, TimeoutError, ValueError) as exc:
            log.warning("FastAGI %s for %s failed: %r", url, chan.name, exc)
            failed = True
        finally:
            self.sessions.pop(chan.uniqueid, None)
            if writer is not None:
                with contextlib.suppress(Exception):
                    writer.close()
            world.agi_closed(self.runner.now(), chan, failed=failed)
            self.runner.poke()

    async def close(self) -> None:
        for session in list(self.sessions.values()):
            if session.task is not None:
                session.task.cancel()
        for session in list(self.sessions.values()):
            if session.task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await session.task
