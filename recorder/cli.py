"""``hotline recordings purge --config FILE [--dry-run] [--json]``: apply the retention
policy now (the server also does it every ``recording.purge_every_s``).

``--dry-run`` lists what would be removed and removes nothing. Each removal is logged
(``recording.purged``) and written to the access audit with the actor ``cli:USER``.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from cti.config import Config, load_config
from cti.logging import configure_logging
from cti.store import Store
from recorder.index import RecordingIndex
from recorder.retention import purge


async def _purge(config: Config, recordings_dir: Path, dry_run: bool) -> dict[str, Any]:
    store = await Store.open(config.store.path)
    try:
        report = await purge(
            RecordingIndex(store),
            config.recording,
            recordings_dir,
            time.time(),
            actor=f"cli:{getpass.getuser()}",
            dry_run=dry_run,
        )
    finally:
        await store.close()
    return report.as_json()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hotline recordings", description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)
    p = sub.add_parser("purge", help="remove recordings older than the retention policy")
    p.add_argument("--config", required=True, help="the TOML configuration file")
    p.add_argument("--dry-run", action="store_true", help="list, remove nothing")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    configure_logging("warning" if args.json else "info", "json", stream=sys.stderr)
    config = load_config(args.config)
    recordings_dir = Path(os.path.abspath(config.store.recordings_dir))
    result = asyncio.run(_purge(config, recordings_dir, args.dry_run))
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0 if not result["failed"] else 1
    verb = "would remove" if args.dry_run else "removed"
    print(
        f"{verb} {result['removed']} recordings"
        + (
            f" ({result['files_already_gone']} files were already gone)"
            if result["files_already_gone"]
            else ""
        )
        + (f"; {result['failed']} could not be removed (see the log)" if result["failed"] else "")
    )
    for item in result["recordings"] if args.dry_run else ():
        print(f"  {item['id']}  {item['queue'] or '-'}  {item['path']}")
    return 0 if not result["failed"] else 1
