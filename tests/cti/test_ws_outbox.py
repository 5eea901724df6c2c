"""How a connection's frames reach its socket (cti/api/ws.py: Outbox, Connection).

A unit test of one module: the transport is a recording stand-in, the event loop is
real. What must hold: frames leave in the order they were queued, each connection
gets one write per flush, urgent frames (replies, the screen pop) are written at the
end of the loop pass that made them, the others within the outbox's delay, and a
connection whose unsent data passes the limit is closed and gets nothing more.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, cast

from aiohttp import web

from cti.api.bus import LATER, SOON, EventBus
from cti.api.ws import CLOSE_SLOW_CONSUMER, FLUSH_SLICE, SEND_BUFFER_BYTES, Connection, Outbox

ORDER: list[Transport] = []  # every write of every transport, in order


class Transport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.buffered = 0
        self.closing = False
        self.wrote = asyncio.Event()

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        ORDER.append(self)
        self.wrote.set()

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return self.buffered


class WebSocket:
    def __init__(self) -> None:
        self.closed_with: tuple[int, bytes] | None = None

    async def close(self, *, code: int, message: bytes) -> bool:
        self.closed_with = (code, message)
        return True


def connection(outbox: Outbox) -> tuple[Connection, Transport, WebSocket]:
    transport, ws = Transport(), WebSocket()
    conn = Connection(
        cast(web.WebSocketResponse, ws), "127.0.0.1", cast(asyncio.Transport, transport), outbox
    )
    return conn, transport, ws


def unframe(data: bytes) -> list[Any]:
    """Server-to-client text frames (RFC 6455 §5.2) -> their JSON payloads."""
    out = []
    while data:
        assert data[0] == 0x81  # FIN + text, unmasked
        n, head = data[1], 2
        if n == 126:
            n, head = int.from_bytes(data[2:4], "big"), 4
        elif n == 127:
            n, head = int.from_bytes(data[2:10], "big"), 10
        out.append(json.loads(data[head : head + n]))
        data = data[head + n :]
    return out


async def test_urgent_frame_takes_what_was_queued_before_in_one_write() -> None:
    outbox = Outbox(delay_s=10.0)
    conn, transport, _ = connection(outbox)
    conn.push(b'{"n":1}', False)
    conn.push(b'{"n":2}', False)
    conn.send('{"n":3}')  # a reply: urgent
    assert transport.writes == []  # nothing during the pass
    await asyncio.sleep(0)
    assert len(transport.writes) == 1
    assert unframe(transport.writes[0]) == [{"n": 1}, {"n": 2}, {"n": 3}]


async def test_other_frames_wait_for_the_delay_then_share_one_write() -> None:
    outbox = Outbox(delay_s=0.05)
    conn, transport, _ = connection(outbox)
    conn.push(b'{"n":1}', False)
    await asyncio.sleep(0.01)
    conn.push(b'{"n":2}', False)
    await asyncio.sleep(0)
    assert transport.writes == []
    await asyncio.wait_for(transport.wrote.wait(), 2)
    assert [unframe(w) for w in transport.writes] == [[{"n": 1}, {"n": 2}]]
    conn.push(b'{"n":3}', True)  # the timer's list was emptied: a later frame goes alone
    await asyncio.sleep(0)
    assert [unframe(w) for w in transport.writes] == [[{"n": 1}, {"n": 2}], [{"n": 3}]]


async def test_a_flushed_connection_still_on_the_timer_list_is_not_written_twice() -> None:
    outbox = Outbox(delay_s=0.03)
    conn, transport, _ = connection(outbox)
    conn.push(b'{"n":1}', False)
    conn.push(b'{"n":2}', True)
    await asyncio.sleep(0)
    conn.push(b'{"n":3}', False)  # still on the timer's list from frame 1
    await asyncio.sleep(0.1)
    assert [unframe(w) for w in transport.writes] == [[{"n": 1}, {"n": 2}], [{"n": 3}]]


async def test_bus_fan_out_one_write_per_connection_with_its_own_seq() -> None:
    bus, outbox = EventBus(), Outbox(delay_s=10.0)
    conns = [connection(outbox) for _ in range(3)]
    for conn, _, _ in conns:
        conn.subscription = bus.subscribe(conn.push, None)
        bus.set_topics(conn.subscription, {"calls"})
    bus.publish("call.queued", {"caller": "张伟"}, "t", ["calls"])
    bus.publish("call.ringing", {"caller": "张伟"}, "t", ["calls"])  # urgent
    await asyncio.sleep(0)
    for _, transport, _ in conns:
        assert len(transport.writes) == 1
        frames = unframe(transport.writes[0])
        assert [(f["event"], f["seq"], f["eid"]) for f in frames] == [
            ("call.queued", 1, 1),
            ("call.ringing", 2, 2),
        ]
        assert frames[0]["data"] == {"caller": "张伟"}


async def test_the_agent_the_event_is_about_is_written_first() -> None:
    bus, outbox = EventBus(), Outbox(delay_s=10.0)
    agents = []
    for i in range(60):  # supervisors and agents connected in a mixed order
        conn, transport, _ = connection(outbox)
        if i % 6 == 0:
            agent_id = f"8{i:04d}"
            conn.subscription = bus.subscribe(conn.push, agent_id)  # topic "self"
            agents.append((agent_id, transport))
        else:
            conn.subscription = bus.subscribe(conn.push, "90001")
            bus.set_topics(conn.subscription, {"calls"})
    for agent_id, transport in agents:
        ORDER.clear()
        bus.publish("call.ringing", {"agent_id": agent_id}, "t", ["calls"], [agent_id])
        await asyncio.sleep(0)
        assert len(ORDER) == 51
        assert ORDER[0] is transport, agent_id


async def test_frame_lengths_at_the_header_boundaries() -> None:
    outbox = Outbox(delay_s=10.0)
    conn, transport, _ = connection(outbox)
    sizes = [0, 125, 126, 65535, 65536, 70000]
    for size in sizes:
        conn.push(json.dumps("x" * size).encode(), True)
    await asyncio.sleep(0)
    assert [len(f) for f in unframe(b"".join(transport.writes))] == sizes


async def test_slow_consumer_is_closed_and_gets_nothing_more() -> None:
    outbox = Outbox(delay_s=10.0)
    conn, transport, ws = connection(outbox)
    transport.buffered = SEND_BUFFER_BYTES + 1  # the client stopped reading
    conn.send('{"n":1}')
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert conn.overflowed
    assert ws.closed_with is not None and ws.closed_with[0] == CLOSE_SLOW_CONSUMER
    conn.send('{"n":2}')
    await asyncio.sleep(0)
    assert len(transport.writes) == 1


async def test_closing_transport_is_not_written() -> None:
    outbox = Outbox(delay_s=10.0)
    conn, transport, _ = connection(outbox)
    conn.send('{"n":1}')
    transport.closing = True
    await asyncio.sleep(0)
    assert transport.writes == []


async def test_the_screen_pop_to_its_agent_is_written_before_publish_returns() -> None:
    bus, outbox = EventBus(), Outbox(delay_s=10.0)
    outbox.serve(bus)
    agent, agent_transport, _ = connection(outbox)
    agent.subscription = bus.subscribe(agent.push, "80001")
    sups = []
    for _ in range(3):
        conn, transport, _ = connection(outbox)
        conn.subscription = bus.subscribe(conn.push, "90001")
        bus.set_topics(conn.subscription, {"calls"})
        sups.append(transport)
    bus.publish("agent.state", {"state": "ready"}, "t", ["agents"], ["80001"])  # lazy
    bus.publish("call.ringing", {"agent_id": "80001"}, "t", ["calls"], ["80001"])
    # inside publish: the agent's one write, with the lazy frame queued before it
    assert [[f["event"] for f in unframe(w)] for w in agent_transport.writes] == [
        ["agent.state", "call.ringing"]
    ]
    assert all(t.writes == [] for t in sups)  # the supervisors' copies: end of the pass
    await asyncio.sleep(0)
    for transport in sups:
        assert [[f["event"] for f in unframe(w)] for w in transport.writes] == [["call.ringing"]]


async def test_lazy_frames_wait_their_own_delay_and_ride_along_with_an_urgent_write() -> None:
    outbox = Outbox(delay_s=0.08)
    early, early_t, _ = connection(outbox)
    late, late_t, _ = connection(outbox)
    early.push(b'{"n":1}', LATER)
    await asyncio.sleep(0.05)
    late.push(b'{"n":2}', LATER)
    await asyncio.sleep(0.05)  # early's delay is over, late's is not
    assert [unframe(w) for w in early_t.writes] == [[{"n": 1}]]
    assert late_t.writes == []
    late.push(b'{"n":3}', SOON)  # an urgent frame takes the lazy one along
    await asyncio.sleep(0)
    assert [unframe(w) for w in late_t.writes] == [[{"n": 2}, {"n": 3}]]
    await asyncio.sleep(0.1)  # and the timer has nothing left to write for it
    assert len(late_t.writes) == 1


async def test_a_flush_of_many_connections_is_cut_into_slices_with_the_loop_between() -> None:
    outbox = Outbox(delay_s=10.0)
    conns = [connection(outbox) for _ in range(FLUSH_SLICE * 2 + 1)]
    for conn, _, _ in conns:
        conn.push(b'{"pop":1}', SOON)
    between: list[int] = []

    def count_written() -> None:
        between.append(sum(1 for _, t, _ in conns if t.writes))

    asyncio.get_running_loop().call_soon(count_written)  # runs between the first slices
    for _ in range(4):
        await asyncio.sleep(0)
    assert between and 0 < between[0] < len(conns)
    assert all(len(t.writes) == 1 for _, t, _ in conns)
