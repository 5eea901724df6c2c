"""Recording files: waiting for the PBX to finish one, hashing, checking, byte ranges.

Everything here that touches the disk is blocking and meant for a worker thread
(``asyncio.to_thread``): a one-hour recording is 57.6 MB (8 kHz, 16-bit, mono WAV).
:func:`parse_range` is pure.

A file's *identity* (:func:`identity`) is ``size:mtime_ns:ctime_ns:inode``. Any write to
the file, a rename over it or a ``touch`` changes it (``ctime`` cannot be set back from
user space), so a full SHA-256 check is only repeated when the identity changed or the
last check is older than ``reverify_after_s`` (bit rot changes no metadata).
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
import time
from dataclasses import dataclass
from typing import Final

__all__ = [
    "CHUNK",
    "FileCheck",
    "RangeNotSatisfiable",
    "check_file",
    "identity",
    "parse_range",
    "settle",
    "wav_duration",
]

CHUNK: Final = 256 * 1024
_RANGE_RE: Final = re.compile(r"bytes=\s*(\d*)\s*-\s*(\d*)\s*")


def identity(st: os.stat_result) -> str:
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"


def sha256_fd(fd: int, size: int) -> str:
    """SHA-256 of the first ``size`` bytes of an open file (positional reads)."""
    digest = hashlib.sha256()
    offset = 0
    while offset < size:
        block = os.pread(fd, min(CHUNK * 4, size - offset), offset)
        if not block:
            break
        digest.update(block)
        offset += len(block)
    return digest.hexdigest()


def wav_duration(fd: int, size: int) -> float | None:
    """Seconds of audio of a RIFF/WAVE file (its ``fmt `` and ``data`` chunks); None when
    the header cannot be read. Asterisk fixes the header when it closes the file; while
    the data chunk's length is still 0 the length is taken from the file size."""
    head = os.pread(fd, 4096, 0)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos, byte_rate, data_len = 12, 0, None
    while pos + 8 <= len(head):
        cid, clen = head[pos : pos + 4], struct.unpack_from("<I", head, pos + 4)[0]
        if cid == b"fmt " and pos + 16 <= len(head):
            byte_rate = struct.unpack_from("<I", head, pos + 16)[0]
        elif cid == b"data":
            data_len = clen if clen else size - (pos + 8)
            data_len = min(data_len, size - (pos + 8))
            break
        pos += 8 + clen + (clen & 1)
    if not byte_rate or data_len is None:
        return None
    return data_len / byte_rate


def settle(path: str, *, interval_s: float, timeout_s: float) -> os.stat_result | None:
    """Wait until ``path`` exists and its size and mtime hold still for ``interval_s``
    (Asterisk's MixMonitor thread closes the file a moment after MixMonitorStop);
    None if it never appeared within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    last: tuple[int, int] | None = None
    while True:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            st = None
        if st is not None:
            now_key = (st.st_size, st.st_mtime_ns)
            if now_key == last:
                return st
            last = now_key
        if time.monotonic() >= deadline:
            return st
        time.sleep(interval_s)


@dataclass(frozen=True, slots=True)
class FileCheck:
    """The outcome of looking at a recording's file."""

    status: str  # ok | missing | corrupt
    reason: str = ""
    key: str = ""  # identity() when the file exists
    size: int = 0
    sha256: str | None = None  # when it was hashed
    duration_s: float | None = None


def check_file(
    path: str,
    *,
    expected_size: int | None,
    expected_sha256: str | None,
    verified_key: str | None,
    full: bool,
) -> FileCheck:
    """:func:`check_open` on a path (the file is opened and closed here)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return FileCheck("missing", "the file does not exist")
    except OSError as error:
        return FileCheck("missing", f"the file cannot be opened: {error.strerror}")
    try:
        return check_open(
            fd,
            expected_size=expected_size,
            expected_sha256=expected_sha256,
            verified_key=verified_key,
            full=full,
        )
    finally:
        os.close(fd)


def check_open(
    fd: int,
    *,
    expected_size: int | None,
    expected_sha256: str | None,
    verified_key: str | None,
    full: bool,
) -> FileCheck:
    """Check an open recording against its index row.

    Cheap first: the indexed size. Then, when ``full`` or when the file's identity
    differs from ``verified_key`` (the file changed since its last full check), the
    whole file is hashed through this descriptor: the bytes a caller then serves from
    ``fd`` are the bytes that were checked, even if the path is replaced meanwhile.
    """
    st = os.fstat(fd)
    key = identity(st)
    if expected_size is not None and st.st_size != expected_size:
        return FileCheck(
            "corrupt", f"size {st.st_size} bytes, indexed {expected_size}", key, st.st_size
        )
    if not full and verified_key == key:
        return FileCheck("ok", "", key, st.st_size)
    digest = sha256_fd(fd, st.st_size)
    duration = wav_duration(fd, st.st_size)
    if expected_sha256 is not None and digest != expected_sha256:
        return FileCheck(
            "corrupt", "SHA-256 does not match the index", key, st.st_size, digest, duration
        )
    return FileCheck("ok", "", key, st.st_size, digest, duration)


def open_file(path: str) -> int | None:
    try:
        return os.open(path, os.O_RDONLY)
    except OSError:
        return None


class RangeNotSatisfiable(ValueError):
    pass


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """One byte range of ``Range: bytes=...`` as (first, last) inclusive; None for the
    whole file (no header). Several ranges, other units or garbage: the whole file too
    (RFC 9110 lets a server ignore Range). A syntactically valid range that selects no
    byte (first ≥ size, or a zero-length suffix) raises :class:`RangeNotSatisfiable`."""
    if header is None:
        return None
    match = _RANGE_RE.fullmatch(header.strip())
    if match is None:
        if header.strip().startswith("bytes=") and "," not in header:
            raise RangeNotSatisfiable(header)
        return None
    first_s, last_s = match.groups()
    if not first_s and not last_s:
        raise RangeNotSatisfiable(header)
    if not first_s:  # suffix: the last N bytes
        n = int(last_s)
        if n == 0 or size == 0:
            raise RangeNotSatisfiable(header)
        return max(0, size - n), size - 1
    first = int(first_s)
    last = int(last_s) if last_s else size - 1
    if last_s and last < first:
        raise RangeNotSatisfiable(header)
    if first >= size:
        raise RangeNotSatisfiable(header)
    return first, min(last, size - 1)
