"""``hotline serve --config FILE``: the production server against Asterisk (or pbx_sim)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

import structlog
import uvloop

from cti.center.server import HotlineServer
from cti.config import load_config
from cti.heap import keep_heap_settled, settle_heap
from cti.logging import configure_logging
from cti.store import Store

log = structlog.get_logger("cti.serve")


async def serve(config_path: str) -> int:
    config = load_config(config_path)
    configure_logging(config.log.level, config.log.format)
    store = await Store.open(config.store.path)
    await store.seed_from_config(config)
    server = HotlineServer(config, store)
    await server.start()
    settle_heap()
    keeper = asyncio.ensure_future(keep_heap_settled())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    print(
        f"Hotline serving on http://{config.server.listen}:{server.http_port}/ "
        f"(WebSocket /ws, REST /api), AMI {config.ami.host}:{config.ami.port}",
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        keeper.cancel()
        await server.stop()
        await store.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hotline serve", description=__doc__)
    parser.add_argument("--config", required=True, help="the TOML configuration file")
    args = parser.parse_args(argv)
    uvloop.install()
    return asyncio.run(serve(args.config))
