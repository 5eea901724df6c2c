"""A supervisor's spy and conference survive a restart of the Hotline server: a new server
on the same database and the same pbx_sim takes them over (docs/dispatch.md, "After a
restart") and the supervisor goes on operating them. Real AMI on 127.0.0.1, real SQLite;
the PBX side is checked in pbx_sim's own state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cti.store.live import load_live
from pbx_sim.cli import build_parser
from pbx_sim.cli import start as start_sim
from pbx_sim.conference import conferences
from tests.cti import test_supervisor_e2e as e2e
from tests.cti.test_e2e_sim import SECRET
from tests.cti.test_supervisor_e2e import Desk, desk_config, talking_call, until
from tests.harness import Client, start_server

desk = e2e.desk  # the fixture: pbx_sim with dispatchers' phones, a server, a database


async def stop(desk: Desk, *clients: Client) -> None:
    """Stop the server (its store writes finish; its clients go first, as a server
    going away waits for open WebSockets)."""
    for client in clients:
        await client.ws.close()
    await desk.server.stop()


async def start(desk: Desk) -> None:
    """A new server on the same database and PBX, as after a crash or an upgrade; back
    once it has taken the spies and conferences over."""
    desk.server = await start_server(desk_config(), desk.store, desk.sim.port)
    desk.url = f"http://127.0.0.1:{desk.server.http_port}/ws"
    await until(desk.server._supervision_ready.is_set)


def spy_channels(desk: Desk) -> list[str]:
    return [c.name for c in desk.sim.world.channels.values() if "spy_mode" in c.data]


async def test_a_barge_survives_a_restart_and_its_mode_is_known(desk: Desk) -> None:
    agent = await desk.client("80001", "8001")
    sup = await desk.client("90001", "9001")
    assert (await sup.ask("subscribe", topics=["calls"]))["ok"]
    call_id = await talking_call(desk, agent)
    assert (await sup.ask("call.listen", call_id=call_id))["ok"]
    await sup.wait_for("call.monitored", state="started", call_id=call_id)
    # Switched by DTMF: the PBX's lists still say the ChanSpy was started listening.
    assert (await sup.ask("call.whisper", call_id=call_id))["ok"]
    await until(lambda: desk.spy_mode("9001") == "whisper")
    [spy] = spy_channels(desk)

    await stop(desk, agent, sup)
    await start(desk)
    watcher = await desk.client("90003", "9003")
    snap = await watcher.ask("snapshot", topics=["calls"])
    monitors = [
        (m["supervisor"], m["call_id"], m["mode"], m["channel"], m["state"])
        for m in snap["data"]["monitors"]
    ]
    assert monitors == [("90001", call_id, "whisper", spy, "started")]
    assert (await watcher.ask("subscribe", topics=["calls"]))["ok"]

    sup = await desk.client("90001", "9001")
    same = await sup.ask("call.whisper", call_id=call_id)
    assert same["ok"] and same["data"]["state"] == "unchanged", same
    barge = await sup.ask("call.barge", call_id=call_id)
    assert barge["ok"] and barge["data"]["state"] == "changed", barge
    await watcher.wait_for("call.monitored", state="changed", mode="barge")
    await until(lambda: desk.spy_mode("9001") == "barge")
    assert spy_channels(desk) == [spy]  # the same ChanSpy: nobody re-rang the phone
    monitors_kept, _ = await load_live(desk.store)
    assert [(m.mode, m.spy_mode, m.channel) for m in monitors_kept] == [("barge", "barge", spy)]

    stopped = await sup.ask("call.monitor", call_id=call_id, mode="stop")
    assert stopped["ok"], stopped
    await watcher.wait_for("call.monitored", state="stopped", call_id=call_id)
    await until(lambda: not spy_channels(desk))
    await desk.server._writes.join()
    assert (await load_live(desk.store))[0] == []


async def test_a_spy_that_ends_while_the_server_is_down_is_stopped(desk: Desk) -> None:
    agent = await desk.client("80001", "8001")
    sup = await desk.client("90001", "9001")
    assert (await sup.ask("subscribe", topics=["calls"]))["ok"]
    call_id = await talking_call(desk, agent)
    assert (await sup.ask("call.barge", call_id=call_id))["ok"]
    await sup.wait_for("call.monitored", state="started", call_id=call_id)
    await stop(desk, agent, sup)
    runner = desk.sim.server.runner
    desk.sim.world.hangup(runner.now(), spy_channels(desk)[0])
    runner.poke()
    await until(lambda: not spy_channels(desk))

    await start(desk)
    watcher = await desk.client("90003", "9003")
    assert (await watcher.ask("snapshot", topics=["calls"]))["data"]["monitors"] == []
    await desk.server._writes.join()
    assert (await load_live(desk.store))[0] == []
    again = await (await desk.client("90001", "9001")).ask("call.listen", call_id=call_id)
    assert again["ok"] and again["data"]["state"] == "requested", again


async def test_a_conference_survives_a_restart_and_is_operated_after_it(desk: Desk) -> None:
    sup = await desk.client("90001", "9001")
    reply = await sup.ask("conference.start", extensions=["8001", "8002", "8003"])
    assert reply["ok"], reply
    room = reply["data"]["conference"]

    def users() -> dict[str, Any]:
        conf = conferences(desk.sim.world).get(room)
        return {} if conf is None else {u.chan.device_name[6:]: u for u in conf.users}

    def states() -> dict[str, str]:
        conf = desk.server.supervision.conferences.get(room)
        return {} if conf is None else {e: m.state for e, m in conf.members.items()}

    await until(lambda: set(users()) == {"9001", "8001", "8002", "8003"}, within=8)
    await until(lambda: set(states().values()) == {"joined"}, within=8)
    assert (await sup.ask("conference.mute", conference=room, extension="8002"))["ok"]
    await until(lambda: users()["8002"].muted)
    assert (await sup.ask("conference.drop", conference=room, extension="8003"))["ok"]
    await until(lambda: "8003" not in users())

    await stop(desk, sup)
    # While no server listens, 8001 hangs up: the new server must learn it from the PBX.
    runner = desk.sim.server.runner
    desk.sim.world.hangup(runner.now(), users()["8001"].chan.name)
    runner.poke()
    await until(lambda: "8001" not in users())
    await start(desk)

    watcher = await desk.client("90003", "9003")
    snap = await watcher.ask("snapshot", topics=["conferences"])
    [conf] = snap["data"]["conferences"]
    assert (conf["conference"], conf["owner"], conf["kind"]) == (room, "90001", "select")
    seen = {m["extension"]: (m["state"], m["muted"]) for m in conf["members"]}
    assert seen == {
        "9001": ("joined", False),
        "8001": ("left", False),
        "8002": ("joined", True),
        "8003": ("dropped", False),
    }
    assert (await watcher.ask("subscribe", topics=["conferences"]))["ok"]
    # pbx_sim answers a room that is not there as app_confbridge does (while one is).
    other_room = await desk.server.link.send_action(
        "ConfbridgeList", [("Conference", "1099")], check=False
    )
    assert other_room.message == "No Conference by that name found."

    sup = await desk.client("90001", "9001")
    assert (await sup.ask("conference.unmute", conference=room, extension="8002"))["ok"]
    await until(lambda: not users()["8002"].muted)
    await watcher.wait_for("conference.updated", conference=room)
    added = await sup.ask("conference.add", conference=room, extensions=["8004"])
    assert added["ok"], added
    await until(lambda: "8004" in users(), within=8)
    await until(lambda: states().get("8004") == "joined")
    assert (await sup.ask("conference.drop", conference=room, extension="8002"))["ok"]
    await until(lambda: "8002" not in users())
    # A new conference does not get the room that is still live.
    other = await sup.ask("conference.start", extensions=["8003"])
    assert other["ok"] and other["data"]["conference"] != room, other
    second = other["data"]["conference"]
    await until(
        lambda: (
            {m.state for m in desk.server.supervision.conferences[second].members.values()}
            == {"joined"}
        ),
        within=8,
    )
    assert (await sup.ask("conference.end", conference=second))["ok"]
    await watcher.wait_for("conference.ended", within=8, conference=second)

    assert (await sup.ask("conference.end", conference=room))["ok"]
    await watcher.wait_for("conference.ended", within=8, conference=room)
    await until(lambda: room not in conferences(desk.sim.world), within=8)
    await until(lambda: not desk.server.supervision.conferences, within=8)
    await desk.server._writes.join()
    assert (await load_live(desk.store))[1] == []
    await until(lambda: not conferences(desk.sim.world), within=8)
    rooms = await desk.server.link.send_action("ConfbridgeListRooms", check=False)
    assert (rooms.success, rooms.message) == (False, "No active conferences.")


async def test_a_pbx_restart_ends_the_spies_and_conferences_it_took_away(
    desk: Desk, tmp_path: Path
) -> None:
    """The other way round: the PBX restarts (every channel gone, no ConfbridgeEnd, no
    ChanSpyStop) under a running server: after the reconnect the spy is stopped, the
    conference ended, and nothing of them is left in the store."""
    sup = await desk.client("90001", "9001")
    assert (await sup.ask("subscribe", topics=["calls", "conferences"]))["ok"]
    # An internal call (a trunk call's recording would wait for a file the PBX took away).
    other = await desk.client("90003", "9003")
    assert (await other.ask("extension.call", extension="8004"))["ok"]
    await until(lambda: len(desk.server.model.calls) == 1)
    call_id = next(iter(desk.server.model.calls))
    assert (await sup.ask("call.barge", call_id=call_id))["ok"]
    await sup.wait_for("call.monitored", state="started", call_id=call_id)
    third = await desk.client("90002", "9002")
    room = (await third.ask("conference.start", extensions=["8002"]))["data"]["conference"]
    await until(lambda: room in conferences(desk.sim.world), within=8)
    await until(lambda: desk.server.supervision.conferences[room].members["8002"].state
                == "joined", within=8)  # fmt: skip
    await desk.server._writes.join()
    kept_monitors, kept_conferences = await load_live(desk.store)
    assert len(kept_monitors) == 1 and [c.room for c in kept_conferences] == [room]

    port = desk.sim.port
    await desk.sim.server.shutdown()
    await desk.sim.close()
    args = build_parser().parse_args(
        [
            "--ami-port", str(port), "--ami-user", "hotline", "--ami-secret", SECRET,
            "--agents", "4", "--supervisors", "3", "--spool-dir", str(tmp_path / "spool2"),
        ]
    )  # fmt: skip
    desk.sim = await start_sim(args)
    await desk.server.link.wait_up(15)
    await sup.wait_for("call.monitored", within=15, state="stopped", call_id=call_id)
    await sup.wait_for("conference.ended", within=15, conference=room)
    await until(desk.server._supervision_ready.is_set)
    assert desk.server.supervision.monitors == {} and desk.server.supervision.conferences == {}
    await desk.server._writes.join()
    assert await load_live(desk.store) == ([], [])
