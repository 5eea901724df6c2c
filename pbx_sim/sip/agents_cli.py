"""``hotline agents-sim``: SIP agent phones that answer, hold and hang up like people.

Registers ``--agents`` extensions (``--first`` and up) against a SIP server (Asterisk's
PJSIP endpoints 8001…) and lets each behave by an :class:`AgentPolicy`: answer after
``--answer-delay`` s, talk ``--handle-time`` s, sometimes not answer (``--no-answer-rate``)
or put the caller on hold (``--hold-rate``, ``--hold``). Runs until ``--duration`` s have
passed or Ctrl-C / SIGTERM, then unregisters. Progress on a terminal; with ``--json``
quiet, and the last line is one JSON summary.

The password comes from ``--password-env`` (default ``$HOTLINE_AGENTS_SIM_PASSWORD``), never
from the command line; ``{ext}`` in it is replaced by each extension (``Agent{ext}pw``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from typing import Any, Final

from pbx_sim.sip import AgentPolicy, Phone, RegistrationError, SoftphoneError, Softphones

PASSWORD_ENV: Final = "HOTLINE_AGENTS_SIM_PASSWORD"
MAX_AGENTS: Final = 500
REGISTER_CONCURRENCY: Final = 20


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hotline agents-sim", description=__doc__.split("\n")[0])
    p.add_argument("--sip", metavar="HOST:PORT", default="127.0.0.1:5060",
                   help="the SIP server (UDP), default 127.0.0.1:5060")  # fmt: skip
    p.add_argument("--agents", type=int, default=10, help="how many extensions")
    p.add_argument("--first", type=int, default=8001, help="first extension")
    p.add_argument("--password-env", default=PASSWORD_ENV,
                   help="variable holding the password, {ext} expanded")  # fmt: skip
    p.add_argument("--answer-delay", type=float, default=3.0, help="mean ring time, s")
    p.add_argument("--handle-time", type=float, default=60.0, help="mean talk time, s")
    p.add_argument("--no-answer-rate", type=float, default=0.0, help="0..1: let it ring out")
    p.add_argument("--hold-rate", type=float, default=0.0, help="0..1: hold the caller once")
    p.add_argument("--hold", type=float, default=10.0, help="hold time, s")
    p.add_argument("--spread", type=float, default=0.5, help="durations vary by ±spread")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--duration", type=float, default=0.0, help="run s seconds (0: until Ctrl-C)")
    p.add_argument("--bind", default="127.0.0.1", help="local address for SIP and RTP")
    p.add_argument("--json", action="store_true", help="quiet; the last line is the summary")
    return p


def _sip_address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--sip: expected HOST:PORT, got {text!r}")
    return host, int(port)


def _summary(phones: list[Phone], failed: dict[str, str], started: float) -> dict[str, Any]:
    totals: dict[str, int] = {}
    for phone in phones:
        for name in ("rang", "answered", "ignored", "missed", "held", "hung_up_by_agent",
                     "hung_up_by_caller", "errors"):  # fmt: skip
            totals[name] = totals.get(name, 0) + getattr(phone.stats, name)
    return {
        "agents": len(phones) + len(failed),
        "registered": len(phones),
        "failed": failed,
        **totals,
        "duration_s": round(time.monotonic() - started, 1),
    }


async def run(args: argparse.Namespace, password: str, show: bool) -> dict[str, Any]:
    host, port = _sip_address(args.sip)
    policy = AgentPolicy(
        answer_delay_s=args.answer_delay,
        handle_time_s=args.handle_time,
        no_answer_rate=args.no_answer_rate,
        hold_rate=args.hold_rate,
        hold_s=args.hold,
        spread=args.spread,
        seed=args.seed,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    started = time.monotonic()
    registered: list[Phone] = []
    failed: dict[str, str] = {}
    limit = asyncio.Semaphore(REGISTER_CONCURRENCY)
    async with Softphones(host=host, port=port, bind_host=args.bind) as softphones:

        async def one(ext: str) -> None:
            async with limit:
                try:
                    pw = password.replace("{ext}", ext)
                    registered.append(await softphones.register(ext, pw, policy=policy))
                except (RegistrationError, SoftphoneError) as error:
                    failed[ext] = str(error)

        extensions = [str(args.first + i) for i in range(args.agents)]
        await asyncio.gather(*(one(ext) for ext in extensions))
        registered.sort(key=lambda phone: phone.extension)
        if show:
            print(f"registered {len(registered)}/{len(extensions)} agents at {host}:{port}",
                  file=sys.stderr)  # fmt: skip
            for ext, why in sorted(failed.items()):
                print(f"  {ext}: {why}", file=sys.stderr)
        if registered:
            deadline = loop.time() + args.duration if args.duration > 0 else None
            while not stop.is_set():
                timeout = 1.0 if deadline is None else min(1.0, deadline - loop.time())
                if timeout <= 0:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout)
                if show:
                    _progress(registered, started)
        if show:
            print(file=sys.stderr)
        summary = _summary(registered, failed, started)
        summary["problems"] = list(softphones.errors)
    return summary


def _progress(phones: list[Phone], started: float) -> None:
    talking = sum(1 for p in phones for c in p.calls.values() if c.connected and not c.held)
    ringing = sum(1 for p in phones for c in p.calls.values() if c.state == "ringing")
    held = sum(1 for p in phones for c in p.calls.values() if c.held)
    answered = sum(p.stats.answered for p in phones)
    missed = sum(p.stats.missed + p.stats.ignored for p in phones)
    print(
        f"\r\x1b[K{time.monotonic() - started:6.0f}s  agents {len(phones)}  ringing {ringing}  "
        f"talking {talking}  held {held}  answered {answered}  not answered {missed}",
        end="",
        file=sys.stderr,
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    p = _parser()
    args = p.parse_args(argv)
    if not 1 <= args.agents <= MAX_AGENTS:
        p.error(f"--agents: 1..{MAX_AGENTS}")
    try:
        _sip_address(args.sip)
        AgentPolicy(answer_delay_s=args.answer_delay, handle_time_s=args.handle_time,
                    no_answer_rate=args.no_answer_rate, hold_rate=args.hold_rate,
                    hold_s=args.hold, spread=args.spread)  # fmt: skip
    except ValueError as error:
        p.error(str(error))
    password = os.environ.get(args.password_env, "")
    if not password:
        print(f"hotline agents-sim: set ${args.password_env} to the agents' SIP password "
              "({ext} is replaced by each extension)", file=sys.stderr)  # fmt: skip
        return 2
    show = sys.stderr.isatty() and not args.json
    try:
        summary = asyncio.run(run(args, password, show))
    except SoftphoneError as error:
        print(f"hotline agents-sim: {error}", file=sys.stderr)
        return 1
    print(json.dumps(summary, ensure_ascii=False) if args.json
          else json.dumps(summary, indent=2, ensure_ascii=False))  # fmt: skip
    return 0 if summary["registered"] else 1


if __name__ == "__main__":
    sys.exit(main())
