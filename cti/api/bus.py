"""Events to clients: numbering, topic routing, the replay buffer behind ``resume``.

No I/O here: a :class:`Subscription` hands each frame, as UTF-8 JSON bytes, to its
``sink`` with an urgency: ``NOW`` (the screen pop to the agent whose phone rings: the shell
writes it before it returns), ``SOON`` (by the end of this pass of the event loop) or
``LATER`` (within a few milliseconds, sharing a write). Every event gets a server-wide
``eid``; every connection numbers what it receives with its own ``seq``, so a client sees a
gap at once. The last ``capacity`` events are kept for ``resume``. Subscriptions are
indexed by topic and by agent, so an event costs only the connections that receive it,
and an event is encoded once: each receiver's frame is the shared bytes with its ``seq``
spliced in.

Two passes: the agents an event is about get it inside :meth:`EventBus.publish`; the
topic subscribers (hundreds of supervisors) get it from :meth:`EventBus.deliver`, which
the shell runs once the work at hand is done (``on_backlog`` tells it when). So the PBX
event that rings a phone is followed at once by the agent's screen pop, not by a
loop over every supervisor for each event that came before it in the same read.
Without ``on_backlog`` (tests, tools) every event is delivered inside ``publish``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from cti.api.protocol import ClientError, EventFrame

DEFAULT_CAPACITY: Final = 10_000
#: Events a client should get without waiting to share a write: the screen pop.
URGENT_EVENTS: Final = frozenset({"call.ringing"})

# A frame's urgency (an int, so that a sink may take it as "urgent or not").
LATER: Final = 0  # within the shell's delay, sharing a write with what follows
SOON: Final = 1  # by the end of this pass of the event loop
NOW: Final = 2  # before the sink returns: the agent's own screen pop

Sink = Callable[[bytes, int], None]  # (UTF-8 JSON of one frame, urgency)
Backlog = Callable[[], None]  # called when events start waiting for deliver()


class Subscription:
    __slots__ = ("agent_id", "live_from", "seq", "sink", "topics", "windows")

    def __init__(self, sink: Sink, agent_id: str | None, live_from: int) -> None:
        self.sink = sink
        self.agent_id = agent_id
        self.topics: frozenset[str] = frozenset({"self"})  # change with EventBus.set_topics
        self.seq = 0
        # Events from this eid on are offered live; resume replays only those before it,
        # so a connection never receives an event twice.
        self.live_from = live_from
        # (from_eid, to_eid, topics): earlier stretches in which events were offered live
        # under other topics; resume skips what they sent (see EventBus.set_topics).
        self.windows: list[tuple[int, int, frozenset[str]]] = []

    def was_sent(self, frame: EventFrame) -> bool:
        """Whether ``frame`` went out live under an earlier topic set."""
        eid = frame.eid
        return any(
            start <= eid < end and frame.visible_to(topics, self.agent_id)
            for start, end, topics in self.windows
        )

    def send(self, frame: EventFrame) -> None:
        self.seq += 1
        self.sink(frame.frame(self.seq).encode(), SOON if frame.event in URGENT_EVENTS else LATER)


class EventBus:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("the replay buffer needs room for at least one event")
        self._buffer: deque[EventFrame] = deque(maxlen=capacity)
        self._by_topic: dict[str, set[Subscription]] = {}
        self._by_agent: dict[str, set[Subscription]] = {}  # subscriptions with "self"
        self._eid = 0
        # Published, not yet delivered to topic subscribers: (frame, own subscriptions).
        self._backlog: list[tuple[EventFrame, frozenset[Subscription]]] = []
        self.on_backlog: Backlog | None = None

    @property
    def last_eid(self) -> int:
        return self._eid

    def subscribe(self, sink: Sink, agent_id: str | None) -> Subscription:
        sub = Subscription(sink, agent_id, self._eid + 1)
        self._index(sub)
        return sub

    def set_topics(self, sub: Subscription, topics: Iterable[str]) -> None:
        """Change what ``sub`` receives from now on. Events published before the change
        that the new topics would have shown become resume's to replay: a client that
        logs in, subscribes and resumes gets every event of its topics after its
        ``last_eid``, including those published between login and subscribe."""
        self.deliver()  # what was published before goes out under the old topics
        now = self._eid + 1
        if sub.live_from < now:
            windows = sub.windows
            if windows and windows[-1][1] == sub.live_from and windows[-1][2] == sub.topics:
                windows[-1] = (windows[-1][0], now, sub.topics)  # the same topics again
            else:
                windows.append((sub.live_from, now, sub.topics))
            # Stretches whose events have left the buffer cannot be replayed anyway.
            oldest = self._buffer[0].eid if self._buffer else now
            sub.windows = [w for w in windows if w[1] > oldest]
            sub.live_from = now
        self._unindex(sub)
        sub.topics = frozenset(topics)
        self._index(sub)

    def unsubscribe(self, sub: Subscription) -> None:
        self._unindex(sub)

    def _index(self, sub: Subscription) -> None:
        for topic in sub.topics - {"self"}:
            self._by_topic.setdefault(topic, set()).add(sub)
        if "self" in sub.topics and sub.agent_id is not None:
            self._by_agent.setdefault(sub.agent_id, set()).add(sub)

    def _unindex(self, sub: Subscription) -> None:
        for topic in sub.topics - {"self"}:
            subs = self._by_topic.get(topic)
            if subs is not None:
                subs.discard(sub)
        if sub.agent_id is not None and sub.agent_id in self._by_agent:
            self._by_agent[sub.agent_id].discard(sub)

    def publish(
        self,
        event: str,
        data: Mapping[str, Any],
        ts: str,
        topics: Iterable[str],
        agents: Iterable[str] = (),
    ) -> EventFrame:
        self._eid += 1
        frame = EventFrame(self._eid, event, ts, data, frozenset(topics), frozenset(agents))
        self._buffer.append(frame)
        urgent = event in URGENT_EVENTS
        # The connections of the agents the event is about get it now, ahead of the
        # hundreds of supervisors' (the screen pop).
        own: set[Subscription] = set()
        for agent_id in frame.agents:
            subs = self._by_agent.get(agent_id)
            if subs:
                own |= subs
        if own:
            if self._backlog:
                self._catch_up(own)
            head, tail = frame.prefix.encode(), frame.suffix.encode()
            urgency = NOW if urgent else LATER
            for sub in list(own):  # a sink may unsubscribe a slow connection
                seq = sub.seq = sub.seq + 1
                sub.sink(b"%b%d%b" % (head, seq, tail), urgency)
        if not any(self._by_topic.get(topic) for topic in frame.topics):
            return frame
        self._backlog.append((frame, frozenset(own)))
        if self.on_backlog is None:
            self.deliver()
        elif len(self._backlog) == 1:
            self.on_backlog()
        return frame

    def _catch_up(self, subs: set[Subscription]) -> None:
        """Before an event goes to the connections it is about: the earlier events they
        are still owed from the backlog (a supervisor is also the agent of the events
        about their own monitor), so that every connection receives the events in eid
        order (the client drops an eid below one it has seen, and ``resume`` counts on
        the order)."""
        for i, (frame, done) in enumerate(self._backlog):
            owed = [
                sub
                for sub in subs
                if sub not in done
                and sub.live_from <= frame.eid
                and not sub.topics.isdisjoint(frame.topics)
            ]
            if not owed:
                continue
            head, tail = frame.prefix.encode(), frame.suffix.encode()
            for sub in owed:
                seq = sub.seq = sub.seq + 1
                sub.sink(b"%b%d%b" % (head, seq, tail), LATER)
            self._backlog[i] = (frame, done | frozenset(owed))

    def deliver(self) -> int:
        """Hand the published events to their topic subscribers, in order; returns how
        many frames were handed over. Cheap when there is nothing to deliver."""
        backlog = self._backlog
        if not backlog:
            return 0
        self._backlog = []
        handed = 0
        for frame, own in backlog:
            others: set[Subscription] = set()
            for topic in frame.topics:
                subs = self._by_topic.get(topic)
                if subs:
                    others |= subs
            others -= own
            if not others:
                continue
            head, tail = frame.prefix.encode(), frame.suffix.encode()
            urgency = SOON if frame.event in URGENT_EVENTS else LATER
            eid = frame.eid
            for sub in others:
                if sub.live_from > eid:
                    continue  # subscribed after it: resume's to replay, not ours
                seq = sub.seq = sub.seq + 1
                sub.sink(b"%b%d%b" % (head, seq, tail), urgency)
                handed += 1
        return handed

    def resume(self, sub: Subscription, last_eid: int) -> int:
        """Send ``sub`` what it missed after ``last_eid``; returns how many events."""
        if last_eid > self._eid:
            raise ClientError("invalid_params", f"last_eid: {last_eid} is in the future")
        oldest = self._buffer[0].eid if self._buffer else self._eid + 1
        if last_eid + 1 < oldest:
            raise ClientError(
                "resume_gap",
                f"events after {last_eid} are no longer kept (oldest is {oldest}); "
                "ask for a snapshot",
            )
        sent = 0
        for frame in self._buffer:
            if frame.eid >= sub.live_from:
                break
            if (
                frame.eid > last_eid
                and frame.visible_to(sub.topics, sub.agent_id)
                and not sub.was_sent(frame)
            ):
                sub.send(frame)
                sent += 1
        return sent
