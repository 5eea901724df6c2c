"""FastAGI client (filled in later)."""

from __future__ import annotations

from typing import Protocol

from .channels import Channel


class AGIHandler(Protocol):
    def start(self, chan: Channel, url: str, env: list[tuple[str, str]]) -> None: ...
