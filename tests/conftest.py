"""Suite-wide guard: a test that leaves a worker thread running fails the run, not hangs it.

An aiosqlite connection that a fixture never closed (say, because its setup raised after
``Store.open``) keeps a non-daemon thread waiting on its queue, and the interpreter joins
it at exit forever: CI would sit until its time limit with every test already passed.
So after the session we name such threads, mark the run failed, and exit without the join.
"""

from __future__ import annotations

import os
import sys
import threading

import pytest

_LINGER_GRACE_S = 5.0


def _lingering() -> list[threading.Thread]:
    return [
        t
        for t in threading.enumerate()
        if t is not threading.main_thread() and not t.daemon and t.is_alive()
    ]


_status = {"exit": 0}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _status["exit"] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    # after the terminal summary: nothing of the report is lost by the hard exit below
    threads = _lingering()
    for thread in threads:
        thread.join(_LINGER_GRACE_S / max(len(threads), 1))
    threads = _lingering()
    if not threads:
        return
    names = ", ".join(f"{t.name} ({getattr(t, '_target', None)!r})" for t in threads)
    sys.stderr.write(
        f"\nERROR: {len(threads)} non-daemon thread(s) still running after the tests "
        f"(an unclosed aiosqlite connection or executor?): {names}\n"
    )
    sys.stderr.flush()
    sys.stdout.flush()
    os._exit(_status["exit"] or 1)
