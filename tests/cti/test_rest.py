"""The REST API over a real aiohttp server on 127.0.0.1, mounted at /api like the server
does, on a real SQLite file: every endpoint's happy path and its error answers."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from cti.api.rest import MAX_CSV_BYTES, MAX_JSON_BYTES, ROUTES, RestLimits, Route, rest_app
from cti.auth import Authenticator
from cti.config import Role
from cti.logging import configure_logging
from cti.store import CallLeg, CallOutcome, CallRecord, ScryptParams, Store

FAST = ScryptParams(n=2**4, r=1, p=1)
PASSWORD = "Sup3r-Secret-Passw0rd"
T0 = 1_714_521_600.0  # 2024-05-01T00:00:00Z


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class Api:
    """A client with the accounts' tokens at hand."""

    def __init__(self, client: TestClient[Any, Any], store: Store, clock: Clock) -> None:
        self.client = client
        self.store = store
        self.clock = clock
        self.tokens: dict[str, str] = {}

    async def login(self, agent_id: str, password: str = PASSWORD) -> str:
        response = await self.client.post(
            "/api/login", json={"agent_id": agent_id, "password": password}
        )
        assert response.status == 200, await response.text()
        token: str = (await response.json())["token"]
        self.tokens[agent_id] = token
        return token

    async def call(
        self, method: str, path: str, as_: str | None = None, **kwargs: Any
    ) -> tuple[int, Any]:
        headers = dict(kwargs.pop("headers", {}))
        if as_ is not None:
            headers["Authorization"] = f"Bearer {self.tokens[as_]}"
        response = await self.client.request(method, path, headers=headers, **kwargs)
        if response.status == 204:
            assert await response.read() == b""
            return 204, None
        assert response.content_type == "application/json", await response.text()
        return response.status, await response.json()


def _error(body: Any) -> tuple[str, str]:
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    return body["error"]["code"], body["error"]["message"]


async def _serve(
    store: Store, clock: Clock, limits: RestLimits | None = None
) -> TestClient[Any, Any]:
    auth = Authenticator(store)
    root = web.Application()  # the server's application, default client_max_size (1 MiB)

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    root.router.add_get("/health", health)
    root.add_subapp("/api", rest_app(store, auth, clock=clock, limits=limits))
    client: TestClient[Any, Any] = TestClient(TestServer(root, host="127.0.0.1"))
    await client.start_server()
    return client


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    db = await Store.open(tmp_path / "hotline.db", password_params=FAST)
    await db.add_skill("fault", "故障")
    await db.add_skill("general", "综合")
    await db.create_agent("10001", name="Admin", role=Role.ADMIN, password=PASSWORD)
    await db.create_agent("90001", name="Supervisor", role=Role.SUPERVISOR, password=PASSWORD)
    await db.create_agent("80001", name="张伟", extension="8001", password=PASSWORD)
    await db.create_agent("80002", name="王芳", extension="8002", password=PASSWORD)
    yield db
    await db.close()


@pytest.fixture
async def api(store: Store) -> AsyncIterator[Api]:
    clock = Clock()
    client = await _serve(store, clock)
    api = Api(client, store, clock)
    for agent_id in ("10001", "90001", "80001", "80002"):
        await api.login(agent_id)
    yield api
    await client.close()


@pytest.fixture
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)
    structlog.reset_defaults()


def _path(route_path: str) -> str:
    return "/api" + route_path.format(
        agent_id="nobody", customer_id="999999", call_id="nope", name="nope"
    )


# --------------------------------------------------------------------------- login / logout


async def test_login_returns_token_and_role(api: Api) -> None:
    status, body = await api.call(
        "POST", "/api/login", json={"agent_id": "90001", "password": PASSWORD}
    )
    assert status == 200
    assert body["role"] == "supervisor" and body["agent_id"] == "90001"
    assert body["expires_at"] == "2024-05-01T12:00:00.000Z"
    assert len(body["token"]) == 43


@pytest.mark.parametrize(
    ("payload", "status", "code", "message"),
    [
        ({"agent_id": "80001", "password": "wrong"}, 401, "unauthenticated", "wrong agent id"),
        ({"agent_id": "ghost", "password": PASSWORD}, 401, "unauthenticated", "wrong agent id"),
        ({"agent_id": "80001"}, 400, "invalid_params", "password: required"),
        ({"agent_id": 80001, "password": "x"}, 400, "invalid_params", "agent_id: expected a str"),
        ({"agent_id": "80001", "password": "x", "otp": 1}, 400, "invalid_params", "otp: unknown"),
        ([1, 2], 400, "invalid_json", "must be a JSON object"),
    ],
)
async def test_login_errors(api: Api, payload: Any, status: int, code: str, message: str) -> None:
    got, body = await api.call("POST", "/api/login", json=payload)
    assert got == status
    assert _error(body)[0] == code and message in _error(body)[1]


@pytest.mark.parametrize("raw", [b"", b"{", b"\xff\xfe", b'{"agent_id": NaN}', b"null", b'"text"'])
async def test_login_invalid_json(api: Api, raw: bytes) -> None:
    status, body = await api.call(
        "POST", "/api/login", data=raw, headers={"Content-Type": "application/json"}
    )
    assert status == 400 and _error(body)[0] == "invalid_json"


async def test_login_rate_limit_answers_429_with_retry_after(api: Api) -> None:
    for _ in range(5):
        status, _ = await api.call(
            "POST", "/api/login", json={"agent_id": "80002", "password": "guess"}
        )
        assert status == 401
    api.clock.now += 100
    response = await api.client.post("/api/login", json={"agent_id": "80002", "password": PASSWORD})
    assert response.status == 429
    assert response.headers["Retry-After"] == "200"
    assert _error(await response.json())[0] == "rate_limited"
    api.clock.now += 200
    await api.login("80002")


async def test_logout_revokes_the_token(api: Api) -> None:
    assert (await api.call("POST", "/api/logout", as_="80001"))[0] == 204
    status, body = await api.call("GET", "/api/customers", as_="80001")
    assert status == 401 and _error(body) == ("unauthenticated", "invalid or expired token")


async def test_tokens_expire(api: Api) -> None:
    api.clock.now += 12 * 3600
    status, body = await api.call("GET", "/api/agents", as_="90001")
    assert status == 401 and _error(body)[0] == "unauthenticated"


# --------------------------------------------------------------------------- 401, 403, 404, 405


def _route_id(value: object) -> str:
    return f"{value.method} {value.path}" if isinstance(value, Route) else str(value)


@pytest.mark.parametrize("route", [r for r in ROUTES if r.role is not None], ids=_route_id)
async def test_every_endpoint_needs_a_valid_token(api: Api, route: Route) -> None:
    for authorization in (None, "Basic dXNlcjpwYXNz", "Bearer", "Bearer not-a-token", "token x"):
        headers = {} if authorization is None else {"Authorization": authorization}
        response = await api.client.request(route.method, _path(route.path), headers=headers)
        assert response.status == 401, authorization
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert _error(await response.json())[0] == "unauthenticated"


@pytest.mark.parametrize(
    ("route", "who"),
    [
        (route, who)
        for route in ROUTES
        if route.role is not None
        for who, role in (("80001", Role.AGENT), ("90001", Role.SUPERVISOR))
        if not role.at_least(route.role)
    ],
    ids=_route_id,
)
async def test_role_is_checked_before_the_target_is_looked_up(
    api: Api, route: Route, who: str
) -> None:
    """A role too low for the endpoint gets 403 even for a target that does not exist."""
    status, body = await api.call(route.method, _path(route.path), as_=who, json={})
    assert status == 403, body
    assert _error(body)[0] == "forbidden"


@pytest.mark.parametrize(
    ("method", "path", "who"),
    [
        ("GET", "/api/agents/nobody", "80001"),  # agents read only their own account
        ("PUT", "/api/agents/nobody/password", "80001"),
        ("PUT", "/api/agents/nobody/password", "90001"),
        ("GET", "/api/calls?agent=nobody", "80001"),
    ],
)
async def test_own_only_endpoints_refuse_others_before_looking(
    api: Api, method: str, path: str, who: str
) -> None:
    status, body = await api.call(method, path, as_=who, json={"password": "x" * 10})
    assert status == 403 and _error(body)[0] == "forbidden"


async def test_unknown_endpoint_and_method(api: Api) -> None:
    status, body = await api.call("GET", "/api/nothing/here", as_="10001")
    assert status == 404 and _error(body)[0] == "not_found"
    response = await api.client.request(
        "DELETE", "/api/customers", headers={"Authorization": f"Bearer {api.tokens['10001']}"}
    )
    assert response.status == 405
    assert response.headers["Allow"] == "GET, POST"
    assert _error(await response.json())[0] == "method_not_allowed"
    assert (await api.client.get("/health")).status == 200  # the root app is untouched


async def test_internal_errors_are_json_and_logged(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken() -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(api.store, "list_agents", broken)
    status, body = await api.call("GET", "/api/agents", as_="90001")
    assert status == 500
    code, message = _error(body)
    assert code == "internal_error" and "disk on fire" not in message


async def test_json_bodies_are_size_limited(api: Api) -> None:
    payload = json.dumps({"name": "x", "notes": "n" * MAX_JSON_BYTES})
    status, body = await api.call(
        "POST", "/api/customers", as_="90001", data=payload,
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    assert status == 413 and _error(body)[0] == "too_large"


# --------------------------------------------------------------------------- agents


async def test_agents_crud(api: Api) -> None:
    new = {
        "agent_id": "80009",
        "name": "周强",
        "extension": "8009",
        "skills": {"fault": 8},
        "password": "initial-pass",
    }
    response = await api.client.post(
        "/api/agents", json=new, headers={"Authorization": f"Bearer {api.tokens['10001']}"}
    )
    assert response.status == 201
    assert response.headers["Location"] == "/api/agents/80009"
    body = await response.json()
    assert body["name"] == "周强" and body["skills"] == {"fault": 8}
    assert body["role"] == "agent" and body["enabled"] is True and body["has_password"] is True
    assert "password" not in json.dumps(body).replace("has_password", "")
    await api.login("80009", "initial-pass")

    status, body = await api.call("POST", "/api/agents", as_="10001", json=new)
    assert status == 409 and _error(body)[0] == "conflict"
    status, body = await api.call(
        "POST", "/api/agents", as_="10001", json={"agent_id": "x1", "skills": {"cooking": 2}}
    )
    assert status == 400 and _error(body)[1].startswith("skills.cooking: unknown skill")
    status, body = await api.call(
        "POST", "/api/agents", as_="10001", json={"agent_id": "x1", "password": "short"}
    )
    assert status == 400 and _error(body)[1] == "password: at least 8 characters"
    status, body = await api.call(
        "POST", "/api/agents", as_="10001", json={"agent_id": "x1", "salary": 1}
    )
    assert status == 400 and _error(body)[1].startswith("salary: unknown field")

    status, body = await api.call("GET", "/api/agents", as_="90001")
    assert status == 200
    assert [a["agent_id"] for a in body["items"]] == ["10001", "80001", "80002", "80009", "90001"]
    assert (await api.call("GET", "/api/agents/80009", as_="90001"))[1]["extension"] == "8009"
    assert (await api.call("GET", "/api/agents/80009", as_="80009"))[0] == 200  # its own

    status, body = await api.call(
        "PATCH",
        "/api/agents/80009",
        as_="10001",
        json={"role": "supervisor", "skills": {"general": 3}, "extension": None},
    )
    assert status == 200
    assert (body["role"], body["skills"], body["extension"]) == ("supervisor", {"general": 3}, None)
    # a role change ends the agent's sessions: the new role needs a new login
    assert (await api.call("GET", "/api/customers", as_="80009"))[0] == 401
    await api.login("80009", "initial-pass")
    assert (await api.call("GET", "/api/agents", as_="80009"))[0] == 200

    status, body = await api.call("PATCH", "/api/agents/80009", as_="10001", json={"role": "god"})
    assert status == 400 and _error(body)[1].startswith("role: expected one of")
    status, body = await api.call("PATCH", "/api/agents/ghost", as_="10001", json={"name": "x"})
    assert status == 404 and _error(body) == ("not_found", "no agent 'ghost'")

    assert (await api.call("DELETE", "/api/agents/80009", as_="10001"))[0] == 204
    assert (await api.call("GET", "/api/agents/80009", as_="90001"))[0] == 404
    assert (await api.call("DELETE", "/api/agents/80009", as_="10001"))[0] == 404
    assert (await api.call("GET", "/api/customers", as_="80009"))[0] == 401


async def test_disabling_an_agent_ends_its_sessions(api: Api) -> None:
    status, _ = await api.call("PATCH", "/api/agents/80002", as_="10001", json={"enabled": False})
    assert status == 200
    assert (await api.call("GET", "/api/customers", as_="80002"))[0] == 401
    status, body = await api.call(
        "POST", "/api/login", json={"agent_id": "80002", "password": PASSWORD}
    )
    assert status == 401 and "disabled" in _error(body)[1]


async def test_the_last_admin_cannot_remove_itself(api: Api) -> None:
    status, body = await api.call("DELETE", "/api/agents/10001", as_="10001")
    assert status == 409 and "last enabled admin" in _error(body)[1]
    status, body = await api.call("PATCH", "/api/agents/10001", as_="10001", json={"role": "agent"})
    assert status == 409


async def test_passwords(api: Api) -> None:
    # an admin sets anyone's: the agent's sessions end
    status, _ = await api.call(
        "PUT", "/api/agents/80001/password", as_="10001", json={"password": "new-pass-1"}
    )
    assert status == 204
    assert (await api.call("GET", "/api/customers", as_="80001"))[0] == 401
    await api.login("80001", "new-pass-1")
    # an agent changes its own with the old one; its current session goes on
    status, body = await api.call(
        "PUT", "/api/agents/80001/password", as_="80001", json={"password": "new-pass-2"}
    )
    assert status == 400 and _error(body)[1].startswith("old_password: required")
    status, body = await api.call(
        "PUT",
        "/api/agents/80001/password",
        as_="80001",
        json={"password": "new-pass-2", "old_password": "not-it"},
    )
    assert status == 403 and _error(body)[1] == "old_password: wrong password"
    status, _ = await api.call(
        "PUT",
        "/api/agents/80001/password",
        as_="80001",
        json={"password": "new-pass-2", "old_password": "new-pass-1"},
    )
    assert status == 204
    assert (await api.call("GET", "/api/customers", as_="80001"))[0] == 200
    await api.login("80001", "new-pass-2")
    # guessing the old password is rate-limited like logins
    for _ in range(5):
        await api.call(
            "PUT",
            "/api/agents/80001/password",
            as_="80001",
            json={"password": "new-pass-3", "old_password": "guess"},
        )
    response = await api.client.put(
        "/api/agents/80001/password",
        json={"password": "new-pass-3", "old_password": "new-pass-2"},
        headers={"Authorization": f"Bearer {api.tokens['80001']}"},
    )
    assert response.status == 429 and "Retry-After" in response.headers
    status, body = await api.call(
        "PUT", "/api/agents/ghost/password", as_="10001", json={"password": "whatever-1"}
    )
    assert status == 404


async def test_skills_and_agent_states(api: Api) -> None:
    status, body = await api.call("GET", "/api/skills", as_="90001")
    assert status == 200
    assert body["items"] == [
        {"name": "fault", "description": "故障"},
        {"name": "general", "description": "综合"},
    ]
    await api.store.append_agent_state("80001", "ready", None, T0)
    await api.store.append_agent_state("80001", "not_ready", "lunch", T0 + 3600)
    await api.store.append_agent_state("80002", "ready", None, T0 + 7200)
    status, body = await api.call(
        "GET", "/api/agent-states?agent=80001&from=2024-05-01T00:30:00Z", as_="90001"
    )
    assert status == 200
    assert [(s["state"], s["since"], s["until"]) for s in body["items"]] == [
        ("ready", "2024-05-01T00:00:00.000Z", "2024-05-01T01:00:00.000Z"),
        ("not_ready", "2024-05-01T01:00:00.000Z", None),
    ]


# --------------------------------------------------------------------------- customers


async def test_customers_crud_and_search(api: Api) -> None:
    new = {
        "name": "张三",
        "phones": ["+86 138 0013 8000", "010-6552 9988"],
        "address": "北京市朝阳区建国路 88 号",
        "account_id": "ACC-1",
        "service_id": "SVC-1",
        "notes": "老客户",
    }
    status, created = await api.call("POST", "/api/customers", as_="90001", json=new)
    assert status == 201
    assert {k: created[k] for k in new} == new
    customer_id = created["id"]
    status, body = await api.call("POST", "/api/customers", as_="90001", json=new)
    assert status == 409 and "ACC-1" in _error(body)[1]
    status, body = await api.call("POST", "/api/customers", as_="90001", json={"phones": []})
    assert status == 400 and _error(body)[1] == "name: required"
    status, body = await api.call(
        "POST", "/api/customers", as_="90001", json={"name": "x", "phones": ["12ab"]}
    )
    assert status == 400 and _error(body)[1].startswith("phones[0]: not a phone number")
    status, body = await api.call(
        "POST", "/api/customers", as_="90001", json={"name": "x", "phones": "13800000000"}
    )
    assert status == 400 and _error(body)[1] == "phones: expected a list of strings"

    # agents read customers (screen pop, search)
    for number in ("013800138000", "+8613800138000", "8613800138000", "01065529988"):
        status, body = await api.call(
            "GET", "/api/customers", as_="80001", params={"phone": number}
        )
        assert status == 200 and [c["id"] for c in body["items"]] == [customer_id], number
    status, body = await api.call("GET", "/api/customers", as_="80001", params={"name": "张"})
    assert body["total"] == 1 and body["limit"] == 50 and body["offset"] == 0
    status, body = await api.call("GET", f"/api/customers/{customer_id}", as_="80001")
    assert status == 200 and body["name"] == "张三"
    status, body = await api.call("GET", "/api/customers?phone=abc", as_="80001")
    assert status == 400 and _error(body)[1].startswith("phone: not a phone number")
    status, body = await api.call("GET", "/api/customers?limit=0", as_="80001")
    assert status == 400 and _error(body)[1] == "limit: expected an integer 1..1000"
    status, body = await api.call("GET", "/api/customers?nmae=x", as_="80001")
    assert status == 400 and _error(body)[1].startswith("nmae: unknown query parameter")
    status, body = await api.call("GET", "/api/customers?name=a&name=b", as_="80001")
    assert status == 400 and _error(body)[1] == "name: given more than once"

    status, body = await api.call(
        "PATCH",
        f"/api/customers/{customer_id}",
        as_="90001",
        json={"phones": ["13900139000"], "account_id": None},
    )
    assert status == 200 and body["phones"] == ["13900139000"] and body["account_id"] is None
    assert body["name"] == "张三"
    assert (await api.call("GET", "/api/customers?phone=13800138000", as_="80001"))[1]["total"] == 0
    assert (await api.call("DELETE", f"/api/customers/{customer_id}", as_="90001"))[0] == 204
    for method in ("GET", "PATCH", "DELETE"):
        status, body = await api.call(method, f"/api/customers/{customer_id}", as_="90001", json={})
        assert status == 404 and _error(body)[0] == "not_found"
    assert (await api.call("GET", "/api/customers/abc", as_="90001"))[0] == 404


async def test_customers_paging(api: Api) -> None:
    for i in range(7):
        await api.store.create_customer(name=f"客户{i}", phones=[f"1390000000{i}"])
    status, body = await api.call("GET", "/api/customers?limit=3&offset=3", as_="80001")
    assert status == 200 and body["total"] == 7
    assert [c["name"] for c in body["items"]] == ["客户3", "客户4", "客户5"]


CSV = (
    "\ufeffname,phones,address,account_id,service_id,notes\r\n"
    "张伟,+86 138 0013 8000;010-65529988,北京,ACC-1,SVC-1,老客户\r\n"
    ",13900000001,,ACC-2,,\r\n"
    "李娜,139-0000-0002|0755 8765 4321,深圳,ACC-3,,\r\n"
    "王芳,not-a-number,,ACC-4,,\r\n"
)


async def test_csv_import(api: Api) -> None:
    status, body = await api.call(
        "POST",
        "/api/customers/import",
        as_="90001",
        data=CSV.encode("utf-8"),
        headers={"Content-Type": "text/csv"},
    )
    assert status == 200
    assert body == {
        "rows": 4,
        "created": 2,
        "updated": 0,
        "error_count": 2,
        "errors": [
            {"line": 3, "reason": "name: must not be empty"},
            {"line": 5, "reason": "phones[0]: not a phone number: 'not-a-number' (unexpected 'n')"},
        ],
    }
    status, body = await api.call("GET", "/api/customers?phone=+86 755 87654321", as_="80001")
    assert [c["name"] for c in body["items"]] == ["李娜"]


async def test_csv_import_encodings_and_types(api: Api) -> None:
    gbk = "name,phones\n黄丽,13800000001\n".encode("gb18030")
    status, body = await api.call(
        "POST", "/api/customers/import", as_="90001", data=gbk,
        headers={"Content-Type": "text/csv"},
    )  # fmt: skip
    assert status == 400 and "charset=gb18030" in _error(body)[1]
    assert _error(body)[1].startswith("body: not valid utf-8 (line 2)")
    status, body = await api.call(
        "POST", "/api/customers/import", as_="90001", data=gbk,
        headers={"Content-Type": "text/csv; charset=gb18030"},
    )  # fmt: skip
    assert status == 200 and body["created"] == 1
    status, body = await api.call(
        "POST", "/api/customers/import", as_="90001", data=b"name\nx\n",
        headers={"Content-Type": "text/csv; charset=klingon"},
    )  # fmt: skip
    assert status == 400 and _error(body)[1].startswith("charset: unknown")
    status, body = await api.call("POST", "/api/customers/import", as_="90001", json={"name": "x"})
    assert status == 415 and _error(body)[0] == "unsupported_media_type"
    status, body = await api.call(
        "POST", "/api/customers/import", as_="90001", data=b"nom,tel\nx,1\n",
        headers={"Content-Type": "text/csv"},
    )  # fmt: skip
    assert status == 400 and _error(body)[1].startswith("line 1: column 1 'nom' is not one of")


async def test_csv_import_larger_than_the_root_apps_limit(api: Api) -> None:
    rows = "".join(f"客户{i},1{i:010d},地址 {i},ACC{i}\n" for i in range(40_000))
    data = ("name,phones,address,account_id\n" + rows).encode("utf-8")
    assert 1 << 20 < len(data) < MAX_CSV_BYTES
    status, body = await api.call(
        "POST", "/api/customers/import", as_="90001", data=data,
        headers={"Content-Type": "text/csv"},
    )  # fmt: skip
    assert status == 200 and body["created"] == 40_000 and body["error_count"] == 0


async def test_csv_import_over_10_mib_is_413(api: Api) -> None:
    data = b"name\n" + b"x" * MAX_CSV_BYTES
    status, body = await api.call(
        "POST", "/api/customers/import", as_="90001", data=data,
        headers={"Content-Type": "text/csv"},
    )  # fmt: skip
    assert status == 413 and _error(body)[0] == "too_large"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while read
        yield b"name\n"
        for _ in range(11):
            yield b"x" * (1 << 20)

    status, body = await api.call(
        "POST", "/api/customers/import", as_="90001", data=chunks(),
        headers={"Content-Type": "text/csv"},
    )  # fmt: skip
    assert status == 413 and _error(body)[0] == "too_large"
    assert (await api.call("GET", "/api/customers", as_="90001"))[1]["total"] == 0


async def test_configurable_limits(store: Store) -> None:
    client = await _serve(store, Clock(), RestLimits(max_json_bytes=100, max_csv_bytes=100))
    try:
        api = Api(client, store, Clock())
        await api.login("90001")
        status, _ = await api.call(
            "POST", "/api/customers/import", as_="90001", data=b"name\n" + b"x" * 100,
            headers={"Content-Type": "text/csv"},
        )  # fmt: skip
        assert status == 413
        status, _ = await api.call("POST", "/api/customers", as_="90001", json={"name": "x" * 100})
        assert status == 413
    finally:
        await client.close()


# --------------------------------------------------------------------------- calls


async def _seed_calls(store: Store) -> None:
    for i in range(6):
        await store.upsert_call(
            CallRecord(
                call_id=f"c{i}",
                started_at=T0 + 3600 * i,
                caller_number="13800138000" if i % 2 else "+86 10 6552 9988",
                queue="fault" if i < 3 else "general",
                agent_id="80001" if i < 4 else "80002",
                wait_s=5.0,
                talk_s=60.0,
                outcome=CallOutcome.ANSWERED,
                legs=(
                    (CallLeg(agent_id="80002", outcome="no_answer"),)
                    if i == 1
                    else (CallLeg(agent_id="80001" if i < 4 else "80002", outcome="answered"),)
                ),
            )
        )


async def test_calls_query(api: Api) -> None:
    await _seed_calls(api.store)

    async def ids(query: str, who: str = "90001") -> list[str]:
        status, body = await api.call("GET", f"/api/calls{query}", as_=who)
        assert status == 200, body
        return [c["call_id"] for c in body["items"]]

    assert await ids("") == ["c5", "c4", "c3", "c2", "c1", "c0"]
    assert await ids("?from=2024-05-01T09:00:00%2B08:00&to=2024-05-01T03:00:00Z") == [
        "c2",
        "c1",
    ]
    assert await ids(f"?from={T0 + 3600 * 4}") == ["c5", "c4"]
    assert await ids("?agent=80002") == ["c5", "c4", "c1"]
    assert await ids("?caller=013800138000&queue=fault") == ["c1"]
    assert await ids("?outcome=answered&limit=2&offset=1") == ["c4", "c3"]
    # agents see only their own calls (answered or offered)
    assert await ids("", who="80002") == ["c5", "c4", "c1"]
    assert await ids("?agent=80002&queue=general", who="80002") == ["c5", "c4"]

    status, body = await api.call("GET", "/api/calls/c3", as_="90001")
    assert status == 200
    assert body["started_at"] == "2024-05-01T03:00:00.000Z"
    assert body["legs"][0]["agent_id"] == "80001" and body["outcome"] == "answered"
    assert (await api.call("GET", "/api/calls/c1", as_="80002"))[0] == 200  # offered to it
    status, body = await api.call("GET", "/api/calls/c3", as_="80002")  # someone else's
    assert status == 404 and _error(body)[0] == "not_found"
    assert (await api.call("GET", "/api/calls/nope", as_="90001"))[0] == 404


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?from=yesterday", "from: expected ISO-8601"),
        ("?to=2024-05-01T00:00:00", "to: give a UTC offset"),
        ("?caller=anonymous", "caller: not a phone number"),
        ("?outcome=exploded", "outcome: expected one of"),
        ("?limit=5000", "limit: expected an integer 1..1000"),
        ("?offset=-1", "offset: expected an integer"),
        ("?agnet=80001", "agnet: unknown query parameter"),
    ],
)
async def test_calls_query_errors(api: Api, query: str, message: str) -> None:
    status, body = await api.call("GET", f"/api/calls{query}", as_="90001")
    assert status == 400
    code, text = _error(body)
    assert code == "invalid_params" and text.startswith(message)


# --------------------------------------------------------------------------- groups


async def test_groups_crud(api: Api) -> None:
    status, body = await api.call(
        "POST",
        "/api/groups",
        as_="90001",
        json={"name": "night-shift", "extensions": ["8003", "8001"], "description": "夜班"},
    )
    assert status == 201 and body["extensions"] == ["8003", "8001"]
    status, body = await api.call(
        "POST", "/api/groups", as_="90001", json={"name": "night-shift", "extensions": ["1"]}
    )
    assert status == 409
    status, body = await api.call(
        "POST", "/api/groups", as_="90001", json={"name": "x", "extensions": ["80a"]}
    )
    assert status == 400 and _error(body)[1].startswith("extensions[0]: ")
    status, body = await api.call("POST", "/api/groups", as_="90001", json={"name": "x"})
    assert status == 400 and _error(body)[1] == "extensions: required"
    status, body = await api.call("GET", "/api/groups", as_="90001")
    assert [g["name"] for g in body["items"]] == ["night-shift"]
    status, body = await api.call(
        "PATCH", "/api/groups/night-shift", as_="90001", json={"extensions": ["8002"]}
    )
    assert status == 200 and body["extensions"] == ["8002"] and body["description"] == "夜班"
    status, body = await api.call(
        "PATCH", "/api/groups/night-shift", as_="90001", json={"name": "renamed"}
    )
    assert status == 400 and _error(body)[1].startswith("name: unknown field")
    assert (await api.call("GET", "/api/groups/night-shift", as_="10001"))[0] == 200
    assert (await api.call("DELETE", "/api/groups/night-shift", as_="90001"))[0] == 204
    assert (await api.call("GET", "/api/groups/night-shift", as_="90001"))[0] == 404
    assert (await api.call("DELETE", "/api/groups/night-shift", as_="90001"))[0] == 404


# --------------------------------------------------------------------------- logging


@pytest.mark.usefixtures("_restore_logging")
async def test_no_password_or_token_in_the_logs(api: Api) -> None:
    out = io.StringIO()
    configure_logging("debug", "json", stream=out)
    token = await api.login("80001")
    await api.call("POST", "/api/login", json={"agent_id": "80001", "password": "Wr0ng-Guess"})
    await api.call(
        "PUT",
        "/api/agents/80001/password",
        as_="80001",
        json={"password": "Brand-New-Pw-1", "old_password": PASSWORD},
    )
    await api.call(
        "POST",
        "/api/agents",
        as_="10001",
        json={"agent_id": "80010", "password": "Created-Pw-22"},
    )
    await api.call(
        "PUT", "/api/agents/80010/password", as_="10001", json={"password": "Reset-Pw-333"}
    )
    text = out.getvalue()
    assert "auth.login" in text and "store.password_set" in text
    for secret in (PASSWORD, "Wr0ng-Guess", "Brand-New-Pw-1", "Created-Pw-22", "Reset-Pw-333"):
        assert secret not in text
    assert token not in text and api.tokens["10001"] not in text
