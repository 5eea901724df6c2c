"""Compare what pbx_sim sent with what Asterisk 22 sent (see :mod:`pbx_sim.replay`).

- Event families the simulator does not produce are dropped from both sides first
  (:data:`IGNORED_EVENTS`, :data:`IGNORED_VARS`, each with its reason).
- Values that differ per run are normalised (:data:`TIMESTAMP_HEADERS`, ids, ports...);
  values that depend on what the capture's Asterisk did before the transcript started
  (:data:`HISTORY_HEADERS`) are not compared; channel names and Uniqueids are matched
  between the two runs and renamed to labels.
- Asterisk publishes events from many threads, so only some orders are deterministic.
  Every message goes into one or more *lanes* and the order is compared lane by lane: the
  responses of a connection; each channel (the events whose ``Channel`` it is, in order);
  each bridge; each device, hint, queue member, contact; each list action (items as a
  multiset, the ``...Complete`` last). Within a lane the sequences must be equal: same event
  types, same header names in the same order, same values.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Final

from cti.ami.codec import Message

__all__ = [
    "GLOBAL_IGNORED_VALUES",
    "HISTORY_HEADERS",
    "IGNORED_EVENTS",
    "IGNORED_VARS",
    "TIMESTAMP_HEADERS",
    "Rules",
    "compare_streams",
]

#: Event families never produced by the simulator, and why.
IGNORED_EVENTS: Final[dict[str, str]] = {
    "TestEvent": "debug-build artefact of Debian's Asterisk (test framework hooks); "
    "production builds do not send it",
    "RTCPReceived": "no RTP/RTCP in the simulator (signalling only)",
    "RTCPSent": "no RTP/RTCP in the simulator (signalling only)",
}

#: VarSet variables the simulator does not set, and why (prefix match).
IGNORED_VARS: Final[dict[str, str]] = {
    "RTPAUDIOQOS": "RTP statistics; there is no media in the simulator",
}

#: Headers whose values are wall-clock times (differ per run).
TIMESTAMP_HEADERS: Final = frozenset(
    {
        "EventTV",
        "SessionTV",
        "Timestamp",
        "LoginTime",
        "RegExpire",
        "ExpirationTime",
        "CoreStartupDate",
        "CoreStartupTime",
        "CoreReloadDate",
        "CoreReloadTime",
    }
)
#: Headers whose values are per-run identifiers.
ID_HEADERS: Final = frozenset({"SessionID", "Challenge", "CallID", "CallId", "SSRC", "ID", "Key"})
#: Values that depend on what the capture's Asterisk did *before* the transcript started
#: (all 25 captures ran in one Asterisk; each replay starts from a fresh world).
HISTORY_HEADERS: Final = frozenset(
    {
        "CallsTaken",
        "LastCall",
        "LastPause",
        "Completed",
        "Abandoned",
        "Holdtime",
        "CoreProcessedCalls",
        "Uptime",
        "LastReload",
    }
)
HISTORY_VARS: Final = frozenset(
    {
        "QUEUEHOLDTIME",
        "QUEUETALKTIME",
        "QUEUECOMPLETED",
        "QUEUEABANDONED",
        "MEMBERCALLS",
        "MEMBERLASTCALL",
    }
)
#: Millisecond durations: compared with a tolerance (the capture's real clock vs the
#: simulator's exact one).
MS_TOLERANCE: Final = 60
SECONDS_HEADERS: Final = frozenset({"Duration", "Seconds", "Wait"})

_CHANNEL_HEADERS: Final = (
    "Channel",
    "DestChannel",
    "LocalOneChannel",
    "LocalTwoChannel",
    "TransfererChannel",
    "TransfereeChannel",
    "OrigTransfererChannel",
    "SecondTransfererChannel",
    "TransferTargetChannel",
    "SourceChannel",
    "SpyerChannel",
    "SpyeeChannel",
    "TargetChannel",
    "Peer",
)
_UNIQUEID_HEADERS: Final = (
    frozenset(h[: -len("Channel")] + "Uniqueid" for h in _CHANNEL_HEADERS if h.endswith("Channel"))
    | frozenset(
        h[: -len("Channel")] + "Linkedid" for h in _CHANNEL_HEADERS if h.endswith("Channel")
    )
    | {
        "DestUniqueId",  # LocalOptimizationBegin
        "SwapUniqueid",  # BridgeEnter of a channel taking another's place
    }
)
_BRIDGE_HEADERS: Final = frozenset(
    {"BridgeUniqueid", "BridgeID", "BridgeId", "DestBridgeUniqueid"}
    | {p + "BridgeUniqueid" for p in ("To", "From", "Orig", "Second")}
)
_CHANNEL_NAME = re.compile(r"(PJSIP|Local)/[^\s,;|]+?-[0-9a-f]{8}(;[12])?")


def _ignored(msg: Message) -> bool:
    ev = msg.event
    if ev is None:
        return False
    if ev in IGNORED_EVENTS:
        return True
    if ev == "VarSet":
        var = msg.get("Variable") or ""
        return any(var.startswith(p) for p in IGNORED_VARS)
    return False


#: Values that are a race in Asterisk in every transcript, and why.
GLOBAL_IGNORED_VALUES: Final[dict[tuple[str, str], str]] = {
    ("QueueMemberStatus", "InCall"): "app_queue sets InCall when it connects the caller, "
    "racing the device-state task processor that publishes the agent's INUSE "
    "(InCall=0 in 01, 1 in 03b)",
    **{
        (ev, h): "app_queue publishes AgentCalled/DialBegin while the agent's phone answers "
        "the INVITE with 180 Ringing on another thread: the Dest snapshot shows Down or "
        "Ringing, with or without the connected line, depending on who wins (01 vs 02a, "
        "05b call 1 vs call 2)"
        for ev in ("AgentCalled", "DialBegin", "DialState")
        for h in (
            "DestChannelState",
            "DestChannelStateDesc",
            "DestConnectedLineNum",
            "DestConnectedLineName",
        )
    },
}


#: Events published from another thread than the channel's own (compared on their own,
#: not for their position among the channel's events), and why.
FLOATING_EVENTS: Final[dict[str, str]] = {
    "AgentComplete": "app_queue publishes it from its stasis subscription when the bridge "
    "breaks, racing the bridge's BridgeLeave/VarSet events (before them in 01, after in 12)",
    "Confbridge*": "app_confbridge publishes ConfbridgeJoin/Leave/Talking... from the "
    "conference's own thread: relative to the participant's bridge events the order "
    "differs from one participant to the next (07: ConfbridgeLeave before BridgeLeave for "
    "8002, after it for 8001); they are compared in order within their conference",
}


@dataclass
class Rules:
    """Per-transcript relaxations (each documented in the scenario table)."""

    #: Lanes compared as multisets (order is a race in Asterisk).
    unordered_lanes: set[str] = field(default_factory=set)
    #: Lane-name prefixes compared on their first and last message only.
    ends_only: set[str] = field(default_factory=set)
    #: (event, header) pairs whose values are not compared.
    ignore_values: set[tuple[str, str]] = field(default_factory=set)
    #: Whole events not compared (with the reason in the scenario table).
    skip_events: set[str] = field(default_factory=set)
    #: Responses (by ActionID) whose header lists differ on purpose.
    loose_responses: set[str] = field(default_factory=set)


class _Names:
    """Channel-name and id renaming for one side."""

    def __init__(self) -> None:
        self.chan: dict[str, str] = {}
        self.uid: dict[str, str] = {}
        self.bridge: dict[str, str] = {}


def _channel_events(msgs: list[Message]) -> dict[str, list[Message]]:
    by: dict[str, list[Message]] = {}
    for m in msgs:
        name = m.get("Channel")
        if name and _CHANNEL_NAME.fullmatch(name) and m.event and m.get("Uniqueid"):
            by.setdefault(name, []).append(m)
    return by


def _first_uid(msgs: list[Message]) -> dict[str, str]:
    out: dict[str, str] = {}
    for m in msgs:
        for h in _CHANNEL_HEADERS:
            name = m.get(h)
            if not name or not h.endswith("Channel"):
                continue
            uid = m.get(h[: -len("Channel")] + "Uniqueid")
            if uid and name not in out and _CHANNEL_NAME.fullmatch(name):
                out[name] = uid
    return out


def _signature(msgs: list[Message]) -> tuple[str, ...]:
    out = []
    for m in msgs:
        out.append(
            f"{m.event}:{m.get('CallerIDNum')}:{m.get('Context')}:{m.get('Exten')}:"
            f"{m.get('AppData') or ''}"
        )
    return tuple(out[:12])


def _match_channels(exp: list[Message], act: list[Message]) -> dict[str, str]:
    """actual channel name -> expected channel name."""
    e_by = _channel_events(exp)
    a_by = _channel_events(act)
    e_names = list(dict.fromkeys([*_first_uid(exp), *e_by]))
    a_names = list(dict.fromkeys([*_first_uid(act), *a_by]))
    mapping: dict[str, str] = {}
    used: set[str] = set()
    # 1. Same signature (events, caller id, dialplan position), earliest first.
    e_sigs = {n: _signature(e_by.get(n, [])) for n in e_names}
    a_sigs = {n: _signature(a_by.get(n, [])) for n in a_names}
    for an in a_names:
        for en in e_names:
            if en in used:
                continue
            if _prefix(en) == _prefix(an) and e_sigs[en] == a_sigs[an] and e_sigs[en]:
                mapping[an] = en
                used.add(en)
                break
    # 2. Same name.
    for an in a_names:
        if an not in mapping and an in e_names and an not in used:
            mapping[an] = an
            used.add(an)
    # 3. Order of appearance within the same endpoint/Local prefix.
    for an in a_names:
        if an in mapping:
            continue
        for en in e_names:
            if en not in used and _prefix(en) == _prefix(an):
                mapping[an] = en
                used.add(en)
                break
    return mapping


def _prefix(name: str) -> str:
    return re.sub(r"-[0-9a-f]{8}(;[12])?$", "", name) + (";2" if name.endswith(";2") else "")


def _labels(exp: list[Message], act: list[Message]) -> tuple[_Names, _Names]:
    en, an = _Names(), _Names()
    amap = _match_channels(exp, act)
    e_uid = _first_uid(exp)
    a_uid = _first_uid(act)
    order = list(dict.fromkeys([*e_uid, *_channel_events(exp)]))
    for i, name in enumerate(order, 1):
        en.chan[name] = f"<chan{i}>"
    for aname, ename in amap.items():
        if ename in en.chan:
            an.chan[aname] = en.chan[ename]
    for name, label in en.chan.items():
        if name in e_uid:
            en.uid[e_uid[name]] = label.replace("chan", "uid")
    for name, label in an.chan.items():
        if name in a_uid:
            an.uid[a_uid[name]] = label.replace("chan", "uid")
    for side, msgs in ((en, exp), (an, act)):
        for m in msgs:
            for h in _BRIDGE_HEADERS:
                v = m.get(h)
                if v and v not in side.bridge:
                    side.bridge[v] = f"<bridge{len(side.bridge) + 1}>"
    return en, an


def _norm_value(name: str, value: str, event: str | None, names: _Names, rules: Rules) -> str:
    key = (event or "", name)
    if (
        key in rules.ignore_values
        or ("*", name) in rules.ignore_values
        or key in GLOBAL_IGNORED_VALUES
    ):
        return "<ignored>"
    if name in TIMESTAMP_HEADERS:
        return value if value in ("0", "") else "<ts>"
    if name in ID_HEADERS:
        return "<id>"
    if (
        name in HISTORY_HEADERS
        or (name in ("HoldTime", "TalkTime") and event == "QueueSummary")
        or (name == "TalkTime" and event == "QueueParams")
    ):
        return "<history>"
    if name == "Password" and value:
        # The capture replaced the SIP passwords by SECRET.
        return "<secret>"
    if name in ("ObjectName", "ID") and ";@" in value:
        # A contact id: AOR + a hash of the contact URI and registration.
        return value.split(";@", 1)[0] + ";@<hash>"
    if name in ("LocalAddress", "RemoteAddress") or name == "ViaPort":
        return re.sub(r"/\d+$", "/<port>", value)
    if name in _BRIDGE_HEADERS:
        return names.bridge.get(value, value)
    if name in _UNIQUEID_HEADERS:
        return names.uid.get(
            value, "<unmatched-uid>" if value not in ("", "<unknown>", "none") else value
        )
    if name in _CHANNEL_HEADERS or name in ("Value", "TargetChannel"):
        return _rename_channels(value, names)
    if name == "RoundtripUsec":
        # A measured SIP OPTIONS round trip.
        return value if value == "0" else "<measured>"
    return value


_ANNOUNCER = re.compile(r"CBAnn/([^-,]+)-[0-9a-f]{8}")


def _rename_channels(value: str, names: _Names) -> str:
    if "/" not in value:
        return value
    # ConfBridge's announcer channel takes a number from a run-wide counter.
    value = _ANNOUNCER.sub(r"CBAnn/\1-<n>", value)
    return _CHANNEL_NAME.sub(lambda m: names.chan.get(m.group(0), "<unmatched-chan>"), value)


def _normalise(msg: Message, names: _Names, rules: Rules) -> tuple[tuple[str, str], ...]:
    event = msg.event
    var = msg.get("Variable") if event == "VarSet" else None
    out = []
    for k, v in msg.pairs:
        if var is not None and k == "Value":
            if var in HISTORY_VARS:
                value = "<history>"
            elif var == "BRIDGEPVTCALLID":
                value = "<id>" if v else ""
            elif var == "MIXMONITOR_FILENAME":
                # The spool directory is configurable; the file name must match.
                value = "<spool>/" + v.rsplit("/", 1)[-1]
            elif var.endswith("_MS") and v.isdigit():
                value = f"~{v}"
            else:
                value = _rename_channels(v, names)
            out.append((k, value))
            continue
        out.append((k, _norm_value(k, v, event, names, rules)))
    return tuple(out)


def _lanes(msg: Message, norm: tuple[tuple[str, str], ...], names: _Names) -> list[str]:
    ev = msg.event
    d = dict(norm)
    aid = msg.action_id
    if ev is None:
        return ["responses"]
    if aid is not None and ev != "OriginateResponse":
        if msg.get("EventList") == "Complete":
            return [f"list:{aid}:complete"]
        return [f"list:{aid}"]
    if ev == "OriginateResponse":
        return [f"originate:{aid}"]
    if ev in FLOATING_EVENTS:
        return [f"{ev}:{d.get('Channel')}"]
    if ev.startswith("Confbridge"):
        # app_confbridge publishes from the conference's thread (see FLOATING_EVENTS).
        return [f"conference:{d.get('Conference')}"]
    lanes: list[str] = []
    chan = d.get("Channel")
    if chan and chan.startswith("<chan"):
        lanes.append(f"chan:{chan}")
    elif ev in ("DialBegin", "DialState", "DialEnd") and d.get("DestChannel", "").startswith(
        "<chan"
    ):
        # An Originate's dial (no caller): published by the originate thread, racing the
        # dialled channel's own events (04a vs 04c).
        lanes.append(f"dial:{d['DestChannel']}")
    elif ev == "LocalBridge":
        lanes.append(f"chan:{d.get('LocalOneChannel')}")
    elif ev in ("BlindTransfer", "AttendedTransfer"):
        lanes.append(f"transfer:{ev}")
    elif ev in ("ChanSpyStart", "ChanSpyStop"):
        lanes.append(f"chan:{d.get('SpyerChannel')}")
    if ev.startswith("Bridge"):
        lanes.append(f"bridge:{d.get('BridgeUniqueid')}")
    if lanes:
        return lanes
    if ev == "DeviceStateChange":
        return [f"device:{d.get('Device')}"]
    if ev == "ExtensionStatus":
        return [f"hint:{d.get('Exten')}@{d.get('Context')}"]
    if ev.startswith("QueueMember"):
        return [f"member:{d.get('Queue')}:{d.get('Interface')}"]
    if ev == "ContactStatus":
        return [f"contact:{d.get('AOR')}"]
    if ev == "PeerStatus":
        return [f"peer:{d.get('Peer')}"]
    if d.get("Privilege", "").startswith("security"):
        return [f"security:{ev}:{d.get('Service')}:{d.get('AccountID')}"]
    if ev == "VarSet":
        return [f"globals:{d.get('Channel')}"]
    if ev.startswith("Confbridge"):
        return [f"conference:{d.get('Conference')}"]
    return [f"other:{ev}"]


def _line(norm: tuple[tuple[str, str], ...]) -> str:
    return " | ".join(f"{k}={v}" for k, v in norm)


def compare_streams(
    expected: dict[int, list[Message]], actual: dict[int, list[Message]], rules: Rules | None = None
) -> list[str]:
    """Differences between what Asterisk sent and what pbx_sim sent, per connection
    (empty: equal)."""
    rules = rules or Rules()
    problems: list[str] = []
    for conn in sorted(set(expected) | set(actual)):
        exp = [m for m in expected.get(conn, []) if not _ignored(m)]
        act = [m for m in actual.get(conn, []) if not _ignored(m)]
        exp = [m for m in exp if (m.event or "") not in rules.skip_events]
        act = [m for m in act if (m.event or "") not in rules.skip_events]
        en, an = _labels(exp, act)
        e_lanes = _by_lane(exp, en, rules)
        a_lanes = _by_lane(act, an, rules)
        for lane in sorted(set(e_lanes) | set(a_lanes)):
            e = e_lanes.get(lane, [])
            a = a_lanes.get(lane, [])
            if lane.startswith("list:") and not lane.endswith(":complete"):
                if Counter(e) != Counter(a):
                    problems.append(_diff(conn, lane + " (as a multiset)", sorted(e), sorted(a)))
                continue
            if lane in rules.unordered_lanes or any(
                lane.startswith(p) for p in rules.unordered_lanes
            ):
                if Counter(e) != Counter(a):
                    problems.append(_diff(conn, lane + " (as a multiset)", sorted(e), sorted(a)))
                continue
            if any(lane.startswith(p) for p in rules.ends_only):
                if (e[:1], e[-1:]) != (a[:1], a[-1:]):
                    problems.append(
                        _diff(conn, lane + " (first/last)", e[:1] + e[-1:], a[:1] + a[-1:])
                    )
                continue
            if not _equal_seq(e, a):
                problems.append(_diff(conn, lane, e, a))
    return problems


def _equal_seq(e: list[str], a: list[str]) -> bool:
    if len(e) != len(a):
        return False
    return all(_equal_line(x, y) for x, y in zip(e, a, strict=True))


_MS = re.compile(r"~(\d+)")


def _equal_line(x: str, y: str) -> bool:
    if x == y:
        return True
    xs, ys = _MS.split(x), _MS.split(y)
    if len(xs) != len(ys):
        return False
    for i, (p, q) in enumerate(zip(xs, ys, strict=True)):
        if i % 2:
            if abs(int(p) - int(q)) > MS_TOLERANCE:
                return False
        elif p != q:
            return False
    return True


def _by_lane(msgs: list[Message], names: _Names, rules: Rules) -> dict[str, list[str]]:
    lanes: dict[str, list[str]] = {}
    for m in msgs:
        norm = _normalise(m, names, rules)
        if m.event is None and (m.action_id or "") in rules.loose_responses:
            norm = tuple((k, v) for k, v in norm if k in ("Response", "ActionID", "Message"))
        norm = _seconds(norm)
        line = f"{m.event or 'Response'}: {_line(norm)}"
        for lane in _lanes(m, norm, names):
            lanes.setdefault(lane, []).append(line)
    return lanes


def _seconds(norm: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """Durations in whole seconds may be off by one (real vs exact clock): drop to a
    marker when within one second of each other is impossible to tell here, so keep the
    value but round it into a 2 s bucket."""
    out = []
    for k, v in norm:
        value = v
        if k in SECONDS_HEADERS:
            if k == "Duration" and re.fullmatch(r"\d\d:\d\d:\d\d", v):
                h, mi, s = (int(x) for x in v.split(":"))
                value = f"~{(h * 3600 + mi * 60 + s) * 1000}"
            elif v.isdigit():
                value = f"~{int(v) * 1000}"
        out.append((k, value))
    return tuple(out)


def _diff(conn: int, lane: str, e: list[str], a: list[str]) -> str:
    lines = list(difflib.unified_diff(e, a, "asterisk", "pbx_sim", lineterm="", n=2))
    return f"conn {conn} lane {lane}:\n" + "\n".join(lines[:120])
