"""Which calls are recorded, and for how long recordings are kept. Pure: no I/O.

The ``[recording]`` table of the configuration becomes a :class:`RecordingConfig`
(:func:`read_recording_table`; the keys are in config/README.md). Each queue has a
:class:`QueuePolicy`: ``always``, ``never``, ``percent`` (a deterministic sample of the
queue's calls) or ``on_demand`` (the agent starts it with ``call.record``).

The sample is a hash of the call id, not a random draw: the same call is always in or
out (a restarted server re-adopting the call decides the same way), tests can predict it
and no random generator is needed in the core.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:  # the configuration reader, without importing cti.config at run time
    from cti.config import _Reader, _Table

__all__ = [
    "DEFAULT_PURGE_EVERY_S",
    "DEFAULT_REVERIFY_AFTER_S",
    "Mode",
    "QueuePolicy",
    "RecordingConfig",
    "read_recording_table",
]

DEFAULT_PURGE_EVERY_S: Final = 3600.0
DEFAULT_REVERIFY_AFTER_S: Final = 86400.0
DEFAULT_SETTLE_S: Final = 0.2
DEFAULT_SETTLE_TIMEOUT_S: Final = 30.0
MAX_RETENTION_DAYS: Final = 36500
FORMATS: Final = ("wav",)

RECORDING_KEYS: Final = (
    "default",
    "pbx_dir",
    "format",
    "retention_days",
    "purge_every_s",
    "reverify_after_s",
    "settle_s",
    "settle_timeout_s",
    "queues",
)
QUEUE_KEYS: Final = ("policy", "percent", "retention_days")


class Mode(enum.StrEnum):
    ALWAYS = "always"
    NEVER = "never"
    PERCENT = "percent"
    ON_DEMAND = "on_demand"


@dataclass(frozen=True, slots=True)
class QueuePolicy:
    mode: Mode = Mode.NEVER
    percent: int = 0  # with Mode.PERCENT: 0..100
    retention_days: int | None = None  # None: the global retention

    def records(self, call_id: str) -> bool:
        """Whether a call answered on this queue is recorded from the answer on."""
        if self.mode is Mode.ALWAYS:
            return True
        if self.mode is Mode.PERCENT:
            return sample_bucket(call_id) < self.percent
        return False

    @property
    def agent_may_start(self) -> bool:
        """``call.record`` is refused only where recording is forbidden."""
        return self.mode is not Mode.NEVER


def sample_bucket(call_id: str) -> int:
    """0..99, fixed for a call id and spread evenly (first 8 bytes of its SHA-256)."""
    digest = hashlib.sha256(call_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % 100


@dataclass(frozen=True, slots=True)
class RecordingConfig:
    """The ``[recording]`` table. Without one, nothing is recorded."""

    default: QueuePolicy = QueuePolicy()
    queues: Mapping[str, QueuePolicy] = field(default_factory=lambda: MappingProxyType({}))
    #: The recordings directory as the PBX sees it (MixMonitor's ``File`` prefix); None:
    #: the same path as ``store.recordings_dir`` (PBX and Hotline share the file system).
    pbx_dir: str | None = None
    format: str = "wav"
    retention_days: int | None = None  # None: keep for ever
    purge_every_s: float = DEFAULT_PURGE_EVERY_S
    reverify_after_s: float = DEFAULT_REVERIFY_AFTER_S
    settle_s: float = DEFAULT_SETTLE_S
    settle_timeout_s: float = DEFAULT_SETTLE_TIMEOUT_S

    def policy(self, queue: str | None) -> QueuePolicy:
        if queue is None:
            return self.default
        return self.queues.get(queue, self.default)

    def retention_for(self, queue: str | None) -> int | None:
        """Days a recording of ``queue`` is kept (None: for ever)."""
        policy = self.queues.get(queue) if queue is not None else None
        if policy is not None and policy.retention_days is not None:
            return policy.retention_days
        return self.retention_days

    @property
    def enabled(self) -> bool:
        policies = [self.default, *self.queues.values()]
        return any(p.mode is not Mode.NEVER for p in policies)


# ------------------------------------------------------------------------ configuration


def _policy(reader: _Reader, table: _Table, default: QueuePolicy | None) -> QueuePolicy:
    """``policy`` / ``percent`` / ``retention_days`` of one queue (or the default)."""
    mode = table.choice("policy", default.mode if default else Mode.NEVER, Mode)
    percent = table.integer("percent", 0, lo=0, hi=100, what="a percentage 0..100")
    if mode is Mode.PERCENT and not table.has("percent"):
        table.missing("percent", 'a percentage 0..100 with policy = "percent"')
    if mode is not Mode.PERCENT and table.has("percent"):
        reader.error(
            table.at("percent"),
            f'expected percent only with policy = "percent"; found policy = {mode.value!r}',
        )
    retention = _retention(table)
    return QueuePolicy(mode, percent, retention)


def _retention(table: _Table) -> int | None:
    if not table.has("retention_days"):
        return None
    return table.integer(
        "retention_days", 0, lo=1, hi=MAX_RETENTION_DAYS, what=f"days 1..{MAX_RETENTION_DAYS}"
    )


def read_recording_table(reader: _Reader, table: _Table) -> RecordingConfig:
    """Read ``[recording]``; problems are recorded on ``reader`` (one line each)."""
    table.check_keys(RECORDING_KEYS)
    default_mode = table.choice("default", Mode.NEVER, Mode)
    if default_mode is Mode.PERCENT:
        reader.error(
            table.at("default"),
            'expected always, never or on_demand (a percentage is set per queue); found "percent"',
        )
        default_mode = Mode.NEVER
    pbx_dir = table.text("pbx_dir", what="an absolute directory path", max_len=4096)
    if pbx_dir is not None and not PurePosixPath(pbx_dir).is_absolute():
        reader.expected(table.at("pbx_dir"), "an absolute directory path", pbx_dir)
        pbx_dir = None
    fmt = table.literal("format", "wav", FORMATS)

    def positive(key: str, default: float) -> float:
        value = table.seconds(key, default)
        if value is None or value <= 0:
            reader.expected(table.at(key), "a number of seconds > 0", table.raw(key))
            return default
        return value

    queues: dict[str, QueuePolicy] = {}
    sub = table.table("queues", what="a table of [recording.queues.NAME] tables")
    if sub is not None:
        known = reader.queue_names
        for name, value, path in sub.items():
            if known is not None and name not in known:
                reader.expected(path, f"the name of a queue ({', '.join(sorted(known))})", name)
                continue
            if not isinstance(value, dict):
                reader.expected(path, 'a table, e.g. { policy = "always" }', value)
                continue
            qt = type(table)(reader, value, path)
            qt.check_keys(QUEUE_KEYS)
            if not qt.has("policy"):
                qt.missing("policy", "always, never, percent or on_demand")
            queues[name] = _policy(reader, qt, None)
    return RecordingConfig(
        default=QueuePolicy(default_mode),
        queues=MappingProxyType(queues),
        pbx_dir=pbx_dir,
        format=fmt,
        retention_days=_retention(table),
        purge_every_s=positive("purge_every_s", DEFAULT_PURGE_EVERY_S),
        reverify_after_s=positive("reverify_after_s", DEFAULT_REVERIFY_AFTER_S),
        settle_s=positive("settle_s", DEFAULT_SETTLE_S),
        settle_timeout_s=positive("settle_timeout_s", DEFAULT_SETTLE_TIMEOUT_S),
    )


def summary(config: RecordingConfig) -> str:
    """One line for ``hotline check-config``."""
    if not config.enabled:
        return "recording: none"
    queues = ", ".join(
        f"{name} {p.percent} %" if p.mode is Mode.PERCENT else f"{name} {p.mode.value}"
        for name, p in config.queues.items()
    )
    days = f"{config.retention_days} days" if config.retention_days else "for ever"
    return (
        f"recording: {queues or 'no queue listed'}; others {config.default.mode.value}; kept {days}"
    )
