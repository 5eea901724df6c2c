"""``hotline recordings purge`` on a real configuration file, database and files."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from cti.cli import main
from cti.store import Store
from recorder.core import Recording, State, day_path
from recorder.index import RecordingIndex, SearchFilter

CONFIG = """
[ami]
secret_env = "HOTLINE_AMI_SECRET"
[store]
path = "db/hotline.db"
recordings_dir = "rec"
[skills]
general = "any"
[[queues]]
name = "general"
skills = { general = 1 }
[[agents]]
id = "1"
[recording]
default = "always"
retention_days = 30
"""


async def make(tmp_path: Path, ages_days: list[float]) -> list[Path]:
    store = await Store.open(tmp_path / "db" / "hotline.db")
    index = RecordingIndex(store)
    paths = []
    now = time.time()
    for n, age in enumerate(ages_days):
        start = now - age * 86400
        rid = f"c{n}-r1"
        rec = Recording(rid, f"c{n}", "1", "0215550101", "general", "PJSIP/1-1",
                        day_path(rid, start, "wav"), "", False, start, State.STOPPED,
                        start, start + 10)  # fmt: skip
        await index.opened(rec, start)
        await index.completed(rec, size=3, sha256="00" * 32, duration_s=10,
                              verified_key="", now=start)  # fmt: skip
        path = tmp_path / "rec" / rec.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"abc")
        paths.append(path)
    await store.close()
    return paths


async def remaining(tmp_path: Path) -> list[str]:
    store = await Store.open(tmp_path / "db" / "hotline.db")
    try:
        return [r.id for r in await RecordingIndex(store).search(SearchFilter())]
    finally:
        await store.close()


def test_purge_dry_run_then_for_real(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOTLINE_AMI_SECRET", "s")
    config = tmp_path / "hotline.toml"
    config.write_text(CONFIG)
    paths = asyncio.run(make(tmp_path, [40, 31, 2]))

    assert main(["recordings", "purge", "--config", str(config), "--dry-run", "--json"]) == 0
    dry = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert dry["dry_run"] is True and dry["removed"] == 2
    assert all(p.exists() for p in paths)

    assert main(["recordings", "purge", "--config", str(config), "--json"]) == 0
    done = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert sorted(r["id"] for r in done["recordings"]) == ["c0-r1", "c1-r1"]
    assert [p.exists() for p in paths] == [False, False, True]
    assert asyncio.run(remaining(tmp_path)) == ["c2-r1"]

    assert main(["recordings", "purge", "--config", str(config)]) == 0
    assert "removed 0 recordings" in capsys.readouterr().out
