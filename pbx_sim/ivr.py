"""DTMF applications: Read, Background, WaitExten (09)."""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING

from .channels import Channel, Signal

if TYPE_CHECKING:
    from .world import World


def app_read(world: World, chan: Channel, data: str) -> Generator[float | None, Signal, int]:
    if False:
        yield None
    return 0


def app_background(world: World, chan: Channel, data: str) -> Generator[float | None, Signal, int]:
    if False:
        yield None
    return 0


def app_waitexten(world: World, chan: Channel, data: str) -> Generator[float | None, Signal, int]:
    if False:
        yield None
    return 0
