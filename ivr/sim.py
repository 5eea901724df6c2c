"""Point an embedded pbx_sim at a running IVR (the demo, the tests, the benchmark).

pbx_sim reads ``CTI_AGI`` from the dialplan's globals on every call, as Asterisk would
after ``dialplan set global``; the server's FastAGI port is only known once it listens.
"""

from __future__ import annotations

from pbx_sim.agi_client import FastAGIConnector
from pbx_sim.cli import SimHandle

__all__ = ["connect_sim"]


def connect_sim(sim: SimHandle, host: str, port: int) -> None:
    """Send ``sim``'s trunk callers to the FastAGI server at ``host:port``."""
    if sim.agi is None:
        sim.agi = FastAGIConnector(sim.server.runner)
    sim.world.global_vars["CTI_AGI"] = f"{host}:{port}"
