"""The REST API for administration (DESIGN.md §3.2), as an aiohttp sub-application.

Mount it at ``/api`` on the server's application::

    app.add_subapp("/api", rest_app(store, auth))

Every request but ``POST /api/login`` carries ``Authorization: Bearer TOKEN``. Every
answer is JSON; every error is ``{"error": {"code": snake_case, "message": text}}``:

=====  ==========================  ==================================================
400    ``invalid_json``            the body is not a JSON object
400    ``invalid_params``          a field or query parameter is wrong (named first);
                                   unknown fields and parameters are refused too
401    ``unauthenticated``         no, an invalid or an expired token; a wrong login
403    ``forbidden``               the role is too low (checked before any look-up of
                                   the target, so a forbidden request for something
                                   that does not exist is 403, not 404)
404    ``not_found``               no such record (or endpoint)
405    ``method_not_allowed``      the endpoint exists but not with this method
409    ``conflict``                a duplicate id, the last enabled admin
413    ``too_large``               the body is over the limit (64 KiB JSON, 10 MiB CSV)
415    ``unsupported_media_type``  CSV import with a body that is not CSV
429    ``rate_limited``            too many failed logins; ``Retry-After`` says when
500    ``internal_error``          a bug; logged with its traceback
=====  ==========================  ==================================================

:data:`ROUTES` lists every endpoint with the lowest role allowed; docs/storage.md has the
same table with what each returns.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, NoReturn

import structlog
from aiohttp import web

from cti.auth import Authenticator, AuthError, InvalidCredentials, RateLimited, Session
from cti.config import Role
from cti.store import (
    MAX_PAGE,
    UNSET,
    Conflict,
    InvalidData,
    NotFound,
    Store,
    Unset,
)
from cti.store.jsonable import (
    agent_json,
    call_json,
    customer_json,
    group_json,
    import_report_json,
    iso,
    state_json,
)

__all__ = [
    "MAX_CSV_BYTES",
    "MAX_JSON_BYTES",
    "MIN_PASSWORD",
    "ROUTES",
    "ApiError",
    "Handler",
    "RestLimits",
    "Route",
    "rest_app",
]

log = structlog.get_logger("cti.rest")

MAX_JSON_BYTES: Final = 64 * 1024
MAX_CSV_BYTES: Final = 10 * 1024 * 1024
MIN_PASSWORD: Final = 8
MAX_PASSWORD: Final = 1024
CSV_TYPES: Final = frozenset(
    {"text/csv", "text/plain", "application/csv", "application/octet-stream"}
)
_NUMBER_RE: Final = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_STATUS_CODES: Final = {
    400: "invalid_params",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}

JSON = dict[str, Any]


class ApiError(Exception):
    """An error answer: HTTP ``status``, ``code`` and ``message``."""

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def _invalid(field: str, message: str) -> NoReturn:
    raise ApiError(400, "invalid_params", f"{field}: {message}")


def _forbidden(message: str) -> NoReturn:
    raise ApiError(403, "forbidden", message)


def _error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": message}}, status=status, headers=headers
    )


def _ok(data: object, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response(
        data,
        status=status,
        headers=headers,
        dumps=lambda value: json.dumps(value, ensure_ascii=False),
    )


def _no_content() -> web.Response:
    return web.Response(status=204)


# --------------------------------------------------------------------------- input checks


def _reject_unknown(data: Mapping[str, Any], allowed: Iterable[str], what: str) -> None:
    names = tuple(allowed)
    for key in data:
        if key not in names:
            _invalid(key, f"unknown {what}; expected {', '.join(names) or 'none'}")


def _str(data: Mapping[str, Any], name: str) -> str | Unset:
    if name not in data:
        return UNSET
    value = data[name]
    if not isinstance(value, str):
        _invalid(name, "expected a string")
    return value


def _required_str(data: Mapping[str, Any], name: str) -> str:
    value = _str(data, name)
    if isinstance(value, Unset):
        _invalid(name, "required")
    return value


def _nullable_str(data: Mapping[str, Any], name: str) -> str | Unset | None:
    if data.get(name, UNSET) is None:
        return None
    return _str(data, name)


def _bool(data: Mapping[str, Any], name: str) -> bool | Unset:
    if name not in data:
        return UNSET
    if not isinstance(data[name], bool):
        _invalid(name, "expected true or false")
    return bool(data[name])


def _str_list(data: Mapping[str, Any], name: str) -> list[str] | Unset:
    if name not in data:
        return UNSET
    value = data[name]
    if not isinstance(value, list):
        _invalid(name, "expected a list of strings")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            _invalid(f"{name}[{i}]", "expected a string")
    return list(value)


def _skills(data: Mapping[str, Any], name: str) -> dict[str, int] | Unset:
    if name not in data:
        return UNSET
    value = data[name]
    if not isinstance(value, dict):
        _invalid(name, 'expected an object of skill levels, e.g. {"fault": 5}')
    for skill, level in value.items():
        if isinstance(level, bool) or not isinstance(level, int):
            _invalid(f"{name}.{skill}", "expected an integer level")
    return dict(value)


def _new_password(data: Mapping[str, Any], name: str = "password") -> str:
    password = _required_str(data, name)
    if len(password) < MIN_PASSWORD:
        _invalid(name, f"at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        _invalid(name, f"at most {MAX_PASSWORD} characters")
    return password


def _query(request: web.Request, allowed: Iterable[str]) -> dict[str, str]:
    names = tuple(allowed)
    out: dict[str, str] = {}
    for key, value in request.query.items():
        if key not in names:
            _invalid(key, f"unknown query parameter; expected {', '.join(names) or 'none'}")
        if key in out:
            _invalid(key, "given more than once")
        out[key] = value
    return out


def _int_param(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = query.get(name)
    if text is None:
        return default
    if not re.fullmatch(r"[0-9]{1,9}", text):
        _invalid(name, f"expected an integer {low}..{high}")
    value = int(text)
    if not low <= value <= high:
        _invalid(name, f"expected an integer {low}..{high}")
    return value


def _time_param(query: Mapping[str, str], name: str) -> float | None:
    """Unix seconds, or ISO-8601 with a UTC offset (``2024-05-01T00:00:00+08:00``,
    ``...Z``). A time without an offset is refused: whose midnight would it be?"""
    text = query.get(name)
    if text is None:
        return None
    if _NUMBER_RE.fullmatch(text):
        return float(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        _invalid(name, "expected ISO-8601 with an offset (2024-05-01T00:00:00+08:00) or seconds")
    if moment.tzinfo is None:
        _invalid(name, "give a UTC offset, e.g. 2024-05-01T00:00:00+08:00 or ...Z")
    return moment.timestamp()


def _customer_id(request: web.Request) -> int:
    text = request.match_info["customer_id"]
    if not re.fullmatch(r"[0-9]{1,18}", text):
        raise ApiError(404, "not_found", f"no customer {text!r}")
    return int(text)


# --------------------------------------------------------------------------- routes


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str  # below the mount point (/api)
    role: Role | None  # lowest role allowed; None: no token needed
    handler: str  # name of the _Api method
    note: str = ""


ROUTES: Final[tuple[Route, ...]] = (
    Route("POST", "/login", None, "login", "{agent_id, password} -> {token, role, ...}"),
    Route("POST", "/logout", Role.AGENT, "logout", "revokes the token used"),
    Route("GET", "/agents", Role.SUPERVISOR, "list_agents"),
    Route("POST", "/agents", Role.ADMIN, "create_agent"),
    Route("GET", "/agents/{agent_id}", Role.AGENT, "get_agent", "agents: their own only"),
    Route("PATCH", "/agents/{agent_id}", Role.ADMIN, "update_agent"),
    Route("DELETE", "/agents/{agent_id}", Role.ADMIN, "delete_agent"),
    Route(
        "PUT",
        "/agents/{agent_id}/password",
        Role.AGENT,
        "set_password",
        "admins: anyone's; others: their own, with old_password",
    ),
    Route("GET", "/skills", Role.SUPERVISOR, "list_skills"),
    Route("GET", "/customers", Role.AGENT, "list_customers", "agents need screen pop"),
    Route("POST", "/customers", Role.AGENT, "create_customer", "agents add callers at screen pop"),
    Route("POST", "/customers/import", Role.SUPERVISOR, "import_customers", "text/csv body"),
    Route("GET", "/customers/{customer_id}", Role.AGENT, "get_customer"),
    Route("PATCH", "/customers/{customer_id}", Role.SUPERVISOR, "update_customer"),
    Route("DELETE", "/customers/{customer_id}", Role.SUPERVISOR, "delete_customer"),
    Route("GET", "/calls", Role.AGENT, "list_calls", "agents: their own calls only"),
    Route("GET", "/calls/{call_id}", Role.AGENT, "get_call", "agents: their own calls only"),
    Route("GET", "/agent-states", Role.SUPERVISOR, "list_agent_states"),
    Route("GET", "/groups", Role.SUPERVISOR, "list_groups"),
    Route("POST", "/groups", Role.SUPERVISOR, "create_group"),
    Route("GET", "/groups/{name}", Role.SUPERVISOR, "get_group"),
    Route("PATCH", "/groups/{name}", Role.SUPERVISOR, "update_group"),
    Route("DELETE", "/groups/{name}", Role.SUPERVISOR, "delete_group"),
)

Handler = Callable[[web.Request, Session], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class RestLimits:
    max_json_bytes: int = MAX_JSON_BYTES
    max_csv_bytes: int = MAX_CSV_BYTES


def rest_app(
    store: Store,
    auth: Authenticator,
    *,
    clock: Callable[[], float] = time.time,
    limits: RestLimits | None = None,
    extra: Iterable[tuple[Route, Handler]] = (),
) -> web.Application:
    """The REST API as an application to mount at ``/api`` (``app.add_subapp``).

    ``clock`` gives the time for token expiry and the login rate limit (tests inject
    theirs). Bodies are read by the API itself up to ``limits`` (so the root
    application's ``client_max_size`` does not matter for them).
    """
    api = _Api(store, auth, clock, limits or RestLimits())
    app = web.Application(middlewares=[_errors])
    for route in ROUTES:
        app.router.add_route(route.method, route.path, api.endpoint(route))
    for route, handler in extra:  # other parts' endpoints (cti/api/recordings_rest.py)
        assert route.role is not None, route
        app.router.add_route(route.method, route.path, api.guard(route.role, handler))
    app.router.add_route("*", "/{tail:.*}", _no_route)
    return app


@web.middleware
async def _errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every failure becomes the JSON error shape."""
    try:
        return await handler(request)
    except ApiError as error:
        return _error_response(error.status, error.code, error.message, error.headers)
    except InvalidData as error:
        return _error_response(400, "invalid_params", str(error))
    except NotFound as error:
        return _error_response(404, "not_found", str(error))
    except Conflict as error:
        return _error_response(409, "conflict", str(error))
    except web.HTTPException as error:
        if error.status < 400:
            raise
        code = _STATUS_CODES.get(error.status, "internal_error")
        return _error_response(
            error.status,
            code,
            error.reason,
            {k: v for k, v in error.headers.items() if k.lower() == "allow"},
        )
    except Exception:
        log.exception("rest.internal_error", method=request.method, path=request.path)
        return _error_response(500, "internal_error", "internal error; see the server log")


async def _no_route(request: web.Request) -> web.StreamResponse:
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if resource is request.match_info.route.resource:
            continue
        match, methods = await resource.resolve(request)
        if match is None:
            allowed |= methods
    if allowed:
        raise ApiError(
            405,
            "method_not_allowed",
            f"{request.method} is not allowed here; allowed: {', '.join(sorted(allowed))}",
            {"Allow": ", ".join(sorted(allowed))},
        )
    raise ApiError(404, "not_found", f"no endpoint {request.method} {request.path}")


class _Api:
    """The handlers. Each gets the request and the caller's session (the role was
    checked against the route's before the handler runs)."""

    def __init__(
        self, store: Store, auth: Authenticator, clock: Callable[[], float], limits: RestLimits
    ) -> None:
        self.store = store
        self.auth = auth
        self.clock = clock
        self.limits = limits

    def endpoint(self, route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        if route.role is None:
            public: Callable[[web.Request], Awaitable[web.StreamResponse]]
            public = getattr(self, route.handler)
            return public
        return self.guard(route.role, getattr(self, route.handler))

    def guard(
        self, role: Role, handler: Handler
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """``handler`` behind the token and role check."""

        async def guarded(request: web.Request) -> web.StreamResponse:
            session = self._session(request)
            if not session.role.at_least(role):
                _forbidden(f"this needs the {role.value} role (you are {session.role.value})")
            return await handler(request, session)

        return guarded

    # ------------------------------------------------------------------ plumbing

    def _session(self, request: web.Request) -> Session:
        challenge = {"WWW-Authenticate": "Bearer"}
        header = request.headers.get("Authorization")
        if not header:
            raise ApiError(401, "unauthenticated", "missing Authorization: Bearer TOKEN", challenge)
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(
                401, "unauthenticated", "expected Authorization: Bearer TOKEN", challenge
            )
        try:
            return self.auth.verify(token.strip(), self.clock())
        except AuthError as error:
            raise ApiError(401, "unauthenticated", error.message, challenge) from None

    @staticmethod
    async def _body(request: web.Request, limit: int) -> bytes:
        too_large = ApiError(413, "too_large", f"the request body is over {limit} bytes")
        if request.content_length is not None and request.content_length > limit:
            raise too_large
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
        return b"".join(chunks)

    async def _json(self, request: web.Request, allowed: Iterable[str]) -> JSON:
        raw = await self._body(request, self.limits.max_json_bytes)

        def constant(name: str) -> NoReturn:
            raise ValueError(f"{name} is not JSON")

        try:
            data = json.loads(raw.decode("utf-8"), parse_constant=constant)
        except (UnicodeDecodeError, ValueError) as error:
            raise ApiError(400, "invalid_json", f"the body is not JSON: {error}") from None
        if not isinstance(data, dict):
            raise ApiError(400, "invalid_json", "the body must be a JSON object")
        _reject_unknown(data, allowed, "field")
        return data

    @staticmethod
    def _address(request: web.Request) -> str:
        return request.remote or "unknown"

    # ------------------------------------------------------------------ session

    async def login(self, request: web.Request) -> web.StreamResponse:
        data = await self._json(request, ("agent_id", "password"))
        agent_id = _required_str(data, "agent_id")
        password = _required_str(data, "password")
        try:
            session = await self.auth.login(
                agent_id, password, self._address(request), self.clock()
            )
        except RateLimited as error:
            seconds = max(1, math.ceil(error.retry_after_s))
            raise ApiError(429, error.code, error.message, {"Retry-After": str(seconds)}) from None
        except InvalidCredentials as error:
            raise ApiError(401, "unauthenticated", error.message) from None
        return _ok(
            {
                "token": session.token,
                "role": session.role.value,
                "agent_id": session.agent_id,
                "expires_at": iso(session.expires_at),
            }
        )

    async def logout(self, request: web.Request, session: Session) -> web.StreamResponse:
        self.auth.logout(session.token)
        return _no_content()

    # ------------------------------------------------------------------ agents

    async def list_agents(self, request: web.Request, session: Session) -> web.StreamResponse:
        _query(request, ())
        return _ok({"items": [agent_json(a) for a in await self.store.list_agents()]})

    async def create_agent(self, request: web.Request, session: Session) -> web.StreamResponse:
        data = await self._json(
            request, ("agent_id", "name", "extension", "role", "enabled", "skills", "password")
        )
        agent_id = _required_str(data, "agent_id")
        name = _str(data, "name")
        extension = _nullable_str(data, "extension")
        role = _str(data, "role")
        enabled = _bool(data, "enabled")
        skills = _skills(data, "skills")
        password = _new_password(data) if "password" in data else None
        agent = await self.store.create_agent(
            agent_id,
            name="" if isinstance(name, Unset) else name,
            extension=None if isinstance(extension, Unset) else extension,
            role=Role.AGENT if isinstance(role, Unset) else role,
            enabled=True if isinstance(enabled, Unset) else enabled,
            skills=None if isinstance(skills, Unset) else skills,
            password=password,
        )
        return _ok(agent_json(agent), 201, {"Location": f"/api/agents/{agent.agent_id}"})

    async def get_agent(self, request: web.Request, session: Session) -> web.StreamResponse:
        agent_id = request.match_info["agent_id"]
        if agent_id != session.agent_id and not session.role.at_least(Role.SUPERVISOR):
            _forbidden("agents may read only their own account")
        return _ok(agent_json(await self.store.get_agent(agent_id)))

    async def update_agent(self, request: web.Request, session: Session) -> web.StreamResponse:
        agent_id = request.match_info["agent_id"]
        data = await self._json(request, ("name", "extension", "role", "enabled", "skills"))
        name = _str(data, "name")
        extension = _nullable_str(data, "extension")
        role = _str(data, "role")
        enabled = _bool(data, "enabled")
        skills = _skills(data, "skills")
        before = await self.store.get_agent(agent_id)
        after = await self.store.update_agent(
            agent_id, name=name, extension=extension, role=role, enabled=enabled, skills=skills
        )
        if after.role is not before.role or (before.enabled and not after.enabled):
            self.auth.revoke_agent(agent_id)
        return _ok(agent_json(after))

    async def delete_agent(self, request: web.Request, session: Session) -> web.StreamResponse:
        agent_id = request.match_info["agent_id"]
        await self.store.delete_agent(agent_id)
        self.auth.revoke_agent(agent_id)
        return _no_content()

    async def set_password(self, request: web.Request, session: Session) -> web.StreamResponse:
        agent_id = request.match_info["agent_id"]
        own = agent_id == session.agent_id
        if not own and not session.role.at_least(Role.ADMIN):
            _forbidden("only an admin may set another agent's password")
        data = await self._json(request, ("password", "old_password") if own else ("password",))
        password = _new_password(data)
        if own:
            old = _str(data, "old_password")
            if isinstance(old, Unset):
                _invalid("old_password", "required to change your own password")
            try:
                await self.auth.confirm_password(
                    agent_id, old, self._address(request), self.clock()
                )
            except RateLimited as error:
                seconds = max(1, math.ceil(error.retry_after_s))
                raise ApiError(
                    429, error.code, error.message, {"Retry-After": str(seconds)}
                ) from None
            except InvalidCredentials:
                _forbidden("old_password: wrong password")
        await self.store.set_password(agent_id, password)
        self.auth.revoke_agent(agent_id, keep_token=session.token if own else None)
        return _no_content()

    async def list_skills(self, request: web.Request, session: Session) -> web.StreamResponse:
        _query(request, ())
        skills = await self.store.list_skills()
        return _ok({"items": [{"name": k, "description": v} for k, v in skills.items()]})

    # ------------------------------------------------------------------ customers

    async def list_customers(self, request: web.Request, session: Session) -> web.StreamResponse:
        query = _query(request, ("phone", "name", "limit", "offset"))
        limit = _int_param(query, "limit", 50, 1, MAX_PAGE)
        offset = _int_param(query, "offset", 0, 0, 10**9)
        items, total = await self.store.search_customers(
            phone=query.get("phone"), name=query.get("name"), limit=limit, offset=offset
        )
        return _ok(
            {
                "items": [customer_json(c) for c in items],
                "total": total,
                "limit": limit,
                "offset": offset,
            }
        )

    async def get_customer(self, request: web.Request, session: Session) -> web.StreamResponse:
        return _ok(customer_json(await self.store.get_customer(_customer_id(request))))

    _CUSTOMER_FIELDS: Final = ("name", "phones", "address", "account_id", "service_id", "notes")

    def _customer_changes(self, data: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "name": _str(data, "name"),
            "phones": _str_list(data, "phones"),
            "address": _str(data, "address"),
            "account_id": _nullable_str(data, "account_id"),
            "service_id": _nullable_str(data, "service_id"),
            "notes": _str(data, "notes"),
        }

    async def create_customer(self, request: web.Request, session: Session) -> web.StreamResponse:
        data = await self._json(request, self._CUSTOMER_FIELDS)
        _required_str(data, "name")
        fields = {k: v for k, v in self._customer_changes(data).items() if v is not UNSET}
        customer = await self.store.create_customer(**fields)
        return _ok(customer_json(customer), 201, {"Location": f"/api/customers/{customer.id}"})

    async def update_customer(self, request: web.Request, session: Session) -> web.StreamResponse:
        customer_id = _customer_id(request)
        data = await self._json(request, self._CUSTOMER_FIELDS)
        customer = await self.store.update_customer(customer_id, **self._customer_changes(data))
        return _ok(customer_json(customer))

    async def delete_customer(self, request: web.Request, session: Session) -> web.StreamResponse:
        await self.store.delete_customer(_customer_id(request))
        return _no_content()

    async def import_customers(self, request: web.Request, session: Session) -> web.StreamResponse:
        _query(request, ())
        if request.content_type not in CSV_TYPES:
            raise ApiError(
                415,
                "unsupported_media_type",
                f"send the CSV file as text/csv, not {request.content_type}",
            )
        raw = await self._body(request, self.limits.max_csv_bytes)
        charset = request.charset or "utf-8"
        try:
            text = raw.decode(charset)
        except LookupError:
            _invalid("charset", f"unknown character set {charset!r}")
        except UnicodeDecodeError as error:
            line = raw[: error.start].count(b"\n") + 1
            _invalid(
                "body",
                f"not valid {charset} (line {line}); save the file as 'CSV UTF-8', or send "
                "Content-Type: text/csv; charset=gb18030 for a GBK file",
            )
        report = await self.store.import_customers_csv(text)
        log.info(
            "rest.customers_imported",
            by=session.agent_id,
            created=report.created,
            updated=report.updated,
            errors=len(report.errors),
        )
        return _ok(import_report_json(report))

    # ------------------------------------------------------------------ calls

    async def list_calls(self, request: web.Request, session: Session) -> web.StreamResponse:
        query = _query(
            request, ("from", "to", "agent", "caller", "queue", "outcome", "limit", "offset")
        )
        agent = query.get("agent")
        if not session.role.at_least(Role.SUPERVISOR):
            if agent is not None and agent != session.agent_id:
                _forbidden("agents see only their own calls")
            agent = session.agent_id
        limit = _int_param(query, "limit", 100, 1, MAX_PAGE)
        offset = _int_param(query, "offset", 0, 0, 10**9)
        calls = await self.store.query_calls(
            start=_time_param(query, "from"),
            end=_time_param(query, "to"),
            agent_id=agent,
            caller=query.get("caller"),
            queue=query.get("queue"),
            outcome=query.get("outcome"),
            limit=limit,
            offset=offset,
        )
        return _ok({"items": [call_json(c) for c in calls], "limit": limit, "offset": offset})

    async def get_call(self, request: web.Request, session: Session) -> web.StreamResponse:
        call_id = request.match_info["call_id"]
        call = await self.store.get_call(call_id)
        if not session.role.at_least(Role.SUPERVISOR):
            mine = call.agent_id == session.agent_id or any(
                leg.agent_id == session.agent_id for leg in call.legs
            )
            if not mine:  # not 403: whether someone else's call exists is not an agent's business
                raise NotFound("call", call_id)
        return _ok(call_json(call))

    async def list_agent_states(self, request: web.Request, session: Session) -> web.StreamResponse:
        query = _query(request, ("agent", "from", "to", "limit", "offset"))
        limit = _int_param(query, "limit", 1000, 1, MAX_PAGE)
        offset = _int_param(query, "offset", 0, 0, 10**9)
        changes = await self.store.agent_state_history(
            agent_id=query.get("agent"),
            start=_time_param(query, "from"),
            end=_time_param(query, "to"),
            limit=limit,
            offset=offset,
        )
        return _ok({"items": [state_json(c) for c in changes], "limit": limit, "offset": offset})

    # ------------------------------------------------------------------ groups (群呼)

    async def list_groups(self, request: web.Request, session: Session) -> web.StreamResponse:
        _query(request, ())
        return _ok({"items": [group_json(g) for g in await self.store.list_groups()]})

    async def get_group(self, request: web.Request, session: Session) -> web.StreamResponse:
        return _ok(group_json(await self.store.get_group(request.match_info["name"])))

    async def create_group(self, request: web.Request, session: Session) -> web.StreamResponse:
        data = await self._json(request, ("name", "extensions", "description"))
        name = _required_str(data, "name")
        extensions = _str_list(data, "extensions")
        if isinstance(extensions, Unset):
            _invalid("extensions", "required")
        description = _str(data, "description")
        group = await self.store.create_group(
            name, extensions, "" if isinstance(description, Unset) else description
        )
        return _ok(group_json(group), 201, {"Location": f"/api/groups/{group.name}"})

    async def update_group(self, request: web.Request, session: Session) -> web.StreamResponse:
        data = await self._json(request, ("extensions", "description"))
        group = await self.store.update_group(
            request.match_info["name"],
            extensions=_str_list(data, "extensions"),
            description=_str(data, "description"),
        )
        return _ok(group_json(group))

    async def delete_group(self, request: web.Request, session: Session) -> web.StreamResponse:
        await self.store.delete_group(request.match_info["name"])
        return _no_content()
