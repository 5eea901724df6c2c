"""Retention: recordings older than their queue's ``retention_days`` (or the global one)
are removed, file and index row together, and every removal is logged.

Order per recording: delete the file, then the row. A file that cannot be deleted
(permissions, I/O error) keeps its row, so nothing is ever left on disk unindexed; a file
already gone is no reason to keep the row. Each removal is logged (``recording.purged``
with id, call, queue, start and path) and written to the access audit as action
``purge`` by the actor that ran it (``system`` for the server's periodic run, the Unix
user for ``hotline recordings purge``).
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from recorder.index import RecordingIndex, RecordingRow
from recorder.policy import RecordingConfig

__all__ = ["PurgeReport", "purge"]

log = structlog.get_logger("recorder.retention")

DAY_S = 86400.0
BATCH = 500
DRY_RUN_LIMIT = 1_000_000


@dataclass
class PurgeReport:
    removed: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    files_already_gone: int = 0
    dry_run: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "removed": len(self.removed),
            "failed": len(self.failed),
            "files_already_gone": self.files_already_gone,
            "dry_run": self.dry_run,
            "recordings": self.removed,
            "failures": self.failed,
        }


def _remove(path: Path) -> str | None:
    """'gone' if the file was not there, None when deleted, else the error."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return "gone"
    except OSError as error:
        return error.strerror or str(error)
    # An emptied day directory goes too (YYYY/MM/DD), never the root.
    for parent in list(path.parents)[:3]:
        try:
            parent.rmdir()
        except OSError:
            break
    return None


def _groups(config: RecordingConfig) -> list[tuple[int, list[str] | None, list[str]]]:
    """(days, queues or None for 'the rest', queues excluded from the rest)."""
    out: list[tuple[int, list[str] | None, list[str]]] = []
    own = [(q, p.retention_days) for q, p in config.queues.items() if p.retention_days]
    for queue, days in own:
        assert days is not None
        out.append((days, [queue], []))
    if config.retention_days is not None:
        out.append((config.retention_days, None, [q for q, _ in own]))
    return out


async def purge(
    index: RecordingIndex,
    config: RecordingConfig,
    recordings_dir: Path,
    now: float,
    *,
    actor: str = "system",
    dry_run: bool = False,
) -> PurgeReport:
    report = PurgeReport(dry_run=dry_run)
    for days, queues, exclude in _groups(config):
        cutoff = now - days * DAY_S
        seen: set[str] = set()
        limit = DRY_RUN_LIMIT if dry_run else BATCH
        while True:
            found = await index.older_than(cutoff, queues=queues, exclude=exclude, limit=limit)
            rows = [r for r in found if r.id not in seen]  # seen: failed, or the dry run's
            if not rows:
                break
            seen.update(r.id for r in rows)
            await _purge_batch(index, rows, recordings_dir, now, days, actor, dry_run, report)
    if report.removed or report.failed:
        log.info(
            "recording.purge_done",
            removed=len(report.removed),
            failed=len(report.failed),
            files_already_gone=report.files_already_gone,
            dry_run=dry_run,
        )
    return report


async def _purge_batch(
    index: RecordingIndex,
    rows: list[RecordingRow],
    recordings_dir: Path,
    now: float,
    days: int,
    actor: str,
    dry_run: bool,
    report: PurgeReport,
) -> None:
    deleted: list[str] = []
    audit: list[tuple[Any, ...]] = []
    for row in rows:
        item = {
            "id": row.id,
            "call_id": row.call_id,
            "queue": row.queue,
            "started_at": row.started_at,
            "path": row.path,
            "retention_days": days,
        }
        if dry_run:
            report.removed.append(item)
            continue
        error = await asyncio.to_thread(_remove, recordings_dir / row.path)
        if error not in (None, "gone"):
            report.failed.append({**item, "error": error})
            log.error("recording.purge_failed", **item, error=error)
            continue
        if error == "gone":
            report.files_already_gone += 1
        deleted.append(row.id)
        report.removed.append(item)
        log.info("recording.purged", **item, file_was_missing=error == "gone")
        audit.append(
            (
                now,
                actor,
                "system",
                "purge",
                row.id,
                row.call_id,
                "ok",
                f"older than {days} days",
                "",
            )
        )
    if deleted:
        await index.delete(deleted)
        await index.audit_many(audit)
