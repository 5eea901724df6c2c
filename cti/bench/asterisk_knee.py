"""``hotline bench asterisk --knee 30,60,120,...``: where Asterisk itself becomes the
bottleneck, with Hotline routing every call.

The trunk limit is raised above the top step; SIPp plays the carrier (one process per
step, ``-l C`` calls up at once, each caller hangs up ``--hold`` s after Asterisk
answered) and every agent's phone (one SIPp process answering at the address the agents'
AORs are given as a static contact). The Hotline server is ``hotline serve`` in a child
process of its own, so that its CPU is its own; this process holds the agents' desks
(WebSocket, ready, wrap-up 0 s) and one AMI link that sees callers enter
``[hotline-wait]``. Every call goes trunk → ``[from-trunk]`` → ``[hotline-wait]`` →
Hotline's queue and ACD → AMI Redirect → ``[agent-dial]`` → ``Dial(PJSIP/80xx)`` →
SIPp answers.

Per step: calls placed, completed and failed (SIPp), INVITE → 200 of the carrier (mean),
callers who entered Hotline's queue (AMI), records (``call_records`` of the step's
callers), lost (entered, no record) and duplicated, answered by an agent; CPU of
Asterisk, of the Hotline process, of the two SIPp and of this process (the desks), and
the machine's busy share. ``bottleneck``: at the first step that fails (over 1 % SIPp
failures or unanswered calls, a lost or duplicated record, or a p99 queue wait over
1 s although an agent is always idle) the busier of Asterisk and Hotline, or
``machine`` when the machine had no idle CPU left (the load generators then compete).
Everything runs in a private network namespace (root needed).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import aiohttp

from cti.ami.codec import Message
from cti.asterisk.netns import PrivateNetns
from cti.asterisk.provision import ensure_install, require_root
from cti.asterisk.stack import start_generated
from cti.bench import sipp
from cti.bench.asterisk import PASSWORD, PORTS, SECRET, Desks, bench_toml, login_desks
from cti.bench.stats import cpu_s, percentile
from cti.config import Config, parse_config
from cti.link import AMILink
from cti.store import Store

HTTP_PORT: Final = 18080
CARRIER_PORT: Final = 16060
AGENTS_PORT: Final = 16070
FAILED_SHARE: Final = 0.01  # a step fails beyond 1 % of setup failures or unanswered calls
#: every call finds an idle agent: a caller still waiting 1 s later means the routing
#: path (Hotline's decision, the Redirect, Asterisk's Dial) no longer keeps up
SLOW_WAIT_MS: Final = 1000
IDLE_FLOOR: Final = 0.05  # below 5 % idle CPU the machine, not one process, is the limit


def static_contacts(pjsip_conf: Path, extensions: list[str], port: int) -> None:
    """Give each agent's AOR a static contact at the SIPp phones (no registration)."""
    text = pjsip_conf.read_text(encoding="utf-8")
    for ext in extensions:
        section = f"[{ext}](aor-common)\n"
        if section not in text:
            raise ValueError(f"no AOR section for {ext} in {pjsip_conf}")
        text = text.replace(section, f"{section}contact=sip:{ext}@127.0.0.1:{port}\n")
    pjsip_conf.write_text(text, encoding="utf-8")


def allow_alaw(pjsip_conf: Path) -> None:
    """A-law as well as µ-law on every endpoint (the RTP load streams A-law, bridged
    without transcoding)."""
    text = pjsip_conf.read_text(encoding="utf-8")
    if "allow=ulaw\n" not in text:
        raise ValueError(f"no allow=ulaw in {pjsip_conf}")
    pjsip_conf.write_text(text.replace("allow=ulaw\n", "allow=ulaw,alaw\n", 1), encoding="utf-8")


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of every CPU since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def udp_datagrams() -> int:
    """UDP datagrams received in this network namespace (SIP and RTP: all on loopback)."""
    lines = [line.split() for line in Path("/proc/net/snmp").read_text().splitlines()]
    udp = [fields for fields in lines if fields[0] == "Udp:"]
    return int(udp[1][udp[0].index("InDatagrams")])


@dataclass
class Sample:
    at: float
    cpu: dict[str, float]
    machine: tuple[int, int]
    datagrams: int

    @classmethod
    def take(cls, pids: dict[str, int]) -> Sample:
        cpu = {k: cpu_s(p) for k, p in pids.items()}
        return cls(time.monotonic(), cpu, machine_ticks(), udp_datagrams())

    def pct_since(self, before: Sample) -> dict[str, float]:
        wall = self.at - before.at
        out = {f"cpu_{k}_pct": round(100 * (v - before.cpu[k]) / wall, 1)
               for k, v in self.cpu.items()}  # fmt: skip
        busy, total = (a - b for a, b in zip(self.machine, before.machine, strict=True))
        out["machine_busy_pct"] = round(100 * busy / max(total, 1), 1)
        out["udp_datagrams_per_s"] = round((self.datagrams - before.datagrams) / wall)
        return out


class Entries:
    """Callers entering Hotline's queue (``Newexten`` of ``[hotline-wait]`` priority 1),
    by caller number, seen on an AMI link of this process."""

    def __init__(self, link: AMILink) -> None:
        self.numbers: set[str] = set()
        link.register_event("Newexten", self._on_exten)

    def _on_exten(self, _: AMILink, msg: Message) -> None:
        if msg.get("Context") == "hotline-wait" and msg.get("Priority") == "1":
            self.numbers.add(msg.get("CallerIDNum") or "")


def _records(db: Path, prefix: str) -> list[tuple[str, str, float | None]]:
    """(caller number, outcome, wait in the queue) of the records of a step's callers."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        rows = conn.execute(
            "SELECT caller_number, outcome, wait_s FROM call_records "
            "WHERE substr(caller_number, 1, ?) = ?",
            (len(prefix), prefix),
        ).fetchall()
    return [(str(a), str(b), None if c is None else float(c)) for a, b, c in rows]


def sipp_ms(value: str) -> float | None:
    """A SIPp response time ``HH:MM:SS:uuuuuu`` in milliseconds."""
    parts = value.strip().split(":")
    if len(parts) != 4 or not all(p.isdigit() for p in parts):
        return None
    h, m, s, us = (int(p) for p in parts)
    return round(((h * 60 + m) * 60 + s) * 1000 + us / 1000, 3)


def _write_config(work: Path, agents: int, channels: int) -> tuple[Path, Config]:
    text = bench_toml(agents, channels) + (
        f'\n[server]\nlisten = "127.0.0.1"\nhttp_port = {HTTP_PORT}\n'
        f'[store]\npath = "{work / "hotline.db"}"\nrecordings_dir = "{work / "recordings"}"\n'
    )
    path = work / "hotline.toml"
    path.write_text(text, encoding="utf-8")
    return path, parse_config(tomllib.loads(text), str(path), env={"S": SECRET})


async def _wait_http(proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession() as http:
        while True:
            if proc.poll() is not None:
                tail = (await asyncio.to_thread(log.read_text))[-2000:]
                raise RuntimeError(f"hotline serve exited: {tail}")
            try:
                async with http.get(f"http://127.0.0.1:{HTTP_PORT}/api/agents") as r:
                    if r.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("hotline serve never answered on HTTP")
            await asyncio.sleep(0.2)


async def _step(
    index: int,
    calls_up: int,
    args: argparse.Namespace,
    scenario: Path,
    work: Path,
    pids: dict[str, int],
    entries: Entries,
    trunk_password: str,
    agents_stats: Path,
) -> dict[str, Any]:
    prefix = f"05{index:02d}9"
    stat = work / f"carrier-{calls_up}.csv"
    total = calls_up * args.rounds
    rate = max(1.0, 2.0 * calls_up / args.hold)  # -l caps the calls up; ramp in hold/2
    argv = [
        f"127.0.0.1:{PORTS.sip}", "-sf", str(scenario), "-s", "4000",
        "-i", "127.0.0.1", "-p", str(CARRIER_PORT), "-mp", str(CARRIER_PORT + 2),
        "-au", "e1trunk", "-ap", trunk_password, "-key", "trunk", "e1trunk",
        "-key", "caller", prefix, "-aa",
        "-l", str(calls_up), "-r", f"{rate:.2f}", "-m", str(total),
        "-d", str(int(args.hold * 1000)), "-recv_timeout", "30000",
        "-timeout", f"{int(args.hold * (args.rounds + 2) + calls_up / rate + 60)}s",
        "-trace_stat", "-stf", str(stat), "-fd", "1",
    ]  # fmt: skip
    answered_before = sipp.counter(sipp.last_stats(agents_stats), "SuccessfulCall(C)")
    before = Sample.take(pids)
    children = _children_cpu_s()
    carrier = sipp.start(argv, work / f"carrier-{calls_up}.log")
    peak = 0
    while carrier.poll() is None:
        await asyncio.sleep(0.5)
        peak = max(peak, sipp.counter(sipp.last_stats(stat), "CurrentCall"))
    after = Sample.take(pids)
    # the carrier is the only child reaped during the step: its CPU is the children's
    carrier_cpu = _children_cpu_s() - children
    await asyncio.sleep(3.0)  # the last hang-ups reach the records
    stats = sipp.last_stats(stat)
    records = await asyncio.to_thread(_records, work / "hotline.db", prefix)
    numbers = {number for number, _, _ in records}
    waits = sorted(w * 1000 for _, outcome, w in records if outcome == "answered" and w is not None)
    entered = {n for n in entries.numbers if n.startswith(prefix)}
    outcomes: dict[str, int] = {}
    for _, outcome, _ in records:
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    result: dict[str, Any] = {
        "calls_up": calls_up,
        "seconds": round(after.at - before.at, 1),
        "placed": sipp.counter(stats, "TotalCallCreated"),
        "completed": sipp.counter(stats, "SuccessfulCall(C)"),
        "setup_failures": sipp.counter(stats, "FailedCall(C)"),
        "peak_calls_up": peak,
        "invite_to_200_ms_mean": sipp_ms(stats.get("ResponseTimesetup(C)", "")),
        "queue_wait_ms_p50": round(percentile(waits, 0.5), 1) if waits else None,
        "queue_wait_ms_p99": round(percentile(waits, 0.99), 1) if waits else None,
        "entered_queue": len(entered),
        "records": len(records),
        "lost_records": len(entered - numbers),
        "duplicated_records": len(records) - len(numbers),
        "answered_by_agents": outcomes.get("answered", 0),
        "agent_phones_completed": sipp.counter(sipp.last_stats(agents_stats), "SuccessfulCall(C)")
        - answered_before,
        "outcomes": outcomes,
        "carrier_exit": carrier.returncode,
        **after.pct_since(before),
        "cpu_sipp_carrier_pct": round(100 * carrier_cpu / (after.at - before.at), 1),
    }
    result["failing"] = failures(result)
    return result


def failures(step: dict[str, Any]) -> list[str]:
    """Why a step counts as failing (empty: it carried its load)."""
    placed = max(step["placed"], 1)
    unanswered = step["placed"] - step["answered_by_agents"]
    why = []
    if step["setup_failures"] > FAILED_SHARE * placed:
        why.append("setup failures")
    if unanswered > FAILED_SHARE * placed:
        why.append("unanswered calls")
    if step["lost_records"] or step["duplicated_records"]:
        why.append("records lost or duplicated")
    if (step["queue_wait_ms_p99"] or 0) > SLOW_WAIT_MS:
        why.append(f"queue wait p99 over {SLOW_WAIT_MS} ms with agents idle")
    return why


def verdict(steps: list[dict[str, Any]], cores: int) -> dict[str, Any]:
    """The first failing step and who was busiest there."""
    for step in steps:
        if step["failing"]:
            if step["machine_busy_pct"] >= 100 * (1 - IDLE_FLOOR):
                who = "machine"
            elif step["cpu_asterisk_pct"] >= step["cpu_hotline_pct"]:
                who = "asterisk"
            else:
                who = "hotline"
            return {"knee_calls_up": step["calls_up"], "bottleneck": who, "cores": cores}
    return {"knee_calls_up": None, "bottleneck": None, "cores": cores}


async def knee(args: argparse.Namespace) -> dict[str, Any]:
    require_root("hotline bench asterisk --knee")
    sipp.sipp_binary()
    steps: list[int] = args.knee
    top = steps[-1]
    install = ensure_install()
    netns = PrivateNetns.enter()
    work = Path(tempfile.mkdtemp(prefix="hotline-bench-knee-"))
    config_path, config = _write_config(work, top, 2 * top)
    extensions = [a.extension or "" for a in config.agents]
    pbx = start_generated(install, config, work / "asterisk", ports=PORTS, start=False)
    static_contacts(pbx.config_dir / "pjsip.conf", extensions, AGENTS_PORT)
    store = await Store.open(work / "hotline.db")
    await store.seed_from_config(config, PASSWORD)
    await store.close()
    media: Path | None = None
    if args.rtp:
        media = work / "silence.alaw"
        media.write_bytes(sipp.SILENCE_ALAW)
        allow_alaw(pbx.config_dir / "pjsip.conf")
    carrier_xml = sipp.write_scenario(work, "carrier", sipp.carrier(media))
    agents_xml = sipp.write_scenario(work, "agents", sipp.agents(media is not None))
    agents_stats = work / "agents.csv"
    procs: list[subprocess.Popen[bytes]] = []
    link = AMILink("127.0.0.1", PORTS.ami, config.ami.username, SECRET)
    desks: Desks | None = None
    try:
        pbx.instance.start()
        assert pbx.instance.pid is not None
        agents = sipp.start(
            ["-sf", str(agents_xml), "-i", "127.0.0.1", "-p", str(AGENTS_PORT),
             "-mp", str(AGENTS_PORT + 2), "-aa", "-trace_stat", "-stf", str(agents_stats),
             "-fd", "1", *(["-rtp_echo"] if args.rtp else [])],
            work / "agents.log",
        )  # fmt: skip
        procs.append(agents)
        with (work / "hotline.log").open("wb") as log:
            server = subprocess.Popen(  # noqa: ASYNC220 - started once, returns at once
                [sys.executable, "-m", "cti.cli", "serve", "--config", str(config_path)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, "S": SECRET},
            )  # fmt: skip
        procs.append(server)
        await _wait_http(server, work / "hotline.log")
        desks = await login_desks(f"http://127.0.0.1:{HTTP_PORT}/ws", config)
        entries = Entries(link)
        await link.start()
        await link.wait_up(15)
        await asyncio.sleep(2.0)  # the desks' ready reaches the ACD
        pids = {"asterisk": pbx.instance.pid, "hotline": server.pid,
                "sipp_agents": agents.pid, "bench": os.getpid()}  # fmt: skip
        results = []
        for i, calls_up in enumerate(steps):
            result = await _step(i, calls_up, args, carrier_xml, work, pids, entries,
                                 pbx.passwords["e1trunk"], agents_stats)  # fmt: skip
            results.append(result)
            if not args.json:
                print(_line(result), file=sys.stderr, flush=True)
            if result["failing"] and not args.keep_going:
                break
        return {
            "mode": "knee",
            "rtp": args.rtp,
            "hold_s": args.hold,
            "rounds": args.rounds,
            "agents": top,
            "trunk_channels": 2 * top,
            "steps": results,
            **verdict(results, os.cpu_count() or 1),
            "asterisk": pbx.instance.status().describe(),
            "work_dir": str(work),
        }
    finally:
        if desks is not None:
            await desks.close()
        await link.close()
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        pbx.stop()
        netns.restore()


def _line(r: dict[str, Any]) -> str:
    return (
        f"{r['calls_up']:>5} up{' FAILING' if r['failing'] else ''}: placed {r['placed']} "
        f"failed {r['setup_failures']} "
        f"answered {r['answered_by_agents']} lost {r['lost_records']} dup "
        f"{r['duplicated_records']} wait p99 {r['queue_wait_ms_p99']} ms  "
        f"cpu asterisk {r['cpu_asterisk_pct']}% hotline {r['cpu_hotline_pct']}% "
        f"machine {r['machine_busy_pct']}%"
    )
