"""cti.store on real SQLite files: migrations, durability (SIGKILL), phones and screen pop,
CSV import, agents and passwords, call records, agent states, groups, seeding."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import pytest
import structlog

from cti.bench import store as bench
from cti.bench.store import make_csv, spell
from cti.config import Role, demo_config
from cti.store import (
    CallLeg,
    CallOutcome,
    CallRecord,
    Conflict,
    Direction,
    Disposition,
    InvalidData,
    NotFound,
    NotHotlineDatabase,
    SchemaTooNew,
    ScryptParams,
    Store,
    StoreError,
    Transfer,
    normalize_phone,
)
from cti.store.migrations import MIGRATIONS, Migration, sql_migration
from cti.store.passwords import check_password, hash_password, needs_rehash

FAST = ScryptParams(n=2**4, r=1, p=1)
ROOT = Path(__file__).resolve().parents[2]


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        self.now += 0.001
        return self.now


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    db = await Store.open(tmp_path / "hotline.db", password_params=FAST, clock=Clock())
    await db.add_skill("fault", "故障")
    await db.add_skill("general", "综合")
    yield db
    await db.close()


async def _one(conn: aiosqlite.Connection, sql: str) -> object:
    rows = list(await conn.execute_fetchall(sql))
    return rows[0][0]


def _call(call_id: str, started: float, **fields: object) -> CallRecord:
    return CallRecord(call_id=call_id, started_at=started, **fields)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- migrations


async def test_open_creates_directory_schema_and_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "hotline.db"
    async with await Store.open(path) as db:
        assert db.schema_version == len(MIGRATIONS)
        assert db.synchronous == "FULL"
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        versions = conn.execute("SELECT version, description FROM schema_version").fetchall()
        assert [v for v, _ in versions] == list(range(1, len(MIGRATIONS) + 1))
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {
            "agents",
            "agent_skills",
            "skills",
            "customers",
            "customer_phones",
            "call_records",
            "call_legs",
            "agent_state_history",
            "groups",
            "group_members",
        } <= tables
    finally:
        conn.close()


async def test_connection_pragmas(store: Store) -> None:
    async with aiosqlite.connect(store.path) as other:
        assert (await (await other.execute("PRAGMA journal_mode")).fetchone()) == ("wal",)
    for conn in (store._writer, store._reader):
        assert await _one(conn, "PRAGMA foreign_keys") == 1
        assert await _one(conn, "PRAGMA synchronous") == 2  # FULL
        assert await _one(conn, "PRAGMA busy_timeout") == 5000


async def test_reopen_keeps_data_and_applies_no_migration(tmp_path: Path) -> None:
    path = tmp_path / "hotline.db"
    async with await Store.open(path, password_params=FAST) as db:
        await db.create_customer(name="张三", phones=["13800138000"])
    async with await Store.open(path, password_params=FAST) as db:
        assert db.schema_version == len(MIGRATIONS)
        assert (await db.find_customer_by_phone("13800138000")) is not None
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == len(MIGRATIONS)
    conn.close()


async def test_new_migration_is_applied_then_older_code_refuses(tmp_path: Path) -> None:
    path = tmp_path / "hotline.db"
    async with await Store.open(path):
        pass
    n = len(MIGRATIONS)
    v2 = sql_migration(n + 1, "tickets", "CREATE TABLE tickets (id INTEGER PRIMARY KEY)")
    async with await Store.open(path, migrations=(*MIGRATIONS, v2)) as db:
        assert db.schema_version == n + 1
    before = path.read_bytes()
    with pytest.raises(SchemaTooNew) as caught:
        await Store.open(path)
    assert f"schema version {n + 1} is newer than this Hotline knows (up to {n})" in str(
        caught.value
    )
    assert str(path) in str(caught.value)
    assert path.read_bytes() == before


async def test_failing_migration_is_rolled_back_entirely(tmp_path: Path) -> None:
    path = tmp_path / "hotline.db"

    async def broken(conn: aiosqlite.Connection) -> None:
        await conn.execute("CREATE TABLE half_done (x)")
        await conn.execute("INSERT INTO no_such_table VALUES (1)")

    with pytest.raises(sqlite3.OperationalError):
        await Store.open(
            path, migrations=(*MIGRATIONS, Migration(len(MIGRATIONS) + 1, "broken", broken))
        )
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == len(
            MIGRATIONS
        )
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert "half_done" not in names
    finally:
        conn.close()


async def test_migrations_must_be_numbered_in_order(tmp_path: Path) -> None:
    bad = sql_migration(len(MIGRATIONS) + 2, "gap", "SELECT 1")
    with pytest.raises(ValueError, match="numbered"):
        await Store.open(tmp_path / "x.db", migrations=(*MIGRATIONS, bad))


async def test_refuses_other_programs_files(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE notes (x)")
    conn.commit()
    conn.close()
    with pytest.raises(NotHotlineDatabase):
        await Store.open(other)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(NotHotlineDatabase):
        await Store.open(junk)
    with pytest.raises(ValueError):
        await Store.open(":memory:")
    with pytest.raises(ValueError):
        await Store.open(tmp_path / "y.db", synchronous="OFF")  # type: ignore[arg-type]


async def test_closed_store_refuses_work(tmp_path: Path) -> None:
    db = await Store.open(tmp_path / "hotline.db")
    await db.close()
    await db.close()  # twice is fine
    with pytest.raises(StoreError, match="closed"):
        await db.list_agents()
    with pytest.raises(StoreError, match="closed"):
        await db.add_skill("x")


# --------------------------------------------------------------------------- durability

_WRITER = """
import asyncio, sys
from cti.logging import configure_logging
from cti.store import CallOutcome, CallRecord, CallLeg, Store

async def main(path, synchronous):
    configure_logging("warning", "json", stream=sys.stderr)
    store = await Store.open(path, synchronous=synchronous)
    i = 0
    while True:
        record = CallRecord(
            call_id=f"call-{i}", started_at=1e9 + i, answered_at=1e9 + i + 5,
            ended_at=1e9 + i + 65, wait_s=5.0, talk_s=60.0, outcome=CallOutcome.ANSWERED,
            caller_number="13800138000", agent_id="80001", queue="fault",
            legs=(CallLeg(agent_id="80001", outcome="answered"),),
        )
        await store.upsert_call(record)
        sys.stdout.write(f"ok {record.call_id}\\n")
        sys.stdout.flush()
        i += 1

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


@pytest.mark.parametrize("synchronous", ["FULL", "NORMAL"])
async def test_sigkill_loses_no_committed_call(tmp_path: Path, synchronous: str) -> None:
    """A writer is killed with SIGKILL in the middle of its writes: every call whose
    upsert had returned is in the database, which is intact."""
    path = tmp_path / "hotline.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _WRITER,
        str(path),
        synchronous,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert child.stdout is not None
    acknowledged: list[str] = []
    try:
        while len(acknowledged) < 150:
            line = await asyncio.wait_for(child.stdout.readline(), 30)
            assert line, (await child.stderr.read()).decode() if child.stderr else "no output"
            acknowledged.append(line.decode().split()[1])
        child.send_signal(signal.SIGKILL)  # the child is writing the next ones meanwhile
    finally:
        if child.returncode is None:
            child.kill()
        await child.wait()
    assert child.returncode == -signal.SIGKILL
    async with await Store.open(path) as db:
        found = {call.call_id for call in await db.query_calls(limit=1000)}
        assert set(acknowledged) <= found
        assert len(found) >= 150
        call = await db.get_call(acknowledged[-1])
        assert call.outcome is CallOutcome.ANSWERED and len(call.legs) == 1
        integrity = list(await db._reader.execute_fetchall("PRAGMA integrity_check"))
        assert integrity[0][0] == "ok"


async def test_concurrent_writes_from_many_tasks(store: Store) -> None:
    async def calls(worker: int) -> None:
        for i in range(25):
            await store.upsert_call(
                _call(
                    f"w{worker}-{i}",
                    1000.0 + i,
                    outcome=CallOutcome.ANSWERED,
                    agent_id=f"a{worker}",
                    legs=(CallLeg(agent_id=f"a{worker}", outcome="answered"),),
                )
            )

    async def states(worker: int) -> None:
        for i in range(25):
            await store.append_agent_state(f"a{worker}", "ready", None, 1000.0 + i)

    async def customers(worker: int) -> None:
        for i in range(10):
            await store.create_customer(name=f"c{worker}-{i}", phones=[f"139{worker:04d}{i:04d}"])

    await asyncio.gather(
        *(calls(w) for w in range(8)),
        *(states(w) for w in range(8)),
        *(customers(w) for w in range(8)),
    )
    assert len(await store.query_calls(limit=1000)) == 200
    history = await store.agent_state_history(limit=1000)
    assert len(history) == 200
    assert sum(1 for h in history if h.until is None) == 8  # one open interval per agent
    assert (await store.search_customers(limit=1))[1] == 80


async def test_two_processes_worth_of_connections_share_the_file(tmp_path: Path) -> None:
    path = tmp_path / "hotline.db"
    first = await Store.open(path)
    second = await Store.open(path)
    try:

        async def write(db: Store, prefix: str) -> None:
            for i in range(30):
                await db.upsert_call(_call(f"{prefix}{i}", float(i)))

        await asyncio.gather(write(first, "a"), write(second, "b"))
        assert len(await first.query_calls(limit=1000)) == 60
        assert len(await second.query_calls(limit=1000)) == 60
    finally:
        await first.close()
        await second.close()


# --------------------------------------------------------------------------- phones


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("13800138000", "13800138000"),
        ("+86 138 0013 8000", "13800138000"),
        ("+86-138-0013-8000", "13800138000"),
        ("0086 13800138000", "13800138000"),
        ("8613800138000", "13800138000"),
        ("013800138000", "13800138000"),
        ("138 0013 8000", "13800138000"),
        ("＋８６ １３８００１３８０００", "13800138000"),  # full-width, as typed in Chinese IMEs
        ("010-65529988", "1065529988"),
        ("(010) 6552 9988", "1065529988"),
        ("+86 10 6552 9988", "1065529988"),
        ("+86 (0)10 6552 9988", "1065529988"),
        ("861065529988", "1065529988"),
        ("0755-8765-4321", "75587654321"),
        ("+1 (415) 555-0100", "+14155550100"),
        ("001 415 555 0100", "+14155550100"),
        ("8001", "8001"),
        ("95588", "95588"),
        ("86123456", "86123456"),  # a local number starting with 86 stays
    ],
)
def test_normalize_phone(text: str, key: str) -> None:
    assert normalize_phone(text) == key


@pytest.mark.parametrize(
    "text", ["", "  ", "+", "anonymous", "138-0013-800O", "0", "00", "1" * 21, "+86", "13+8"]
)
def test_normalize_phone_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="not a phone number"):
        normalize_phone(text)


async def test_screen_pop_finds_the_customer_in_every_spelling(store: Store) -> None:
    zhang = await store.create_customer(
        name="张伟",
        phones=["+86 138 0013 8000", "010-6552 9988"],
        address="北京市朝阳区建国路 88 号",
        account_id="ACC-001",
    )
    await store.create_customer(name="Other", phones=["13900000000"])
    for number in (
        "13800138000",
        "013800138000",
        "8613800138000",
        "+8613800138000",
        "138 0013 8000",
        "01065529988",
        "+86 10 65529988",
    ):
        found = await store.find_customer_by_phone(number)
        assert found == zhang, number
    assert zhang.phones == ("+86 138 0013 8000", "010-6552 9988")
    assert await store.find_customer_by_phone("13700000000") is None
    assert await store.find_customer_by_phone("anonymous") is None
    assert await store.find_customer_by_phone("") is None
    assert await store.find_customer_by_phone(None) is None
    # the synchronous look-up of the screen pop answers the same
    assert store.lookup_caller("+86 10 65529988") == (zhang, [])
    assert store.lookup_caller("13700000000") == (None, [])
    assert store.lookup_caller("anonymous") == (None, [])
    assert store.lookup_caller(None) == (None, [])


async def test_screen_pop_lookup_after_close_is_a_store_error(tmp_path: Path) -> None:
    db = await Store.open(tmp_path / "closed.db", password_params=FAST)
    assert db.lookup_caller("13800138000") == (None, [])  # opens its connection
    await db.close()
    with pytest.raises(StoreError, match="closed"):
        db.lookup_caller("13800138000")


async def test_screen_pop_prefers_the_customer_updated_last(store: Store) -> None:
    old = await store.create_customer(name="Old", phones=["13800138000"])
    new = await store.create_customer(name="New", phones=["+86 13800138000"])
    assert (await store.find_customer_by_phone("13800138000")) == new
    old = await store.update_customer(old.id, notes="called again")
    assert (await store.find_customer_by_phone("13800138000")) == old


async def test_screen_pop_lookup_uses_the_index(store: Store) -> None:
    plan = list(
        await store._reader.execute_fetchall(
            "EXPLAIN QUERY PLAN SELECT customer_id FROM customer_phones WHERE digits = ?",
            ("1",),
        )
    )
    assert any("customer_phones_digits" in row[3] for row in plan), plan
    plan = list(
        await store._reader.execute_fetchall(
            "EXPLAIN QUERY PLAN SELECT * FROM call_records WHERE caller_digits = ?"
            " ORDER BY started_at DESC LIMIT 5",
            ("1",),
        )
    )
    assert any("call_records_caller" in row[3] for row in plan), plan


# --------------------------------------------------------------------------- customers


async def test_customer_crud(store: Store) -> None:
    created = await store.create_customer(
        name="  李娜 ",
        phones=["13800138000", "+86 138 0013 8000", "13900139000"],  # the 2nd is the 1st
        address="上海",
        account_id="A-1",
        service_id="S-1",
        notes="VIP\n二线",
    )
    assert created.name == "李娜"
    assert created.phones == ("13800138000", "13900139000")
    assert await store.get_customer(created.id) == created
    updated = await store.update_customer(created.id, phones=["020 1234 5678"], service_id=None)
    assert updated.phones == ("020 1234 5678",)
    assert updated.service_id is None
    assert updated.name == "李娜" and updated.notes == "VIP\n二线"
    assert await store.find_customer_by_phone("13800138000") is None
    assert (await store.find_customer_by_phone("+86 20 12345678")) == updated
    other = await store.create_customer(name="王芳", account_id="A-2")
    with pytest.raises(Conflict, match="A-1"):
        await store.create_customer(name="x", account_id="A-1")
    with pytest.raises(Conflict):
        await store.update_customer(other.id, account_id="A-1")
    await store.delete_customer(created.id)
    with pytest.raises(NotFound):
        await store.get_customer(created.id)
    with pytest.raises(NotFound):
        await store.delete_customer(created.id)
    with pytest.raises(NotFound):
        await store.update_customer(created.id, name="x")
    # its phones went with it
    rows = list(await store._reader.execute_fetchall("SELECT COUNT(*) FROM customer_phones"))
    assert rows[0][0] == 0


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "a\x00b"}, "name"),
        ({"name": "x", "phones": ["12ab"]}, "phones[0]"),
        ({"name": "x", "phones": ["1"] * 0 + [str(13800000000 + i) for i in range(11)]}, "phones"),
        ({"name": "x", "account_id": "a" * 65}, "account_id"),
        ({"name": "x", "notes": "n" * 4001}, "notes"),
    ],
)
async def test_customer_checks(store: Store, fields: dict[str, object], where: str) -> None:
    with pytest.raises(InvalidData) as caught:
        await store.create_customer(**fields)  # type: ignore[arg-type]
    assert caught.value.field == where
    assert str(caught.value).startswith(f"{where}: ")


async def test_search_customers(store: Store) -> None:
    for i in range(12):
        await store.create_customer(name=f"张{i:02d}", phones=[f"1380000{i:04d}"])
    await store.create_customer(name="100% 王", phones=["13900000000"])
    page, total = await store.search_customers(name="张", limit=5, offset=5)
    assert total == 12
    assert [c.name for c in page] == [f"张{i:02d}" for i in range(5, 10)]
    assert [c.name for c in (await store.search_customers(name="%"))[0]] == ["100% 王"]
    assert [c.name for c in (await store.search_customers(name="_"))[0]] == []
    found, total = await store.search_customers(phone="+86 138 0000 0003")
    assert total == 1 and found[0].name == "张03"
    assert (await store.search_customers(phone="13800000003", name="王"))[1] == 0
    with pytest.raises(InvalidData, match=r"^phone: "):
        await store.search_customers(phone="abc")
    with pytest.raises(InvalidData, match=r"^limit: "):
        await store.search_customers(limit=0)
    with pytest.raises(InvalidData, match=r"^offset: "):
        await store.search_customers(offset=-1)


# --------------------------------------------------------------------------- CSV import


async def test_csv_import_reports_bad_rows_and_imports_good_ones(store: Store) -> None:
    text = (
        "\ufeffname,phones,address,account_id,service_id,notes\r\n"
        "张伟,+86 138 0013 8000;010-65529988,北京市朝阳区,ACC-1,SVC-1,老客户\r\n"
        ",13900000001,,ACC-2,,\r\n"  # line 3: no name
        "李娜,139-0000-0002|0755 8765 4321,深圳,ACC-3,,\r\n"
        "王芳,not-a-number,,ACC-4,,\r\n"  # line 5
        '"Zhao, Lei",13900000005,"Room 5\nBuilding 2",ACC-5,,"multi-line"\r\n'  # lines 6-7
        "\r\n"
        "陈静,13900000006,,ACC-3,,\r\n"  # line 9: ACC-3 again
        "刘洋,13900000007,,ACC-7,,,extra\r\n"  # line 10: 7 fields
        "孙慧,13900000008\r\n"  # short rows are fine
    )
    report = await store.import_customers_csv(text)
    assert (report.rows, report.created, report.updated) == (8, 4, 0)
    assert [(e.line, e.reason) for e in report.errors] == [
        (3, "name: must not be empty"),
        (5, "phones[0]: not a phone number: 'not-a-number' (unexpected 'n')"),
        (9, "account_id: 'ACC-3' is also on line 4"),
        (10, "7 fields, the header has 6"),
    ]
    zhang = await store.find_customer_by_phone("01065529988")
    assert zhang is not None
    assert (zhang.name, zhang.address, zhang.account_id, zhang.service_id, zhang.notes) == (
        "张伟",
        "北京市朝阳区",
        "ACC-1",
        "SVC-1",
        "老客户",
    )
    li = await store.find_customer_by_phone("+86 755 87654321")
    assert li is not None and li.phones == ("139-0000-0002", "0755 8765 4321")
    zhao = await store.find_customer_by_phone("13900000005")
    assert zhao is not None and zhao.name == "Zhao, Lei" and zhao.address == "Room 5\nBuilding 2"
    sun = await store.find_customer_by_phone("13900000008")
    assert sun is not None and sun.account_id is None


async def test_csv_import_again_updates_by_account_id(store: Store) -> None:
    first = await store.import_customers_csv("name,phones,account_id\n张伟,13800138000,A1\n")
    assert (first.created, first.updated) == (1, 0)
    before = await store.find_customer_by_phone("13800138000")
    second = await store.import_customers_csv(
        "account_id,name,phones\nA1,张伟（新）,13900139000\nA2,新客户,\n"
    )
    assert (second.created, second.updated, second.errors) == (1, 1, ())
    after = await store.find_customer_by_phone("13900139000")
    assert before is not None and after is not None
    assert after.id == before.id and after.name == "张伟（新）"
    assert await store.find_customer_by_phone("13800138000") is None
    assert (await store.search_customers())[1] == 2


async def test_csv_import_chinese_headers(store: Store) -> None:
    report = await store.import_customers_csv(
        "姓名,电话,地址,账号,业务号,备注\n黄丽,13800000001；13800000002,广州,H-1,B-1,投诉过\n"
    )
    assert report.created == 1 and not report.errors
    found = await store.find_customer_by_phone("13800000002")
    assert found is not None
    assert (found.name, found.account_id, found.service_id) == ("黄丽", "H-1", "B-1")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "line 1: empty file"),
        ("\n\n", "line 1: empty file"),
        ("name,phone_number\nx,1\n", "line 1: column 2 'phone_number' is not one of"),
        ("phones,address\n1,x\n", "line 1: the header has no 'name' column"),
        ("name,phones,phone\nx,1,2\n", "line 1: column 'phones' appears twice"),
        ('name,notes\nok,fine\nbad,"unclosed\n', "line 3: not valid CSV"),
        ('name,notes\nbad,"a"b\n', "line 2: not valid CSV"),
    ],
)
async def test_csv_import_refuses_unreadable_files(store: Store, text: str, message: str) -> None:
    with pytest.raises(InvalidData) as caught:
        await store.import_customers_csv(text)
    assert str(caught.value).startswith(message)
    assert (await store.search_customers())[1] == 0


async def test_csv_import_is_one_transaction(store: Store) -> None:
    """If writing fails half-way, nothing of the file is in the database."""
    conn = sqlite3.connect(store.path)
    conn.execute(
        "CREATE TRIGGER boom BEFORE INSERT ON customer_phones WHEN NEW.digits = '13999999999'"
        " BEGIN SELECT RAISE(ABORT, 'boom'); END"
    )
    conn.commit()
    conn.close()
    rows = "".join(f"c{i},1380000{i:04d}\n" for i in range(100))
    with pytest.raises(sqlite3.IntegrityError, match="boom"):
        await store.import_customers_csv(f"name,phones\n{rows}last,13999999999\n")
    assert (await store.search_customers())[1] == 0


async def test_csv_import_large_file(store: Store) -> None:
    rows = "".join(f"客户{i},1{i:010d},,ACC{i}\n" for i in range(5000))
    report = await store.import_customers_csv("name,phones,address,account_id\n" + rows)
    assert report.created == 5000 and not report.errors
    found = await store.find_customer_by_phone(f"1{4321:010d}")
    assert found is not None and found.name == "客户4321"


# --------------------------------------------------------------------------- agents, passwords


async def test_agent_crud_with_skills(store: Store) -> None:
    agent = await store.create_agent(
        "80001", name="张伟", extension="8001", skills={"fault": 9, "general": 5}
    )
    assert agent.role is Role.AGENT and agent.enabled and not agent.has_password
    assert dict(agent.skills) == {"fault": 9, "general": 5}
    with pytest.raises(Conflict, match="80001"):
        await store.create_agent("80001")
    with pytest.raises(InvalidData) as caught:
        await store.create_agent("80002", skills={"cooking": 3})
    assert caught.value.field == "skills.cooking"
    with pytest.raises(InvalidData, match=r"^skills\.fault: level"):
        await store.create_agent("80002", skills={"fault": 11})
    with pytest.raises(InvalidData, match=r"^agent_id: "):
        await store.create_agent("bad id")
    with pytest.raises(InvalidData, match=r"^extension: "):
        await store.create_agent("80002", extension="80a")
    with pytest.raises(InvalidData, match=r"^role: "):
        await store.create_agent("80002", role="boss")
    updated = await store.update_agent(
        "80001", skills={"general": 7}, extension=None, role="supervisor"
    )
    assert dict(updated.skills) == {"general": 7}
    assert updated.extension is None and updated.role is Role.SUPERVISOR
    assert updated.name == "张伟"
    assert updated.updated_at > agent.updated_at
    assert [a.agent_id for a in await store.list_agents()] == ["80001"]
    await store.upsert_call(_call("c1", 1.0, agent_id="80001"))
    await store.delete_agent("80001")
    with pytest.raises(NotFound):
        await store.get_agent("80001")
    with pytest.raises(NotFound):
        await store.update_agent("80001", name="x")
    with pytest.raises(NotFound):
        await store.delete_agent("80001")
    assert (await store.get_call("c1")).agent_id == "80001"  # history stays
    rows = list(await store._reader.execute_fetchall("SELECT COUNT(*) FROM agent_skills"))
    assert rows[0][0] == 0


async def test_last_enabled_admin_is_protected(store: Store) -> None:
    await store.create_agent("root", role=Role.ADMIN)
    with pytest.raises(Conflict, match="last enabled admin"):
        await store.update_agent("root", role=Role.SUPERVISOR)
    with pytest.raises(Conflict, match="last enabled admin"):
        await store.update_agent("root", enabled=False)
    with pytest.raises(Conflict, match="last enabled admin"):
        await store.delete_agent("root")
    await store.create_agent("root2", role=Role.ADMIN)
    await store.update_agent("root", enabled=False)
    with pytest.raises(Conflict):
        await store.delete_agent("root2")
    await store.delete_agent("root")  # a disabled admin is not the last one standing
    assert (await store.get_agent("root2")).role is Role.ADMIN


async def test_passwords(store: Store) -> None:
    await store.create_agent("80001", password="correct horse")
    await store.create_agent("80002")
    agent = await store.verify_password("80001", "correct horse")
    assert agent is not None and agent.agent_id == "80001" and agent.has_password
    assert await store.verify_password("80001", "wrong horse") is None
    assert await store.verify_password("80002", "") is None  # no password set
    assert await store.verify_password("nobody", "correct horse") is None
    assert await store.verify_password("80001", "x" * 5000) is None
    await store.set_password("80002", "battery staple")
    assert await store.verify_password("80002", "battery staple") is not None
    with pytest.raises(NotFound):
        await store.set_password("nobody", "whatever1")
    with pytest.raises(InvalidData, match=r"^password: "):
        await store.set_password("80002", "")
    stored = await _one(store._reader, "SELECT password_hash FROM agents WHERE agent_id = '80001'")
    assert stored.startswith("scrypt$16$1$1$")
    await store.close()
    for name in os.listdir(store.path.parent):
        assert b"correct horse" not in (store.path.parent / name).read_bytes()


async def test_weak_hashes_are_upgraded_on_login(tmp_path: Path) -> None:
    path = tmp_path / "hotline.db"
    async with await Store.open(path, password_params=FAST) as db:
        await db.create_agent("80001", password="correct horse")
    stronger = ScryptParams(n=2**6, r=2, p=1)
    async with await Store.open(path, password_params=stronger) as db:
        assert await db.verify_password("80001", "correct horse") is not None
        rows = list(await db._reader.execute_fetchall("SELECT password_hash FROM agents"))
        assert rows[0][0].startswith("scrypt$64$2$1$")
        assert await db.verify_password("80001", "correct horse") is not None


def test_password_hash_format() -> None:
    encoded = hash_password("密码 with ünïcode", FAST)
    scheme, n, r, p, salt, key = encoded.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16", "1", "1")
    assert len(salt) == 22 and len(key) == 43
    assert check_password("密码 with ünïcode", encoded)
    assert not check_password("密码 with unicode", encoded)
    assert hash_password("same", FAST) != hash_password("same", FAST)  # salted
    assert not check_password("x", "md5$abc")
    assert not check_password("x", "scrypt$3$1$1$AAAA$AAAA")  # N not a power of two
    assert not check_password("x", "scrypt$1048576000$8$1$AAAA$AAAA")  # too costly
    assert needs_rehash(encoded, ScryptParams())
    assert not needs_rehash(encoded, FAST)
    assert needs_rehash("garbage", FAST)
    assert hash_password("x").startswith("scrypt$16384$8$1$")
    with pytest.raises(ValueError):
        ScryptParams(n=1000)


# --------------------------------------------------------------------------- calls


async def test_call_record_upsert_legs_and_wrap_up(store: Store) -> None:
    ringing = _call(
        "c1",
        1000.0,
        caller_number="+86 138 0013 8000",
        caller_name="张伟",
        dialled_number="4001",
        trunk="e1",
        queue="fault",
        enqueued_at=1001.0,
        ivr_path=("main", "fault"),
        legs=(
            CallLeg(agent_id="80002", extension="8002", queue="fault", outcome="no_answer"),
            CallLeg(agent_id="80001", extension="8001", queue="fault", started_at=1020.0),
        ),
    )
    await store.upsert_call(ringing)
    got = await store.get_call("c1")
    assert got.outcome is CallOutcome.IN_PROGRESS and got.legs[1].outcome == "in_progress"
    assert got.ivr_path == ("main", "fault") and got.direction is Direction.INBOUND
    ended = _call(
        "c1",
        1000.0,
        caller_number="+86 138 0013 8000",
        queue="fault",
        agent_id="80003",
        answered_at=1021.0,
        ended_at=1200.0,
        wait_s=20.0,
        talk_s=179.0,
        outcome=CallOutcome.ANSWERED,
        cause="16",
        transfers=(Transfer("80001", "80003", "attended", 1100.0),),
        satisfaction=5,
        legs=(
            CallLeg(agent_id="80002", outcome="no_answer"),
            CallLeg(agent_id="80001", answered_at=1021.0, outcome="answered", talk_s=79.0),
            CallLeg(agent_id="80003", answered_at=1100.0, outcome="answered", talk_s=100.0),
        ),
    )
    await store.upsert_call(ended)
    await store.set_wrap_up("c1", "80001", Disposition.FAULT, "断网", False, 12.0)
    await store.set_wrap_up("c1", "80003", "complaint", "已派单", True, 30.0)
    with pytest.raises(NotFound, match="handled by agent '80002'"):
        await store.set_wrap_up("c1", "80002", "other")  # it only rang there
    with pytest.raises(NotFound):
        await store.set_wrap_up("nope", "80001", "other")
    with pytest.raises(InvalidData, match=r"^disposition: "):
        await store.set_wrap_up("c1", "80001", "spam")
    await store.upsert_call(ended)  # a late write without wrap-up keeps it
    got = await store.get_call("c1")
    assert (got.disposition, got.notes, got.resolved, got.wrap_up_s) == (
        Disposition.COMPLAINT,
        "已派单",
        True,
        30.0,
    )
    assert got.transfers == (Transfer("80001", "80003", "attended", 1100.0),)
    assert got.satisfaction == 5 and got.cause == "16" and got.agent_id == "80003"
    assert [leg.disposition for leg in got.legs] == [None, Disposition.FAULT, Disposition.COMPLAINT]
    assert got.legs[1].notes == "断网" and got.legs[1].resolved is False
    # fewer legs in a later write: the extra ones go
    await store.upsert_call(_call("c1", 1000.0, legs=(CallLeg(agent_id="80002"),)))
    assert len((await store.get_call("c1")).legs) == 1


async def test_wrap_up_for_a_leg_less_call_of_its_agent(store: Store) -> None:
    await store.upsert_call(_call("c9", 1.0, agent_id="80001", outcome=CallOutcome.ANSWERED))
    await store.set_wrap_up("c9", "80001", "inquiry", None, True)
    assert (await store.get_call("c9")).disposition is Disposition.INQUIRY


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"wait_s": -1.0}, "wait_s"),
        ({"talk_s": float("nan")}, "talk_s"),
        ({"satisfaction": 6}, "satisfaction"),
        ({"disposition": "spam"}, "disposition"),
        ({"outcome": "exploded"}, "direction/outcome"),
        ({"legs": (CallLeg(outcome=""),)}, "legs[0].outcome"),
    ],
)
async def test_call_record_checks(store: Store, fields: dict[str, object], where: str) -> None:
    with pytest.raises(InvalidData) as caught:
        await store.upsert_call(_call("c1", 1.0, **fields))
    assert caught.value.field == where
    with pytest.raises(InvalidData, match="call_id"):
        await store.upsert_call(_call("", 1.0))


async def test_recent_calls_and_query(store: Store) -> None:
    for i in range(10):
        await store.upsert_call(
            _call(
                f"c{i}",
                1000.0 + 100 * i,
                caller_number="13800138000" if i % 2 == 0 else "010 6552 9988",
                queue="fault" if i < 5 else "general",
                agent_id=f"8000{i % 3}",
                outcome=CallOutcome.ANSWERED if i % 4 else CallOutcome.ABANDONED,
                legs=(CallLeg(agent_id="80009", outcome="no_answer"),) if i == 7 else (),
            )
        )
    recent = await store.recent_calls("+86 138-0013-8000", 3)
    assert [c.call_id for c in recent] == ["c8", "c6", "c4"]
    recent = await store.recent_calls("13800138000", 2, exclude_call_id="c8")
    assert [c.call_id for c in recent] == ["c6", "c4"]
    assert await store.recent_calls("anonymous") == []
    assert await store.recent_calls(None) == []
    # the screen pop's synchronous look-up sees every committed record, the same way
    customer, history = store.lookup_caller("13800138000", 2, exclude_call_id="c8")
    assert customer is None
    assert history == recent

    async def ids(**query: object) -> list[str]:
        return [c.call_id for c in await store.query_calls(**query)]  # type: ignore[arg-type]

    assert await ids() == [f"c{i}" for i in range(9, -1, -1)]
    assert await ids(start=1200.0, end=1500.0) == ["c4", "c3", "c2"]
    assert await ids(agent_id="80001") == ["c7", "c4", "c1"]
    assert await ids(agent_id="80009") == ["c7"]  # offered only (a leg)
    assert await ids(caller="01065529988", queue="general") == ["c9", "c7", "c5"]
    assert await ids(outcome="abandoned") == ["c8", "c4", "c0"]
    assert await ids(limit=2, offset=3) == ["c6", "c5"]
    with pytest.raises(InvalidData, match=r"^caller: "):
        await store.query_calls(caller="nobody")
    with pytest.raises(InvalidData, match=r"^outcome: "):
        await store.query_calls(outcome="nope")
    with pytest.raises(InvalidData, match=r"^limit: "):
        await store.query_calls(limit=1001)
    legs = (await store.query_calls(agent_id="80009"))[0].legs
    assert legs == (CallLeg(agent_id="80009", outcome="no_answer"),)
    # a record committed since is seen by the synchronous look-up at once
    await store.upsert_call(_call("c10", 5000.0, caller_number="13800138000"))
    assert [c.call_id for c in store.lookup_caller("138 0013 8000", 2)[1]] == ["c10", "c8"]


# --------------------------------------------------------------------------- agent states


async def test_agent_state_history(store: Store) -> None:
    await store.append_agent_state("80001", "ready", None, 100.0)
    await store.append_agent_state("80002", "ready", None, 105.0)
    await store.append_agent_state("80001", "on_call", None, 110.0)
    await store.append_agent_state("80001", "not_ready", "lunch", 200.0)
    history = await store.agent_state_history(agent_id="80001")
    assert [(h.state, h.reason, h.since, h.until) for h in history] == [
        ("ready", None, 100.0, 110.0),
        ("on_call", None, 110.0, 200.0),
        ("not_ready", "lunch", 200.0, None),
    ]
    overlapping = await store.agent_state_history(start=150.0, end=250.0)
    assert [(h.agent_id, h.state) for h in overlapping] == [
        ("80002", "ready"),
        ("80001", "on_call"),
        ("80001", "not_ready"),
    ]
    assert await store.agent_state_history(end=100.0) == []
    with pytest.raises(InvalidData, match=r"^state: "):
        await store.append_agent_state("80001", "on call!", None, 300.0)
    with pytest.raises(InvalidData, match=r"^since: "):
        await store.append_agent_state("80001", "ready", None, float("inf"))


# --------------------------------------------------------------------------- groups


async def test_groups_crud(store: Store) -> None:
    group = await store.create_group("night-shift", ["8003", "8001"], "夜班")
    assert group.extensions == ("8003", "8001") and group.description == "夜班"
    with pytest.raises(Conflict):
        await store.create_group("night-shift", ["8001"])
    with pytest.raises(InvalidData, match=r"^extensions\[1\]: "):
        await store.create_group("x", ["8001", "80O2"])
    with pytest.raises(InvalidData, match=r"^extensions\[1\]: extension 8001 is listed twice"):
        await store.create_group("x", ["8001", "8001"])
    with pytest.raises(InvalidData, match=r"^extensions: "):
        await store.create_group("x", [])
    with pytest.raises(InvalidData, match=r"^name: "):
        await store.create_group("夜班", ["8001"])
    updated = await store.update_group("night-shift", extensions=["8002", "8003"])
    assert updated.extensions == ("8002", "8003") and updated.description == "夜班"
    assert [g.name for g in await store.list_groups()] == ["night-shift"]
    await store.delete_group("night-shift")
    with pytest.raises(NotFound):
        await store.get_group("night-shift")
    with pytest.raises(NotFound):
        await store.update_group("night-shift", description="x")
    with pytest.raises(NotFound):
        await store.delete_group("night-shift")


# --------------------------------------------------------------------------- seeding


async def test_seed_from_config(tmp_path: Path) -> None:
    config = demo_config()
    async with await Store.open(tmp_path / "hotline.db", password_params=FAST) as db:
        report = await db.seed_from_config(config, demo_password="demo-pass")
        assert (report.skills_created, report.agents_created, report.groups_created) == (4, 14, 3)
        assert report.passwords_set == 14
        supervisor = await db.get_agent("90001")
        assert supervisor.role is Role.SUPERVISOR and supervisor.extension == "9001"
        assert dict((await db.get_agent("80001")).skills) == {"fault": 9, "general": 5}
        assert (await db.get_group("fault-team")).extensions == ("8001", "8002", "8003", "8004")
        assert await db.verify_password("80005", "demo-pass") is not None

        # what admins changed survives a second seeding; passwords are not overwritten
        await db.update_agent("80001", name="张伟", skills={"fault": 10})
        await db.set_password("80002", "my own secret")
        await db.update_group("fault-team", extensions=["8001"])
        again = await db.seed_from_config(config, demo_password="other-pass")
        assert again.agents_created == 0 and again.passwords_set == 0
        agent = await db.get_agent("80001")
        assert agent.name == "张伟" and dict(agent.skills) == {"fault": 10}
        assert await db.verify_password("80002", "my own secret") is not None
        assert await db.verify_password("80003", "demo-pass") is not None
        assert (await db.get_group("fault-team")).extensions == ("8001",)

        reset = await db.seed_from_config(config, demo_password="other-pass", reset_passwords=True)
        assert reset.passwords_set == 14
        assert await db.verify_password("80002", "other-pass") is not None

        no_password = await db.seed_from_config(config)
        assert no_password == type(no_password)()


# --------------------------------------------------------------------------- benchmark


def test_bench_store_prints_one_json_object(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = logging.getLogger()
    handlers = list(root.handlers)
    try:
        args = ["--customers", "300", "--lookups", "200", "--upserts", "60", "--json"]
        code = bench.main([*args, "--dir", str(tmp_path)])
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
                handler.close()
        structlog.reset_defaults()
    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["customers"] == 300 and result["upserts"] == 60
    assert 0.85 < result["lookup_found_fraction"] < 0.95  # 10 % unknown numbers
    for key in ("lookup_p50_us", "lookup_p99_us", "screen_pop_p50_us", "upsert_per_s"):
        assert result[key] > 0
    assert list(tmp_path.iterdir()) == []  # its temporary files are gone


def test_bench_spellings_all_normalise_to_the_stored_key() -> None:
    rng = random.Random(3)
    _, numbers = make_csv(200, seed=3)
    for number in numbers:
        for _ in range(5):
            assert normalize_phone(spell(number, rng)) == normalize_phone(number)
