"""``hotline demo``: the demo call center, routed by the ACD, with live statistics.

Callers dial the demo trunk's numbers (Poisson arrivals), the ACD routes them to the
simulated agents 80001…80012 (80000 is left for a person), agents answer after a ring,
talk, wrap up and take the next call. The model runs on a virtual clock that is paced to
the wall clock (``--speedup`` runs it faster); every second the queues, agents and trunk
are shown. The web console and the real PBX link join this command with the CTI server.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from typing import Any, TextIO

from acd import ACD, AgentState
from cti.config import Config, demo_config
from pbx_sim.center_model import CenterModel
from pbx_sim.erlang import erlang_b, erlang_c, erlang_c_asa
from pbx_sim.workload import Callers

PERSON_AGENT = "80000"  # left free for a person to log in (DESIGN.md §3.3)
FRAME_S = 0.1


def build_center(config: Config, args: argparse.Namespace) -> CenterModel:
    acd = ACD(config.queues)
    simulated = []
    for agent in config.agents:
        acd.add_agent(agent.spec())
        if agent.role == "agent" and agent.agent_id != PERSON_AGENT:
            simulated.append(agent.agent_id)
    trunk = config.trunks[0]
    numbers = [(number, 1.0) for number in trunk.routes]
    callers = Callers(
        rate=args.rate / 60.0,
        hold_s=args.hold,
        holding=args.holding,
        patience_s=args.patience or None,
        numbers=numbers,
    )
    return CenterModel(
        acd,
        simulated,
        callers,
        dict(trunk.routes),
        channels=trunk.channels,
        answer_delay_s=args.answer_delay,
        seed=args.seed,
    )


def report(center: CenterModel) -> dict[str, Any]:
    s = center.stats
    callers = center.callers
    agents = sum(1 for v in center.acd.agents() if v.state is not AgentState.LOGGED_OUT)
    offered = callers.offered_erlangs
    return {
        "simulated_s": round(center.now, 1),
        "offered": s.offered,
        "carried": s.carried,
        "blocked": s.blocked,
        "abandoned": s.abandoned,
        "answered": s.answered,
        "callbacks": s.fallbacks,
        "max_concurrent": s.max_concurrent,
        "asa_s": round(s.wait_answered_s / s.answered, 2) if s.answered else None,
        "queued_fraction": round(s.queued / s.carried, 4) if s.carried else None,
        "offered_erlangs": round(offered, 2),
        "erlang_b_blocking": round(erlang_b(offered, center.channels), 5),
        "erlang_c_wait_probability": round(erlang_c(offered, agents), 4),
        "erlang_c_asa_s": round(erlang_c_asa(offered, agents, callers.hold_s), 2),
        "agents": agents,
        "queues": {
            name: {
                "waiting": q.waiting,
                "longest_wait_s": round(q.longest_wait_s, 1),
                "agents_ready": q.agents_ready,
                "agents_busy": q.agents_busy,
                "answered": q.answered,
                "abandoned": q.abandoned,
                "service_level": None if q.service_level is None else round(q.service_level, 3),
            }
            for name in center.acd.queue_names()
            for q in [center.acd.queue_stats(name, center.now)]
        },
    }


def render(center: CenterModel, out: TextIO, tty: bool) -> None:
    r = report(center)
    states = Counter(v.state.value for v in center.acd.agents())
    minutes, seconds = divmod(int(r["simulated_s"]), 60)
    lines = [
        f"Hotline demo  t={minutes:02d}:{seconds:02d}  trunk {center.busy}/{center.channels}"
        f"  offered {r['offered']}  answered {r['answered']}  abandoned {r['abandoned']}"
        f"  blocked {r['blocked']}  ASA {r['asa_s'] if r['asa_s'] is not None else '-'} s",
        "agents: " + "  ".join(f"{k} {states[k]}" for k in sorted(states)),
        f"{'queue':<10} {'waiting':>7} {'longest':>8} {'ready':>5} {'busy':>5} {'SL':>6}",
    ]
    for name, q in r["queues"].items():
        sl = "-" if q["service_level"] is None else f"{q['service_level'] * 100:.0f}%"
        lines.append(
            f"{name:<10} {q['waiting']:>7} {q['longest_wait_s']:>7.0f}s "
            f"{q['agents_ready']:>5} {q['agents_busy']:>5} {sl:>6}"
        )
    if tty:
        out.write("\x1b[H\x1b[J" + "\n".join(lines) + "\n")
    else:
        out.write(" | ".join(lines[:2]) + "\n")
    out.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hotline demo", description=__doc__.split("\n")[0])
    parser.add_argument("--pbx", choices=["sim"], default="sim", help="the embedded simulator")
    parser.add_argument("--rate", type=float, default=9.0, help="calls per minute (default 9)")
    parser.add_argument("--hold", type=float, default=60.0, help="mean talk time, s")
    parser.add_argument("--holding", choices=["exp", "fixed", "lognormal"], default="exp")
    parser.add_argument("--patience", type=float, default=120.0, help="mean, s (0 = never)")
    parser.add_argument("--answer-delay", type=float, default=2.0, help="ring time, s")
    parser.add_argument("--speedup", type=float, default=1.0, help="virtual s per wall s")
    parser.add_argument("--duration", type=float, help="stop after this many virtual s")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="quiet; print the final report")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.hold <= 0 or args.speedup <= 0 or args.answer_delay < 0:
        parser.error("--rate, --hold and --speedup must be > 0, --answer-delay >= 0")

    center = build_center(demo_config(), args)
    tty = sys.stdout.isatty() and not args.json
    if not args.json:
        print(
            "Hotline demo: agents 80001-80012 are simulated, 80000 is free for you, "
            "supervisor 90001. Ctrl-C stops.",
            flush=True,
        )
    start = time.monotonic()
    last_render = -1.0
    try:
        while True:
            virtual = (time.monotonic() - start) * args.speedup
            if args.duration is not None:
                virtual = min(virtual, args.duration)
            center.run_until(virtual)
            if not args.json and virtual - last_render >= args.speedup:
                render(center, sys.stdout, tty)
                last_render = virtual
            if args.duration is not None and virtual >= args.duration:
                break
            time.sleep(FRAME_S)
    except KeyboardInterrupt:
        pass
    print(json.dumps(report(center), ensure_ascii=False))
    return 0
