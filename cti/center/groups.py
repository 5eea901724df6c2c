"""Preset group calls (群呼) over the WebSocket: the groups live in the database (the
same rows as REST ``/api/groups``); ``group.call`` starts a ConfBridge conference with a
group's extensions (:meth:`cti.center.supervise.Supervision.start_conference`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cti.api.protocol import ClientError
from cti.center.supervise import Outcome, Supervision, required_desk
from cti.store import Store
from cti.store.errors import Conflict, InvalidData, NotFound
from cti.store.jsonable import group_json

__all__ = ["GROUP_OPS", "group_command"]

GROUP_OPS = frozenset({"group.list", "group.create", "group.update", "group.delete", "group.call"})


async def group_command(
    store: Store,
    supervision: Supervision,
    agent_id: str,
    op: str,
    params: Mapping[str, Any],
    now: float,
) -> Outcome:
    try:
        if op == "group.list":
            return [], {"items": [group_json(g) for g in await store.list_groups()]}, []
        if op == "group.create":
            group = await store.create_group(
                params["name"], params["extensions"], params.get("description") or ""
            )
            return [], group_json(group), []
        if op == "group.update":
            changes: dict[str, Any] = {}
            if "extensions" in params:
                changes["extensions"] = params["extensions"]
            if "description" in params:
                changes["description"] = params["description"]
            group = await store.update_group(params["name"], **changes)
            return [], group_json(group), []
        if op == "group.delete":
            await store.delete_group(params["name"])
            return [], {"name": params["name"], "deleted": True}, []
        if op == "group.call":
            extension = required_desk(supervision.center, agent_id)
            group = await store.get_group(params["group"])
            return supervision.start_conference(
                agent_id, extension, group.extensions, now, group=group.name
            )
    except InvalidData as error:
        raise ClientError("invalid_params", str(error)) from None
    except NotFound as error:
        raise ClientError("not_found", str(error)) from None
    except Conflict as error:
        raise ClientError("conflict", str(error)) from None
    raise ClientError("unknown_op", f"unknown op {op!r}")
