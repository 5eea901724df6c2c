"""``hotline trunk-sim``: load the E1 trunk and compare what happens with Erlang B and C.

Callers arrive as a Poisson stream (``--rate`` calls/s) on the carrier trunk of an
in-process pbx_sim (``--embedded``), which runs the Hotline dialplan with a trunk of
``--channels`` (default 30: an E1). The call that finds every channel busy is rejected
by the dialplan exactly as Asterisk does (Congestion, cause 34) and counted as blocked.

* ``--agents 0``: no agents; every admitted call is answered by the dialplan (music on
  hold stands in for an auto-attendant) and holds its channel for a holding time
  (``--hold`` mean, ``--holding exp|fixed|lognormal``): the pure loss system of Erlang B.
* ``--agents N``: N simulated agent phones (8001…) answer after ``--answer-delay`` s; the
  calls are routed by Hotline's own server core (the call model and the ACD, fed by the
  PBX's AMI events in process, its AMI actions carried out by the PBX), the caller talks
  for the holding time and hangs up; a caller whose patience (``--patience`` mean,
  exponential) runs out first hangs up while waiting.

Time is virtual: ``--duration`` simulated seconds run as fast as the CPU allows, or
``--speedup X`` times faster than the wall clock. With ``--json`` the last line is the
report of DESIGN.md §3.3, with Erlang B's blocking and Erlang C's waiting probability and
ASA for the same load beside the measured figures.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import itertools
import json
import random
import sys
import time
import tomllib
from collections import Counter
from typing import Any, Final

from cti.ami.codec import Message
from cti.calls.model import CallModel
from cti.center.core import Center
from cti.center.effects import Effect, LookupCaller, PbxAction, Publish
from cti.config import Config, Role, parse_config
from pbx_sim.config import hotline_config
from pbx_sim.erlang import erlang_b, erlang_c, erlang_c_asa
from pbx_sim.phones import PhoneBehaviour
from pbx_sim.trunk_ami import AmiTrunkSim
from pbx_sim.workload import Callers
from pbx_sim.world import World

DID: Final = "5000"
FIRST_EXT: Final = 8001
_ARRIVE, _HANGUP, _PATIENCE = range(3)


def center_config(agents: int, channels: int, ring_timeout: float, wrap_up: float) -> Config:
    text = [
        '[ami]\nsecret_env = "TRUNK_SIM"',
        '[skills]\ns = "any"',
        f'[[queues]]\nname = "q"\nskills = {{ s = 1 }}\nwrap_up_s = {wrap_up}\n'
        f"ring_timeout_s = {ring_timeout}",
        f'[[trunks]]\nname = "e1"\nchannels = {channels}\ndefault_queue = "q"',
    ]
    for i in range(agents):
        text.append(f'[[agents]]\nid = "{100001 + i}"\nextension = "{FIRST_EXT + i}"\n'
                    "skills = { s = 5 }")  # fmt: skip
    return parse_config(tomllib.loads("\n\n".join(text)), "<trunk-sim>", env={"TRUNK_SIM": "-"})


class TrunkSim:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.callers = Callers(
            rate=args.rate,
            hold_s=args.hold,
            holding=args.holding,
            patience_s=args.patience or None,
        )
        cfg = hotline_config(agents=max(args.agents, 1), trunk_channels=args.channels)
        self.now = 0.0
        self.world = World(cfg, now=0.0, epoch=1.8e9, events_detail=args.agents > 0)
        answer = None if args.answer_delay < 0 else args.answer_delay
        for i in range(args.agents):
            self.world.phones.set(str(FIRST_EXT + i), PhoneBehaviour(answer_delay=answer))
        self.model: CallModel | None = None
        self.center: Center | None = None
        self._actions: list[PbxAction] = []
        if args.agents > 0:
            # Hotline's own server core routes the calls, fed by the PBX's events.
            config = center_config(args.agents, args.channels, args.ring_timeout, args.wrap_up)
            self.model = CallModel(trunk_devices=("PJSIP/e1trunk",))
            self.center = Center(config, self.model, now=0.0)
            self.world.subscribe(self._on_event)
            for agent in config.agents:
                _, effects = self.center.login(
                    agent.agent_id, Role.AGENT, agent.extension, 0.0, takeover=False
                )
                self._run(effects)
                _, effects = self.center.agent_command(agent.agent_id, "agent.ready", {}, 0.0)
                self._run(effects)
            self._actions.clear()  # nothing to act on yet
        else:
            self.world.subscribe(self._on_hangup, ["Hangup"])
        self._heap: list[tuple[float, int, int, str]] = []
        self._seq = itertools.count()
        self._channel_of: dict[str, str] = {}  # caller channel -> call key
        self._answered: set[str] = set()
        self.counts: Counter[str] = Counter()
        self.busy = 0
        self.max_concurrent = 0
        self.waits: list[float] = []
        self._arrived: dict[str, float] = {}
        self._push(self.callers.interarrival(self.rng), _ARRIVE, "")

    # -------------------------------------------------------------------- the loop

    def _push(self, t: float, kind: int, key: str) -> None:
        heapq.heappush(self._heap, (t, next(self._seq), kind, key))

    def run_until(self, t_end: float) -> None:
        world, heap = self.world, self._heap
        while True:
            candidates = []
            if heap:
                candidates.append(heap[0][0])
            w = world.next_wakeup()
            if w is not None:
                candidates.append(w)
            if self.center is not None:
                candidates.append(self.center.next_wakeup())
            t = min(candidates, default=t_end + 1)
            if t > t_end:
                break
            self.now = max(self.now, t)
            if w is not None and w <= t:
                world.tick(w)
            if self.center is not None and self.center.next_wakeup() <= t:
                self._run(self.center.tick(t))
            while heap and heap[0][0] <= t:
                _, _, kind, key = heapq.heappop(heap)
                self._handle(kind, key, t)
            while self._actions:
                action = self._actions.pop(0)
                world.run_action(t, action.name, **dict(action.headers))
        self.now = t_end

    def _handle(self, kind: int, key: str, t: float) -> None:
        if kind == _ARRIVE:
            self._push(t + self.callers.interarrival(self.rng), _ARRIVE, "")
            self._arrive(t)
        elif kind == _HANGUP:
            self._hang_up(key, t)
        elif kind == _PATIENCE and key not in self._answered and self._hang_up(key, t):
            self.counts["abandoned"] += 1

    def _arrive(self, t: float) -> None:
        n = self.counts["offered"] = self.counts["offered"] + 1
        call = self.world.trunk_call(t, DID, f"0{600000000 + n}", "")
        if not call.admitted:
            self.counts["blocked"] += 1
            return
        self.counts["carried"] += 1
        self.busy += 1
        self.max_concurrent = max(self.max_concurrent, self.busy)
        self._arrived[call.channel] = t
        if self.center is None:
            # The dialplan answered it (music on hold): it holds its channel.
            self._push(t + self.callers.hold(self.rng), _HANGUP, call.channel)
            self._answered.add(call.channel)
            self.counts["answered"] += 1
            self.waits.append(0.0)
        else:
            patience = self.callers.patience(self.rng)
            if patience is not None:
                self._push(t + patience, _PATIENCE, call.channel)

    def _hang_up(self, channel: str, t: float) -> bool:
        if self.world.channels.get(channel) is None:
            return False
        self.world.hangup(t, channel)
        return True

    # ------------------------------------------------------- Hotline's core at work

    def _on_hangup(self, msg: Message) -> None:
        if self._arrived.pop(msg.get("Channel") or "", None) is not None:
            self.busy -= 1

    def _on_event(self, msg: Message) -> None:
        assert self.model is not None and self.center is not None
        now = self.world.now
        name = msg.event
        if name == "Hangup":
            self._on_hangup(msg)
        effects = self.center.on_changes(self.model.handle(msg, now), now)
        if name in ("Newexten", "DialBegin", "DialEnd"):
            decided = self.center.on_event(msg, now)
            if any(isinstance(e, Publish) and e.event == "call.queued" for e in decided):
                self.counts["entered"] += 1
                if not any(isinstance(e, PbxAction) and e.name == "Redirect" for e in decided):
                    self.counts["queued"] += 1  # no agent was ready for it
            effects += decided
        if name == "DialEnd" and msg.get("DialStatus") == "ANSWER":
            channel = msg.get("Channel") or ""
            if channel in self._arrived and channel not in self._answered:
                self._answered.add(channel)
                self.counts["answered"] += 1
                self.waits.append(now - self._arrived[channel])
                self._push(now + self.callers.hold(self.rng), _HANGUP, channel)
        self._run(effects)

    def _run(self, effects: list[Effect]) -> None:
        center = self.center
        assert center is not None
        for effect in effects:
            if isinstance(effect, PbxAction):
                # Not from inside the world's event emission: after the step, like AMI.
                self._actions.append(effect)
            elif isinstance(effect, LookupCaller):
                self._run(center.caller_found(effect.call_id, None, []))

    # --------------------------------------------------------------------- report

    def report(self) -> dict[str, Any]:
        c, args = self.counts, self.args
        offered_erlangs = self.callers.offered_erlangs
        acd = self.center.acd if self.center is not None else None
        answered_waits = [w for w in self.waits if w >= 0]
        report: dict[str, Any] = {
            "simulated_s": round(self.now, 1),
            "offered": c["offered"],
            "carried": c["carried"],
            "blocked": c["blocked"],
            "abandoned": c["abandoned"],
            "answered": c["answered"],
            "max_concurrent": self.max_concurrent,
            "blocking": round(c["blocked"] / c["offered"], 5) if c["offered"] else None,
            "offered_erlangs": round(offered_erlangs, 3),
            "erlang_b_blocking": round(erlang_b(offered_erlangs, args.channels), 5),
            "channels": args.channels,
            "agents": args.agents,
        }
        if acd is not None:
            report["queued_fraction"] = round(c["queued"] / max(1, c["entered"]), 4)
            waits = answered_waits
            report["asa_s"] = round(sum(waits) / len(waits), 3) if waits else None
            carried = offered_erlangs * (1 - erlang_b(offered_erlangs, args.channels))
            handle = args.hold + args.wrap_up + max(args.answer_delay, 0.0)
            report["erlang_c_wait_probability"] = round(erlang_c(carried * handle / args.hold,
                                                                 args.agents), 4)  # fmt: skip
            report["erlang_c_asa_s"] = round(
                erlang_c_asa(carried * handle / args.hold, args.agents, handle), 3
            )
        else:
            report["queued_fraction"] = 0.0
            report["asa_s"] = 0.0
        return report


def _over_ami(args: argparse.Namespace, show: bool) -> int:
    if args.embedded or args.speedup:
        print("hotline trunk-sim: --ami runs in real time (no --embedded, no --speedup)",
              file=sys.stderr)  # fmt: skip
        return 2
    callers = Callers(rate=args.rate, hold_s=args.hold, holding=args.holding,
                      patience_s=args.patience or None, numbers=((DID, 1.0),))  # fmt: skip
    sim = AmiTrunkSim(args, callers)
    started = time.monotonic()
    asyncio.run(sim.run(args.duration, show))
    report = real_time_report(
        args, callers, sim.counts, sim.max_concurrent, sim.waits, time.monotonic() - started
    )
    print(json.dumps(report) if args.json else json.dumps(report, indent=2))
    return 0


def real_time_report(
    args: argparse.Namespace,
    callers: Callers,
    counts: dict[str, int],
    max_concurrent: int,
    waits: list[float],
    wall_s: float,
    **extra: Any,
) -> dict[str, Any]:
    """The JSON report of a run against a real PBX (over AMI or SIP): what was measured
    beside what Erlang B and C predict for the same offered load."""
    offered_erlangs = callers.offered_erlangs
    report: dict[str, Any] = {
        **counts,
        "max_concurrent": max_concurrent,
        "blocking": round(counts["blocked"] / counts["offered"], 5) if counts["offered"] else None,
        "asa_s": round(sum(waits) / len(waits), 3) if waits else None,
        **extra,
        "offered_erlangs": round(offered_erlangs, 3),
        "erlang_b_blocking": round(erlang_b(offered_erlangs, args.channels), 5),
        "channels": args.channels,
        "agents": args.agents,
        "wall_s": round(wall_s, 2),
    }
    if args.agents:
        report["erlang_c_wait_probability"] = round(erlang_c(offered_erlangs, args.agents), 4)
        report["erlang_c_asa_s"] = round(erlang_c_asa(offered_erlangs, args.agents, args.hold), 3)
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="hotline trunk-sim", description=__doc__.split("\n")[0])
    p.add_argument("--embedded", action="store_true", help="in-process pbx_sim (default)")
    p.add_argument("--ami", metavar="HOST:PORT", help="drive a real PBX (or hotline sim) over AMI")
    p.add_argument("--ami-user", default="hotline", help="AMI user (with --ami)")
    p.add_argument("--ami-secret", help="AMI secret (default: $HOTLINE_TRUNK_SIM_SECRET)")
    p.add_argument("--sip", metavar="HOST:PORT", help="real SIP calls into the PBX's trunk")
    p.add_argument("--sip-user", default="e1trunk", help="carrier account (with --sip)")
    p.add_argument("--did", default=DID, help="number dialled (with --sip)")
    p.add_argument("--rate", type=float, required=True, help="calls per second (Poisson)")
    p.add_argument("--hold", type=float, required=True, help="mean holding time, s")
    p.add_argument("--holding", choices=["exp", "fixed", "lognormal"], default="exp")
    p.add_argument("--patience", type=float, default=0.0, help="mean, s (0: never hang up)")
    p.add_argument("--channels", type=int, default=30, help="trunk channels (E1: 30)")
    p.add_argument("--agents", type=int, default=0, help="simulated agents (0: none)")
    p.add_argument("--answer-delay", type=float, default=3.0, help="agents' ring time, s")
    p.add_argument("--ring-timeout", type=float, default=30.0, help="RONA after, s")
    p.add_argument("--wrap-up", type=float, default=0.0, help="agents' wrap-up, s")
    p.add_argument("--duration", type=float, default=3600.0, help="simulated seconds")
    p.add_argument("--speedup", type=float, default=0.0, help="X times the wall clock (0: max)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true", help="quiet; the last line is the report")
    args = p.parse_args(argv)
    if args.rate <= 0 or args.hold <= 0 or args.channels < 1 or args.agents < 0:
        p.error("--rate and --hold must be > 0, --channels >= 1, --agents >= 0")
    if args.agents > 999:
        p.error("--agents: at most 999 (extensions 8001-8999)")
    show = sys.stderr.isatty() and not args.json
    if args.sip:
        from pbx_sim.trunk_sip import over_sip  # noqa: PLC0415 (imports pjsua2)

        sip_report = over_sip(args, show)
        if isinstance(sip_report, int):
            return sip_report
        print(json.dumps(sip_report) if args.json else json.dumps(sip_report, indent=2))
        return 0
    if args.ami:
        return _over_ami(args, show)
    sim = TrunkSim(args)
    started = time.monotonic()
    step = max(1.0, args.duration / 200)
    t = 0.0
    while t < args.duration:
        t = min(args.duration, t + step)
        if args.speedup > 0:
            ahead = t / args.speedup - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
        sim.run_until(t)
        if show:
            c = sim.counts
            print(
                f"\r\x1b[Kt={t:.0f}s  in progress {sim.busy}/{args.channels}  offered "
                f"{c['offered']}  answered {c['answered']}  blocked {c['blocked']}  "
                f"abandoned {c['abandoned']}",
                end="",
                file=sys.stderr,
                flush=True,
            )
    if show:
        print(file=sys.stderr)
    report = sim.report()
    report["wall_s"] = round(time.monotonic() - started, 2)
    print(json.dumps(report) if args.json else json.dumps(report, indent=2))
    return 0
