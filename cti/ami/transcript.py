"""Loader for the ``.ami`` transcript format (real Asterisk 22 AMI traffic).

A transcript is a sequence of blocks, each a header line then exactly ``len`` raw bytes::

    <<< server conn=1 t=0.000599 len=30\\n
    Asterisk Call Manager/11.0.0\\r\\n
    >>> client conn=1 t=0.000643 len=67\\n
    Action: Login\\r\\n...\\r\\n\\r\\n

``server`` blocks are what Asterisk sent (one message or the banner each; per connection
their concatenation is the exact TCP stream), ``client`` blocks what the capture client
sent (one action each), ``note`` blocks commentary. See
``../shared/ami-transcripts/README.md``. Used by the codec tests and benchmark and by the
simulator's replay tests.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

__all__ = [
    "ENV_VAR",
    "Block",
    "BlockKind",
    "TranscriptFormatError",
    "conn_streams",
    "parse_transcript",
    "read_transcript",
    "transcript_paths",
    "transcripts_dir",
]

#: Environment variable naming the transcripts directory.
ENV_VAR: Final = "HOTLINE_TRANSCRIPTS"

BlockKind = Literal["server", "client", "note"]

_HEADER: Final = re.compile(
    rb"(<<< server|>>> client|### note) conn=(\d+) t=(\d+\.\d+) len=(\d+)\n"
)
_KINDS: Final[dict[bytes, BlockKind]] = {
    b"<<< server": "server",
    b">>> client": "client",
    b"### note": "note",
}


class TranscriptFormatError(ValueError):
    """The file is not in the ``.ami`` format (names the byte offset)."""


@dataclass(frozen=True, slots=True)
class Block:
    """One block: ``kind``, AMI connection number (0 = none), seconds since start, bytes."""

    kind: BlockKind
    conn: int
    t: float
    data: bytes


def parse_transcript(raw: bytes, *, name: str = "<transcript>") -> list[Block]:
    """Split the bytes of a ``.ami`` file into blocks."""
    pos, blocks = 0, []
    while pos < len(raw):
        m = _HEADER.match(raw, pos)
        if m is None:
            raise TranscriptFormatError(
                f"{name}: bad block header at byte {pos}: {raw[pos : pos + 60]!r}"
            )
        start, size = m.end(), int(m.group(4))
        if start + size > len(raw):
            raise TranscriptFormatError(
                f"{name}: block at byte {pos} says len={size} but only "
                f"{len(raw) - start} bytes follow"
            )
        blocks.append(
            Block(_KINDS[m.group(1)], int(m.group(2)), float(m.group(3)), raw[start : start + size])
        )
        pos = start + size
    return blocks


def read_transcript(path: str | os.PathLike[str]) -> list[Block]:
    """Read and split one ``.ami`` file."""
    p = Path(path)
    return parse_transcript(p.read_bytes(), name=str(p))


def transcripts_dir() -> Path:
    """``$HOTLINE_TRANSCRIPTS``, else ``<repo>/../shared/ami-transcripts``."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[2]
    return repo.parent / "shared" / "ami-transcripts"


def transcript_paths(directory: str | os.PathLike[str] | None = None) -> list[Path]:
    """The ``*.ami`` files of ``directory`` (default :func:`transcripts_dir`), sorted."""
    return sorted(Path(directory if directory is not None else transcripts_dir()).glob("*.ami"))


def conn_streams(blocks: list[Block], kind: BlockKind = "server") -> dict[int, list[Block]]:
    """The blocks of one direction grouped by connection, in order (``b"".join`` of their
    ``data`` is that connection's byte stream in that direction)."""
    out: dict[int, list[Block]] = {}
    for block in blocks:
        if block.kind == kind:
            out.setdefault(block.conn, []).append(block)
    return out
