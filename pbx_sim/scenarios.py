"""What the softphones did in each transcript, as world inputs (the replay's scenario table).

Each transcript's ``### note`` blocks say what happened outside AMI: an INVITE from the
carrier, a phone answering or hanging up, DTMF, (un)registration, a SIGTERM. The generic
handlers below turn those notes into world calls; :data:`SCENARIOS` adds what each capture
set up beforehand (paused agents, calls already in progress, how the phones behave) and
the comparison rules where Asterisk's output is a race (each with its reason).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cti.ami.transcript import Block

from . import conference
from .compare import Rules
from .config import LAB_DIR, load_config
from .model import DS_NOT_INUSE
from .phones import PhoneBehaviour
from .world import World

if TYPE_CHECKING:
    from .ami_server import AMIServer

__all__ = ["SCENARIOS", "Scenario", "rules_for", "scenario_for"]

NEVER = PhoneBehaviour(answer_delay=None)
BUSY486 = PhoneBehaviour(busy=True, busy_delay=1.0)

Setup = Callable[["Scenario", World], None]


@dataclass
class Spec:
    """Per-transcript facts the notes do not say."""

    #: Phones registered when the capture starts (00a/00b: before the softphones start).
    registered: bool = True
    #: Asterisk already booted (00a: the client connected during start-up).
    booted: bool = True
    #: World time the setup starts at (11 needs calls set up before the capture).
    start: float = 0.0
    phones: dict[str, PhoneBehaviour] = field(default_factory=dict)
    setup: Setup | None = None
    rules: Rules = field(default_factory=Rules)
    #: Why each rule is there (shown by the tests, kept in docs/pbx_sim.md).
    reasons: list[str] = field(default_factory=list)


def _pause_all(s: Scenario, w: World) -> None:
    for i in range(1, 5):
        w.queues.pause(f"PJSIP/800{i}", True, "", "support")


def _setup_11(s: Scenario, w: World) -> None:
    """8002..8004 paused; caller 0215550201 talking to 8001; 0215550202 waiting. The
    conference device of 07 (which ran earlier in the capture) is known."""
    w.set_device_state(w.device("confbridge:1000"), DS_NOT_INUSE)
    for i in (2, 3, 4):
        w.queues.pause(f"PJSIP/800{i}", True, "state query setup", "support")
    c1 = w.trunk_call(-7.4, "5000", "0215550201", "Query Caller One")
    s.callers.append(c1.channel)
    _run_until(w, -5.35)
    c2 = w.trunk_call(-5.3, "5000", "0215550202", "Query Caller Two")
    s.callers.append(c2.channel)
    _run_until(w, -0.5)


def _setup_12(s: Scenario, w: World) -> None:
    return None


def _run_until(w: World, t: float) -> None:
    while (n := w.next_wakeup()) is not None and n <= t:
        w.tick(n)
    w.tick(t)


_RACE_DEVSTATE = (
    "DeviceStateChange/ExtensionStatus/QueueMemberStatus are published by Asterisk's "
    "device-state task processor and interleave with channel events at random; they are "
    "compared per device/hint/member (each lane in order)."
)

SCENARIOS: dict[str, Spec] = {
    "00a": Spec(registered=False, booted=False),
    "00b": Spec(registered=False),
    "02b": Spec(phones={"8001": BUSY486, "8002": NEVER, "8003": NEVER, "8004": NEVER}),
    "02c": Spec(setup=_pause_all),
    "04c": Spec(phones={"8003": BUSY486, "8004": NEVER}),
    "06a": Spec(phones={"8003": NEVER, "9001": PhoneBehaviour(answer_delay=0.5)}),
    "06b": Spec(phones={"8003": NEVER, "9001": PhoneBehaviour(answer_delay=0.5)}),
    "06c": Spec(phones={"8003": NEVER, "9001": PhoneBehaviour(answer_delay=0.5)}),
    "10": Spec(
        setup=_pause_all,
        rules=Rules(
            ends_only={"device:Local/"},
            ignore_values={
                ("QueueCallerAbandon", "Position"),
                ("QueueCallerAbandon", "OriginalPosition"),
                ("QueueCallerLeave", "Position"),
                ("QueueCallerLeave", "Count"),
                ("QueueCallerJoin", "Position"),
                ("QueueCallerJoin", "Count"),
            },
        ),
        reasons=[
            "Local channel devices are not cached: Asterisk publishes one DeviceStateChange "
            "per state-change request from 63 channel threads racing each other (66 INUSE, "
            "57 NOT_INUSE here); only the first and last state are compared.",
            "The 30 originates run in parallel threads in Asterisk, so which call joins the "
            "queue at which position, and the order the regex Hangup clears them in (hash "
            "order), are races: queue positions/counts are not compared in 10.",
        ],
    ),
    "11": Spec(
        start=-10.0,
        setup=_setup_11,
        rules=Rules(loose_responses={"s11-022", "s11-023", "s11-024"}),
        reasons=[
            "Command (CLI) output is free text: 'core show channels concise' lists channels "
            "in hash order with per-run ids, 'queue show' prints history counters; only the "
            "response line and Message are compared.",
            "ListCommands lists the actions pbx_sim implements (with Asterisk's texts), not "
            "all 102 of Asterisk 22.",
        ],
    ),
    "12": Spec(setup=_setup_12),
}


def rules_for(name: str) -> Rules:
    return _spec(name).rules


def _spec(name: str) -> Spec:
    for key, spec in SCENARIOS.items():
        if name.startswith(key):
            return spec
    return Spec()


def _counters(blocks: list[Block]) -> tuple[int, int]:
    pjsip: list[int] = []
    local: list[int] = []
    for b in blocks:
        if b.kind != "server":
            continue
        for m in re.finditer(rb"Channel: (PJSIP|Local)/\S+?-([0-9a-f]{8})", b.data):
            (pjsip if m.group(1) == b"PJSIP" else local).append(int(m.group(2), 16))
    return (min(pjsip) if pjsip else 0, min(local) if local else 0)


class Scenario:
    """Builds the world for one transcript and turns its notes into world inputs."""

    def __init__(self, name: str, blocks: list[Block]) -> None:
        self.name = name
        self.spec = _spec(name)
        self.blocks = blocks
        self.world: World | None = None
        self.server: AMIServer | None = None
        self.callers: list[str] = []
        self._tmp = tempfile.TemporaryDirectory(prefix="pbx_sim-spool-")
        #: Where MixMonitor writes its files during this replay.
        self.spool_dir = self._tmp.name

    def build_world(self) -> World:
        spec = self.spec
        cfg = load_config(LAB_DIR)
        cfg.monitor_dir = self.spool_dir
        world = World(
            cfg,
            now=spec.start,
            boot=spec.booted,
            registered=spec.registered,
        )
        pj, loc = _counters(self.blocks)
        if self.name.startswith("11"):
            pj -= 0  # the setup creates the three channels the capture shows
        world._chan_seq = pj
        world._local_seq = loc
        for ep, b in spec.phones.items():
            world.phones.set(ep, b)
        self.world = world
        if spec.setup is not None:
            spec.setup(self, world)
        return world

    def attach(self, server: AMIServer) -> None:
        self.server = server

    # -- notes ------------------------------------------------------------------------------

    async def note(self, text: str, t: float) -> None:
        w = self.world
        assert w is not None
        for pattern, handler in _HANDLERS:
            m = pattern.search(text)
            if m is not None:
                await handler(self, w, m, t)
                return

    def live(self, endpoint: str) -> str | None:
        assert self.world is not None
        found = [
            c for c in self.world.channels.values() if c.tech == "PJSIP" and c.resource == endpoint
        ]
        return found[-1].name if found else None

    def caller(self) -> str | None:
        assert self.world is not None
        for name in reversed(self.callers):
            if name in self.world.channels:
                return name
        return None


Handler = Callable[[Scenario, World, "re.Match[str]", float], Awaitable[None]]


async def _invite(s: Scenario, w: World, m: re.Match[str], t: float) -> None:
    call = w.trunk_call(t, m.group(1), m.group(3), m.group(2))
    s.callers.append(call.channel)


async def _caller_hangup(s: Scenario, w: World, m: re.Match[str], t: float) -> None:
    name = s.caller()
    if name is not None:
        w.hangup(t, name)


async def _endpoint_hangup(s: Scenario, w: World, m: re.Match[str], t: float) -> None:
    for ep in m.groups():
        if ep is None:
            continue
        name = s.live(ep)
        if name is not None:
            w.hangup(t, name)


async def _external_hangup(s: Scenario, w: World, m: re.Match[str], t: float) -> None:
    name = s.live("e1trunk")
    if name is not None:
        w.hangup(t, name)


async def _dtmf(s: Scenario, w: World, m: re.Match[str], t: float) -> None:
    name = s.caller()
    if name is not None:
        w.send_dtmf(t, name, m.group(1))


async def _register_all(s: Scenario, w: World, m: re.Match[str], t: float) -> None:
    for ep in ("e1trunk", "8001", "8002", "8003", "8004", "9001"):
        w.register(t, ep)


async def _unregister(s: Scenario, w: World, m: re.Match[str], t: float) -> None:
    w.unregister(t, m.group(1))


async def _register(s: Scenario, w: World, m: re.Match[str], t: float) -> None:
    w.register(t, m.group(1))


async def _boot(s: Scenario, w: World, m: re.Match[str], t: float) -> None:
    # 00a: the dialplan-load events arrived ~30 ms after the Login.
    w.call_at(t + 0.03, lambda _a, _b: w.boot(w.now))


async def _sigterm(s: Scenario, w: World, m: re.Match[str], t: float) -> None:
    assert s.server is not None
    await s.server.shutdown()


async def _talk(s: Scenario, w: World, m: re.Match[str], t: float) -> None:
    name = s.live(m.group(1))
    if name is not None:
        conference.talk(w, t, name, float(m.group(2)))


async def _ignore(s: Scenario, w: World, m: re.Match[str], t: float) -> None:
    return None


_HANDLERS: list[tuple[re.Pattern[str], Handler]] = [
    (re.compile(r'sends INVITE to DID (\d+) with P-Asserted-Identity "([^"]*)" <(\d+)>'), _invite),
    (re.compile(r"pjsua: caller (?:hangs up|gives up and hangs up|abandons)"), _caller_hangup),
    (
        re.compile(r"pjsua: (?:agent|supervisor|transferring agent) (\d+) hangs up"),
        _endpoint_hangup,
    ),
    (re.compile(r"pjsua: (\d+) hangs up, then (\d+) hangs up"), _endpoint_hangup),
    (re.compile(r"pjsua: the external party \(e1trunk side\) hangs up"), _external_hangup),
    (re.compile(r'pjsua: caller sends (?:RFC 4733 )?DTMF "([0-9*#]+)"'), _dtmf),
    (re.compile(r"pjsua: starting softphones and registering"), _register_all),
    (re.compile(r"pjsua: agent (\d+) un-registers"), _unregister),
    (re.compile(r"pjsua: agent (\d+) registers again"), _register),
    (re.compile(r"AMI port accepted"), _boot),
    (re.compile(r"capture script: SIGTERM"), _sigterm),
    (re.compile(r"pjsua: (\d+) plays a .* tone for ([0-9.]+) s"), _talk),
]


def scenario_for(name: str, blocks: list[Block]) -> Scenario:
    return Scenario(name, blocks)


__all__ += ["Any", "Spec"]
