"""Events to clients: numbering, topic routing, the replay buffer behind ``resume``.

No I/O here: a :class:`Subscription` hands each frame, as UTF-8 JSON bytes, to its
``sink`` with a flag that says whether it is urgent (the WebSocket shell writes urgent
frames at once and lets the others wait a few milliseconds to share a write). Every event gets a
server-wide ``eid``; every connection numbers what it receives with its own ``seq``, so a
client sees a gap at once. The last ``capacity`` events are kept for ``resume``.
Subscriptions are indexed by topic and by agent, so an event costs only the connections
that receive it, and an event is encoded once: each receiver's frame is the shared bytes
with its ``seq`` spliced in.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from cti.api.protocol import ClientError, EventFrame

DEFAULT_CAPACITY: Final = 10_000
#: Events a client should get without waiting to share a write: the screen pop.
URGENT_EVENTS: Final = frozenset({"call.ringing"})

Sink = Callable[[bytes, bool], None]  # (UTF-8 JSON of one frame, urgent)


class Subscription:
    __slots__ = ("agent_id", "live_from", "seq", "sink", "topics")

    def __init__(self, sink: Sink, agent_id: str | None, live_from: int) -> None:
        self.sink = sink
        self.agent_id = agent_id
        self.topics: frozenset[str] = frozenset({"self"})  # change with EventBus.set_topics
        self.seq = 0
        # Events from this eid on are offered live; resume replays only those before it,
        # so a connection never receives an event twice.
        self.live_from = live_from

    def send(self, frame: EventFrame) -> None:
        self.seq += 1
        self.sink(frame.frame(self.seq).encode(), frame.event in URGENT_EVENTS)


class EventBus:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("the replay buffer needs room for at least one event")
        self._buffer: deque[EventFrame] = deque(maxlen=capacity)
        self._by_topic: dict[str, set[Subscription]] = {}
        self._by_agent: dict[str, set[Subscription]] = {}  # subscriptions with "self"
        self._eid = 0

    @property
    def last_eid(self) -> int:
        return self._eid

    def subscribe(self, sink: Sink, agent_id: str | None) -> Subscription:
        sub = Subscription(sink, agent_id, self._eid + 1)
        self._index(sub)
        return sub

    def set_topics(self, sub: Subscription, topics: Iterable[str]) -> None:
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
        # The connections of the agents the event is about come first: their frames are
        # queued, and so written, before the hundreds of supervisors' (the screen pop).
        own: set[Subscription] = set()
        for agent_id in frame.agents:
            subs = self._by_agent.get(agent_id)
            if subs:
                own |= subs
        others: set[Subscription] = set()
        for topic in frame.topics:
            subs = self._by_topic.get(topic)
            if subs:
                others |= subs
        if own or others:
            head, tail = frame.prefix.encode(), frame.suffix.encode()
            urgent = event in URGENT_EVENTS
            # A sink may unsubscribe a slow connection: own and others are copies.
            for sub in own:
                seq = sub.seq = sub.seq + 1
                sub.sink(b"%b%d%b" % (head, seq, tail), urgent)
            for sub in others:
                if sub not in own:
                    seq = sub.seq = sub.seq + 1
                    sub.sink(b"%b%d%b" % (head, seq, tail), urgent)
        return frame

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
            if frame.eid > last_eid and frame.visible_to(sub.topics, sub.agent_id):
                sub.send(frame)
                sent += 1
        return sent
