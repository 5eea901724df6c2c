"""The AMI actions, sans-I/O: one dispatcher shared by the AMI server and in-process
callers (the trunk simulator).

:func:`dispatch` runs an action against the world and answers through an
:class:`ActionReply`: the response (``Response: Success|Error`` with the texts Asterisk 22
uses), then, for list actions, the item events and the ``...Complete`` event, all carrying
the action's ActionID. Session actions (Login, Logoff, Events, Filter, Challenge) belong to
the AMI server, which handles them before calling :func:`dispatch`.
"""

from __future__ import annotations

import re
import time as _time_fmt
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from cti.ami.codec import Message

from . import conference, recording, transfers
from . import pjsip_tables as pj
from .apps import ChannelEnv, expand
from .channels import Channel, Signal
from .config import parse_callerid
from .dial import LegFailure, create_leg, parse_dialstring, start_leg
from .model import (
    CAUSE_NORMAL,
    DEVICE_STATE_NAME,
    DEVICE_STATE_TEXT,
    DS_UNAVAILABLE,
    EXT_STATE_TEXT,
    STATE_DESC,
    UP,
)
from .originate import OriginateRequest, start_originate
from .registry import APPS
from .reply import ActionReply, CollectingReply

if TYPE_CHECKING:
    from .world import World

__all__ = ["ACTIONS", "SESSION_ACTIONS", "ActionReply", "CollectingReply", "dispatch"]

ASTERISK_VERSION = "22.10.1+dfsg+~cs6.17.60671434-1"

#: Actions the AMI server handles itself (session state), with their ListCommands text.
SESSION_ACTIONS: dict[str, str] = {
    "Login": "Login Manager.  (Priv: <none>)",
    "Logoff": "Logoff Manager.  (Priv: <none>)",
    "Challenge": "Generate Challenge for MD5 Auth.  (Priv: <none>)",
    "Events": "Control Event Flow.  (Priv: <none>)",
    "Filter": "Dynamically add filters for the current manager session.  (Priv: system,all)",
}
AMI_VERSION = "11.0.0"


Handler = Callable[["World", Message, ActionReply], None]
ACTIONS: dict[str, Handler] = {}
#: ListCommands lines: action -> "description  (Priv: ...)" (texts of Asterisk 22).
DESCRIPTIONS: dict[str, str] = {}


def action(name: str, description: str) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        ACTIONS[name.lower()] = fn
        DESCRIPTIONS[name] = description
        return fn

    return deco


def dispatch(world: World, msg: Message, reply: ActionReply) -> None:
    """Run ``msg`` (an action the session may run) and answer through ``reply``."""
    name = msg.action or ""
    reply.action_id = msg.action_id
    handler = ACTIONS.get(name.lower())
    if handler is None:
        reply.error(
            f"Invalid/unknown command: {name}. Use Action: ListCommands to show available commands."
        )
        return
    handler(world, msg, reply)


def _get(msg: Message, name: str) -> str:
    v = msg.get(name)
    return v.strip() if v is not None else ""


def _true(v: str) -> bool:
    return v.strip().lower() in ("true", "yes", "1", "on", "y")


# -- core --------------------------------------------------------------------------------------


@action("Ping", "Keepalive command.  (Priv: <none>)")
def a_ping(world: World, msg: Message, reply: ActionReply) -> None:
    reply.respond("Success", (("Ping", "Pong"), ("Timestamp", f"{world.epoch():.6f}")))


@action("CoreSettings", "Show PBX core settings (version etc).  (Priv: system,reporting,all)")
def a_core_settings(world: World, msg: Message, reply: ActionReply) -> None:
    reply.respond(
        "Success",
        (
            ("AMIversion", AMI_VERSION),
            ("AsteriskVersion", ASTERISK_VERSION),
            ("SystemName", ""),
            ("CoreMaxCalls", "0"),
            ("CoreMaxLoadAvg", "0.000000"),
            ("CoreRunUser", ""),
            ("CoreRunGroup", ""),
            ("CoreMaxFilehandles", "0"),
            ("CoreRealTimeEnabled", "No"),
            ("CoreCDRenabled", "Yes"),
            ("CoreHTTPenabled", "No"),
            ("SoundsSearchCustomDir", "No"),
        ),
    )


def _date_time(epoch: float) -> tuple[str, str]:
    t = _time_fmt.gmtime(int(epoch))
    return _time_fmt.strftime("%Y-%m-%d", t), _time_fmt.strftime("%H:%M:%S", t)


@action("CoreStatus", "Show PBX core status variables.  (Priv: system,reporting,all)")
def a_core_status(world: World, msg: Message, reply: ActionReply) -> None:
    d, t = _date_time(world.epoch(world.boot_time))
    calls = sum(1 for c in world.channels.values() if c.tech != "Local")
    reply.respond(
        "Success",
        (
            ("CoreStartupDate", d),
            ("CoreStartupTime", t),
            ("CoreReloadDate", d),
            ("CoreReloadTime", t),
            ("CoreCurrentCalls", str(calls)),
            ("CoreProcessedCalls", str(world.processed_calls)),
        ),
    )


@action("ListCommands", "List available manager commands.  (Priv: <none>)")
def a_list_commands(world: World, msg: Message, reply: ActionReply) -> None:
    names = dict(DESCRIPTIONS)
    names.update(SESSION_ACTIONS)
    reply.respond("Success", sorted(names.items(), key=lambda kv: kv[0].lower()))


@action("UserEvent", "Send an arbitrary event.  (Priv: user,all)")
def a_user_event(world: World, msg: Message, reply: ActionReply) -> None:
    name = _get(msg, "UserEvent")
    fields = [("UserEvent", name)]
    fields.extend(
        (k, v) for k, v in msg.pairs if k.lower() not in ("action", "actionid", "userevent")
    )
    world.emit("UserEvent", fields)
    reply.success("Event Sent")


# -- channels ----------------------------------------------------------------------------------


def _duration(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02d}:{(s % 3600) // 60:02d}:{s % 60:02d}"


def _app_of(chan: Channel) -> tuple[str, str]:
    return chan.app, chan.app_data


@action("CoreShowChannels", "List currently active channels.  (Priv: system,reporting,all)")
def a_core_show_channels(world: World, msg: Message, reply: ActionReply) -> None:
    reply.list_start("Channels will follow")
    chans = list(world.channels.values())
    for chan in chans:
        app, data = _app_of(chan)
        reply.item(
            "CoreShowChannel",
            (
                *chan.snapshot(),
                ("Application", app),
                ("ApplicationData", data),
                ("Duration", _duration(world.now - chan.created_at)),
                ("BridgeId", chan.bridge.uniqueid if chan.bridge else ""),
            ),
        )
    reply.list_complete("CoreShowChannelsComplete", len(chans))


def _status_fields(world: World, chan: Channel) -> list[tuple[str, str]]:
    app, data = _app_of(chan)
    moh = bool(chan.data.get("moh"))
    return [
        *chan.snapshot(),
        ("Type", chan.tech),
        ("DNID", chan.dnid),
        ("EffectiveConnectedLineNum", chan.conn_num or "<unknown>"),
        ("EffectiveConnectedLineName", chan.conn_name or "<unknown>"),
        ("TimeToHangup", "0"),
        ("BridgeID", chan.bridge.uniqueid if chan.bridge else ""),
        ("Application", app),
        ("Data", data),
        ("Nativeformats", "(ulaw)"),
        ("Readformat", "ulaw"),
        ("Readtrans", ""),
        ("Writeformat", "gsm" if moh else "ulaw"),
        ("Writetrans", "(gsm@8000)->(slin@8000)->(ulaw@8000)" if moh else ""),
        ("Callgroup", "0"),
        ("Pickupgroup", "0"),
        ("Seconds", str(world.elapsed(chan.created_at))),
    ]


@action("Status", "List channel status.  (Priv: system,call,reporting,all)")
def a_status(world: World, msg: Message, reply: ActionReply) -> None:
    name = _get(msg, "Channel")
    if name:
        chan = world.channels.get(name)
        if chan is None:
            reply.error("No such channel")
            return
        chans = [chan]
    else:
        chans = list(world.channels.values())
    reply.list_start("Channel status will follow")
    for chan in chans:
        reply.item("Status", _status_fields(world, chan), privilege="Call", action_id_last=True)
    n = str(len(chans))
    reply.list_complete("StatusComplete", len(chans), (("Items", n),))


@action("Getvar", "Gets a channel variable or function value.  (Priv: call,reporting,all)")
def a_getvar(world: World, msg: Message, reply: ActionReply) -> None:
    var = _get(msg, "Variable")
    if not var:
        reply.error("No variable specified")
        return
    name = _get(msg, "Channel")
    chan: Channel | None = None
    if name:
        chan = world.channels.get(name)
        if chan is None:
            reply.error("No such channel")
            return
    env = ChannelEnv(world, chan)
    if var.endswith(")") and "(" in var:
        value = env.function(var[: var.index("(")], var[var.index("(") + 1 : -1])
    else:
        value = env.lookup(var) or ""
    reply.respond("Success", (("Variable", var), ("Value", value)))


@action("Setvar", "Sets a channel variable or function value.  (Priv: call,all)")
def a_setvar(world: World, msg: Message, reply: ActionReply) -> None:
    var = _get(msg, "Variable")
    if not var:
        reply.error("No variable specified")
        return
    name = _get(msg, "Channel")
    chan: Channel | None = None
    if name:
        chan = world.channels.get(name)
        if chan is None:
            reply.error("No such channel")
            return
    ChannelEnv(world, chan).set(var, msg.get("Value") or "")
    reply.success("Variable Set")


@action("Hangup", "Hangup channel.  (Priv: system,call,all)")
def a_hangup(world: World, msg: Message, reply: ActionReply) -> None:
    name = _get(msg, "Channel")
    if not name:
        reply.error("No channel specified")
        return
    cause_text = _get(msg, "Cause")
    cause = int(cause_text) if cause_text.isdigit() else CAUSE_NORMAL
    if len(name) > 2 and name.startswith("/") and name.endswith("/"):
        try:
            regex = re.compile(name[1:-1])
        except re.error:
            reply.error("Invalid regex")
            return
        hits = [c for c in list(world.channels.values()) if regex.search(c.name)]
        reply.list_start("Channels hung up will follow")
        for hit in hits:
            reply.item("ChannelHungup", (("Channel", hit.name),), action_id_last=True)
        reply.list_complete("ChannelsHungupListComplete", len(hits))
        for hit in hits:
            world.soft_hangup(hit, cause if cause_text else 0, source="ami")
        return
    target = world.channels.get(name)
    if target is None:
        reply.error("No such channel")
        return
    reply.success("Channel Hungup")
    world.soft_hangup(target, cause if cause_text else 0, source="ami")


@action("Redirect", "Redirect (transfer) a call.  (Priv: call,all)")
def a_redirect(world: World, msg: Message, reply: ActionReply) -> None:
    name = _get(msg, "Channel")
    if not name:
        reply.error("Channel not specified")
        return
    exten = _get(msg, "Exten")
    context = _get(msg, "Context")
    prio_text = _get(msg, "Priority") or "1"
    chan = world.channels.get(name)
    if chan is None:
        reply.error(f"Channel does not exist: {name}")
        return
    if not exten or not context:
        reply.error("Context and Exten must be set")
        return
    if not prio_text.isdigit():
        label = world.config.dialplan.resolve_label(context, exten, prio_text)
        if label is None:
            reply.error(f"Invalid priority '{prio_text}'")
            return
        prio = label
    else:
        prio = int(prio_text)
    extra = _get(msg, "ExtraChannel")
    if not extra:
        reply.success("Redirect successful")
        world.redirect(chan, context, exten, prio)
        return
    other = world.channels.get(extra)
    if other is None:
        reply.error(f"ExtraChannel does not exist: {extra}")
        return
    extra_prio_text = _get(msg, "ExtraPriority")
    extra_prio = int(extra_prio_text) if extra_prio_text.isdigit() else prio
    reply.success("Dual Redirect successful")
    world.dual_redirect(
        chan,
        (context, exten, prio),
        other,
        (_get(msg, "ExtraContext") or context, _get(msg, "ExtraExten") or exten, extra_prio),
    )


@action("PlayDTMF", "Play DTMF signal on a specific channel.  (Priv: call,all)")
def a_play_dtmf(world: World, msg: Message, reply: ActionReply) -> None:
    name = _get(msg, "Channel")
    digit = _get(msg, "Digit")
    chan = world.channels.get(name)
    if chan is None:
        reply.error(f"Channel '{name}' not found")
        return
    if not digit:
        reply.error("No digit specified")
        return
    dur = _get(msg, "Duration")
    ms = int(dur) if dur.isdigit() else 100
    if _get(msg, "Receive").lower() in ("yes", "true", "y", "t", "1", "on"):
        # Receive (Asterisk 16+): the digit is queued as if the phone had sent it, and
        # the action is acknowledged at once (app_senddtmf's manager_play_dtmf).
        reply.success("DTMF successfully queued")
        world.call_later(0.0, world.received_dtmf, chan, (digit[0], ms))
        return
    # Answered only after the tone was played (09); no DTMF event is produced.
    reply.pending = True

    def done(_a: object, _b: object) -> None:
        reply.success("DTMF successfully queued")
        reply.finish()

    world.call_later(ms / 1000.0, done)


@action("AbsoluteTimeout", "Set absolute timeout.  (Priv: system,call,all)")
def a_absolute_timeout(world: World, msg: Message, reply: ActionReply) -> None:
    chan = world.channels.get(_get(msg, "Channel"))
    if chan is None:
        reply.error("No such channel")
        return
    secs = float(_get(msg, "Timeout") or "0")
    if secs > 0:
        world.call_later(secs, lambda c, _b: world.soft_hangup(c, CAUSE_NORMAL, source="ami"), chan)
    reply.success("Timeout Set")


# -- originate -------------------------------------------------------------------------------


@action("Originate", "Originate a call.  (Priv: originate,all)")
def a_originate(world: World, msg: Message, reply: ActionReply) -> None:
    channel = _get(msg, "Channel")
    if not channel:
        reply.error("Channel not specified")
        return
    app = _get(msg, "Application")
    exten = _get(msg, "Exten")
    context = _get(msg, "Context") or "default"
    prio_text = _get(msg, "Priority") or "1"
    if not app:
        if not prio_text.isdigit():
            label = world.config.dialplan.resolve_label(context, exten, prio_text)
            if label is None:
                reply.error("Invalid priority")
                return
            prio = label
        else:
            prio = int(prio_text)
        if exten and not world.config.dialplan.exists(context, exten, prio):
            reply.error("Extension does not exist.")
            return
    else:
        prio = 1
    timeout_text = _get(msg, "Timeout")
    try:
        timeout = float(timeout_text) / 1000.0 if timeout_text else 30.0
    except ValueError:
        reply.error("Invalid timeout")
        return
    variables: list[tuple[str, str]] = []
    for v in msg.get_all("Variable"):
        for part in v.split(","):
            k, eq, val = part.partition("=")
            if eq and k.strip():
                variables.append((k.strip(), val))
    cid_name, cid_num = ("", "")
    cid_text = msg.get("CallerID")
    if cid_text:
        cid_name, cid_num = parse_callerid(cid_text)
    req = OriginateRequest(
        channel=channel,
        context=context,
        exten=exten,
        priority=prio,
        application=app,
        data=msg.get("Data") or "",
        timeout=timeout,
        cid_num=cid_num,
        cid_name=cid_name,
        has_callerid=cid_text is not None,
        variables=variables,
        action_id=msg.action_id,
        channel_id=_get(msg, "ChannelId") or None,
        other_channel_id=_get(msg, "OtherChannelId") or None,
        is_async=_true(_get(msg, "Async")),
    )
    start_originate(world, req, reply)


# -- transfers, bridges, recording (see transfers.py, recording.py) -----------------------------


def _register_late() -> None:
    for mod in (transfers, recording, conference):
        for name, (fn, desc) in mod.AMI_ACTIONS.items():
            ACTIONS[name.lower()] = fn
            DESCRIPTIONS[name] = desc


# -- queues ---------------------------------------------------------------------------------------


@action("QueueStatus", "Show queue status.  (Priv: <none>)")
def a_queue_status(world: World, msg: Message, reply: ActionReply) -> None:
    qname = _get(msg, "Queue")
    member = _get(msg, "Member")
    mgr = world.queues
    reply.list_start("Queue status will follow")
    n = 0
    for q in mgr.queues.values():
        if qname and q.name != qname:
            continue
        reply.item("QueueParams", mgr.params_fields(q), action_id_last=True)
        n += 1
        for m in q.members:
            if member and m.interface != member:
                continue
            reply.item("QueueMember", m.list_fields(), action_id_last=True)
            n += 1
        for c in q.callers:
            reply.item("QueueEntry", mgr.entry_fields(q, c), action_id_last=True)
            n += 1
    reply.list_complete("QueueStatusComplete", n)


@action("QueueSummary", "Show queue summary.  (Priv: <none>)")
def a_queue_summary(world: World, msg: Message, reply: ActionReply) -> None:
    qname = _get(msg, "Queue")
    mgr = world.queues
    reply.list_start("Queue summary will follow")
    n = 0
    for q in mgr.queues.values():
        if qname and q.name != qname:
            continue
        reply.item("QueueSummary", mgr.summary_fields(q), action_id_last=True)
        n += 1
    reply.list_complete("QueueSummaryComplete", n)


@action("QueueAdd", "Add interface to queue.  (Priv: agent,all)")
def a_queue_add(world: World, msg: Message, reply: ActionReply) -> None:
    iface = _get(msg, "Interface")
    queue = _get(msg, "Queue")
    if not queue:
        reply.error("'Queue' not specified.")
        return
    if not iface:
        reply.error("'Interface' not specified.")
        return
    pen = _get(msg, "Penalty")
    err = world.queues.add_member(
        queue,
        iface,
        name=_get(msg, "MemberName"),
        state_interface=_get(msg, "StateInterface"),
        penalty=int(pen) if pen.isdigit() else 0,
        paused=_true(_get(msg, "Paused")),
        reason=_get(msg, "Reason"),
    )
    if err:
        reply.error(err)
    else:
        reply.success("Added interface to queue")


@action("QueueRemove", "Remove interface from queue.  (Priv: agent,all)")
def a_queue_remove(world: World, msg: Message, reply: ActionReply) -> None:
    iface = _get(msg, "Interface")
    queue = _get(msg, "Queue")
    if not queue or not iface:
        reply.error("Need 'Queue' and 'Interface' parameters.")
        return
    err = world.queues.remove_member(queue, iface)
    if err:
        reply.error(err)
    else:
        reply.success("Removed interface from queue")


@action("QueuePause", "Makes a queue member temporarily unavailable.  (Priv: agent,all)")
def a_queue_pause(world: World, msg: Message, reply: ActionReply) -> None:
    iface = _get(msg, "Interface")
    paused = _get(msg, "Paused")
    if not iface or not paused:
        reply.error("Need 'Interface' and 'Paused' parameters.")
        return
    p = _true(paused)
    err = world.queues.pause(iface, p, _get(msg, "Reason"), _get(msg, "Queue") or None)
    if err:
        reply.error(err)
    else:
        reply.success("Interface paused successfully" if p else "Interface unpaused successfully")


@action("QueuePenalty", "Set the penalty for a queue member.  (Priv: agent,all)")
def a_queue_penalty(world: World, msg: Message, reply: ActionReply) -> None:
    iface = _get(msg, "Interface")
    pen = _get(msg, "Penalty")
    if not iface or not pen:
        reply.error("Need 'Interface' and 'Penalty' parameters.")
        return
    if not pen.isdigit():
        reply.error("Invalid penalty")
        return
    err = world.queues.set_penalty(iface, int(pen), _get(msg, "Queue") or None)
    if err:
        reply.error(err)
    else:
        reply.success("Interface penalty set successfully")


@action("QueueMemberRingInUse", "Set the ringinuse value for a queue member.  (Priv: agent,all)")
def a_queue_ringinuse(world: World, msg: Message, reply: ActionReply) -> None:
    iface = _get(msg, "Interface")
    value = _get(msg, "RingInUse")
    if not iface or not value:
        reply.error("Need 'Interface' and 'RingInUse' parameters.")
        return
    err = world.queues.set_ringinuse(iface, _true(value), _get(msg, "Queue") or None)
    if err:
        reply.error(err)
    else:
        reply.success("Interface ringinuse set successfully")


@action("QueueLog", "Adds custom entry in queue_log.  (Priv: agent,all)")
def a_queue_log(world: World, msg: Message, reply: ActionReply) -> None:
    if not _get(msg, "Queue") or not _get(msg, "Event"):
        reply.error("Need 'Queue' and 'Event' parameters.")
        return
    reply.success("Event added successfully")


# -- device and extension states ------------------------------------------------------------------


@action(
    "ExtensionStateList", "List the current known extension states.  (Priv: call,reporting,all)"
)
def a_extension_state_list(world: World, msg: Message, reply: ActionReply) -> None:
    reply.list_start("Extension Statuses will follow")
    hints = list(world.hints.values())
    for h in hints:
        reply.item(
            "ExtensionStatus",
            (
                ("Exten", h.exten),
                ("Context", h.context),
                ("Hint", h.text),
                ("Status", str(h.state)),
                ("StatusText", EXT_STATE_TEXT.get(h.state, "Unknown")),
            ),
        )
    reply.list_complete("ExtensionStateListComplete", len(hints))


@action("ExtensionState", "Check Extension Status.  (Priv: call,reporting,all)")
def a_extension_state(world: World, msg: Message, reply: ActionReply) -> None:
    exten = _get(msg, "Exten")
    context = _get(msg, "Context") or "default"
    h = world.hints.get((context, exten))
    if h is None:
        reply.respond(
            "Success",
            (
                ("Message", "Extension Status"),
                ("Exten", exten),
                ("Context", context),
                ("Hint", ""),
                ("Status", "-1"),
                ("StatusText", "Unknown"),
            ),
        )
        return
    reply.respond(
        "Success",
        (
            ("Message", "Extension Status"),
            ("Exten", exten),
            ("Context", context),
            ("Hint", h.text),
            ("Status", str(h.state)),
            ("StatusText", EXT_STATE_TEXT.get(h.state, "Unknown")),
        ),
    )


@action("DeviceStateList", "List the current known device states.  (Priv: call,reporting,all)")
def a_device_state_list(world: World, msg: Message, reply: ActionReply) -> None:
    reply.list_start("Device State Changes will follow")
    devs = [
        d
        for d in world.devices.values()
        if d.cachable and (d.published or (d.endpoint is not None and d.registered))
    ]
    for d in devs:
        reply.item("DeviceStateChange", (("Device", d.name), ("State", DEVICE_STATE_NAME[d.state])))
    reply.list_complete("DeviceStateListComplete", len(devs))


@action("PresenceStateList", "List the current known presence states.  (Priv: call,reporting,all)")
def a_presence_state_list(world: World, msg: Message, reply: ActionReply) -> None:
    reply.list_start("Presence State Changes will follow")
    reply.list_complete("PresenceStateListComplete", 0)


# -- PJSIP ---------------------------------------------------------------------------------------


def _fill(template: Iterable[tuple[str, str]], **values: str) -> list[tuple[str, str]]:
    out = []
    for k, v in template:
        out.append((k, v.format(**values) if "{" in v else v))
    return out


def _ep_values(world: World, name: str) -> dict[str, str]:
    ep = world.config.endpoints[name]
    cid = f'"{ep.cid_name}" <{ep.cid_num}>' if ep.cid_num else ""
    dev = world.devices.get(f"PJSIP/{name}")
    return {
        "ep": name,
        "context": ep.context,
        "port": str(world.config.sip_port),
        "password": ep.password,
        "callerid": cid,
        "trust": "true" if ep.trust_id_inbound else "false",
        "contact": f"{name};@{abs(hash(name)) % (1 << 128):032x}",
        "callid": f"sim-{name}-callid",
        "expire": str(int(world.epoch()) + 3600),
        "rtt": "500" if dev is not None and dev.registered else "0",
    }


def _registered(world: World, name: str) -> bool:
    dev = world.devices.get(f"PJSIP/{name}")
    return dev is not None and (dev.registered or name in world.phones.trunks)


@action("PJSIPShowEndpoints", "Lists PJSIP endpoints.  (Priv: system,all)")
def a_pjsip_endpoints(world: World, msg: Message, reply: ActionReply) -> None:
    reply.list_start("A listing of Endpoints follows, presented as EndpointList events")
    eps = sorted(world.config.endpoints)
    for name in eps:
        dev = world.devices.get(f"PJSIP/{name}")
        state = dev.state if dev is not None else DS_UNAVAILABLE
        active = dev.channels if dev is not None else 0
        contacts = f"{name}/sip:{name}@127.0.0.1:53701;ob," if _registered(world, name) else ""
        reply.item(
            "EndpointList",
            (
                ("ObjectType", "endpoint"),
                ("ObjectName", name),
                ("Transport", "transport-udp"),
                ("Aor", name),
                ("Auths", name),
                ("OutboundAuths", ""),
                ("Contacts", contacts),
                ("DeviceState", DEVICE_STATE_TEXT.get(state, "Unknown")),
                ("ActiveChannels", str(active)),
            ),
        )
    reply.list_complete("EndpointListComplete", len(eps))


@action("PJSIPShowEndpoint", "Detail listing of an endpoint and its objects.  (Priv: system,all)")
def a_pjsip_endpoint(world: World, msg: Message, reply: ActionReply) -> None:
    name = _get(msg, "Endpoint")
    if not name:
        reply.error("Endpoint parameter missing.")
        return
    if name not in world.config.endpoints:
        # Asterisk 22 really sends this stray LF (11).
        reply.error(f"Unable to retrieve endpoint {name}\n")
        return
    vals = _ep_values(world, name)
    reply.list_start("Following are Events for each object associated with the Endpoint")
    reply.item("EndpointDetail", _fill(pj.ENDPOINTDETAIL, **vals))
    reply.item("AuthDetail", _fill(pj.AUTHDETAIL, **vals))
    reply.item("TransportDetail", _fill(pj.TRANSPORTDETAIL, **{**vals, "password": ""}))
    reply.item("AorDetail", _fill(pj.AORDETAIL, **vals))
    n = 4
    if _registered(world, name):
        reply.item("ContactStatusDetail", _fill(pj.CONTACTSTATUSDETAIL, **vals))
        n += 1
    reply.list_complete("EndpointDetailComplete", n)


@action("PJSIPShowContacts", "Lists PJSIP Contacts.  (Priv: system,all)")
def a_pjsip_contacts(world: World, msg: Message, reply: ActionReply) -> None:
    reply.list_start("A listing of Contacts follows, presented as ContactList events")
    names = [n for n in sorted(world.config.endpoints) if _registered(world, n)]
    for name in names:
        reply.item("ContactList", _fill(pj.CONTACTLIST, **_ep_values(world, name)))
    reply.list_complete("ContactListComplete", len(names))


@action("PJSIPShowAors", "Lists PJSIP AORs.  (Priv: system,all)")
def a_pjsip_aors(world: World, msg: Message, reply: ActionReply) -> None:
    reply.list_start("A listing of AORs follows, presented as AorList events")
    names = sorted(world.config.endpoints)
    for name in names:
        reply.item("AorList", _fill(pj.AORLIST, **_ep_values(world, name)))
    reply.list_complete("AorListComplete", len(names))


# -- CLI -----------------------------------------------------------------------------------------


@action("Command", "Execute Asterisk CLI Command.  (Priv: command,all)")
def a_command(world: World, msg: Message, reply: ActionReply) -> None:
    cmd = " ".join(_get(msg, "Command").split())
    if not cmd:
        reply.error("No command provided")
        return
    lines = cli(world, cmd)
    reply.respond(
        "Success", [("Message", "Command output follows"), *(("Output", line) for line in lines)]
    )


def cli(world: World, cmd: str) -> list[str]:
    """A few read-only CLI commands (the ones Hotline and the transcripts use)."""
    if cmd == "core show channels concise":
        out = []
        for c in world.channels.values():
            app, data = _app_of(c)
            out.append(
                "!".join(
                    (
                        c.name,
                        c.context,
                        c.exten,
                        str(c.priority),
                        STATE_DESC.get(c.state, "Unknown"),
                        app,
                        data,
                        c.cid_num,
                        "",
                        "",
                        "3",
                        str(world.elapsed(c.created_at)),
                        c.bridge.uniqueid if c.bridge else "",
                        c.uniqueid,
                    )
                )
            )
        return out
    if cmd == "core show version":
        return [f"Asterisk {ASTERISK_VERSION} (pbx_sim)"]
    if cmd.startswith("queue show"):
        return _queue_show(world, cmd[len("queue show") :].strip())
    if cmd == "core show uptime seconds":
        up = world.elapsed(world.boot_time)
        return [f"System uptime: {up}", f"Last reload: {up}"]
    return [f"No such command '{cmd}' (type 'core show help {cmd}' for other possible commands)"]


def _queue_show(world: World, name: str) -> list[str]:
    out: list[str] = []
    for q in world.queues.queues.values():
        if name and q.name != name:
            continue
        out.append(
            f"{q.name} has {len(q.callers)} calls (max unlimited) in '{q.cfg.strategy}' strategy "
            f"({q.holdtime}s holdtime, {q.talktime}s talktime), W:0, C:{q.completed}, "
            f"A:{q.abandoned}, SL:0.0%, SL2:0.0% within 0s"
        )
        out.append("   Members: ")
        for m in q.members:
            state = DEVICE_STATE_TEXT.get(m.status, "Unknown")
            paused = f" (paused:{m.paused_reason})" if m.paused else ""
            taken = (
                f"has taken {m.calls_taken} calls" if m.calls_taken else "has taken no calls yet"
            )
            out.append(f"      {m.name} ({m.interface}){paused} ({state}) {taken}")
        out.append("   Callers: ")
        for i, c in enumerate(q.callers, 1):
            w = world.elapsed(c.joined_at)
            out.append(f"      {i}. {c.chan.name} (wait: {w // 60}:{w % 60:02d}, prio: 0)")
        out.append("")
    if not out:
        out.append(f"No such queue: {name}.")
    return out


__all__ += [
    "APPS",
    "UP",
    "LegFailure",
    "Signal",
    "create_leg",
    "expand",
    "parse_dialstring",
    "start_leg",
]


_register_late()
