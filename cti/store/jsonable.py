"""The JSON shapes of the store's records, one place for the REST API and the WebSocket
(screen pop's ``call.ringing`` carries :func:`customer_json` and a list of
:func:`call_json`). Times are ISO-8601 UTC strings with milliseconds (``...Z``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cti.store.models import (
    Agent,
    AgentStateChange,
    CallLeg,
    CallRecord,
    Customer,
    Group,
    ImportReport,
)

__all__ = [
    "agent_json",
    "call_json",
    "customer_json",
    "group_json",
    "import_report_json",
    "iso",
    "leg_json",
    "state_json",
]

JSON = dict[str, Any]
MAX_REPORTED_ERRORS = 1000


def iso(ts: float | None) -> str | None:
    """Unix seconds as ``2024-05-01T08:00:00.123Z``."""
    if ts is None:
        return None
    text = datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def agent_json(agent: Agent) -> JSON:
    return {
        "agent_id": agent.agent_id,
        "name": agent.name,
        "extension": agent.extension,
        "role": agent.role.value,
        "enabled": agent.enabled,
        "skills": dict(agent.skills),
        "has_password": agent.has_password,
        "created_at": iso(agent.created_at),
        "updated_at": iso(agent.updated_at),
    }


def customer_json(customer: Customer | None) -> JSON | None:
    if customer is None:
        return None
    return {
        "id": customer.id,
        "name": customer.name,
        "phones": list(customer.phones),
        "address": customer.address,
        "account_id": customer.account_id,
        "service_id": customer.service_id,
        "notes": customer.notes,
        "created_at": iso(customer.created_at),
        "updated_at": iso(customer.updated_at),
    }


def leg_json(leg: CallLeg) -> JSON:
    return {
        "agent_id": leg.agent_id,
        "extension": leg.extension,
        "queue": leg.queue,
        "started_at": iso(leg.started_at),
        "answered_at": iso(leg.answered_at),
        "ended_at": iso(leg.ended_at),
        "outcome": leg.outcome,
        "cause": leg.cause,
        "talk_s": leg.talk_s,
        "wrap_up_s": leg.wrap_up_s,
        "disposition": leg.disposition.value if leg.disposition else None,
        "notes": leg.notes,
        "resolved": leg.resolved,
    }


def call_json(call: CallRecord) -> JSON:
    return {
        "call_id": call.call_id,
        "direction": call.direction.value,
        "caller_number": call.caller_number,
        "caller_name": call.caller_name,
        "dialled_number": call.dialled_number,
        "trunk": call.trunk,
        "queue": call.queue,
        "agent_id": call.agent_id,
        "started_at": iso(call.started_at),
        "enqueued_at": iso(call.enqueued_at),
        "answered_at": iso(call.answered_at),
        "ended_at": iso(call.ended_at),
        "wait_s": call.wait_s,
        "talk_s": call.talk_s,
        "wrap_up_s": call.wrap_up_s,
        "outcome": call.outcome.value,
        "cause": call.cause,
        "disposition": call.disposition.value if call.disposition else None,
        "notes": call.notes,
        "resolved": call.resolved,
        "transfers": [
            {"from": t.from_agent, "to": t.to, "mode": t.mode, "at": iso(t.at)}
            for t in call.transfers
        ],
        "ivr_path": list(call.ivr_path),
        "satisfaction": call.satisfaction,
        "legs": [leg_json(leg) for leg in call.legs],
        "released_by": call.released_by,
        "release_reason": call.release_reason,
    }


def state_json(change: AgentStateChange) -> JSON:
    return {
        "id": change.id,
        "agent_id": change.agent_id,
        "state": change.state,
        "reason": change.reason,
        "since": iso(change.since),
        "until": iso(change.until),
    }


def group_json(group: Group) -> JSON:
    return {
        "name": group.name,
        "extensions": list(group.extensions),
        "description": group.description,
        "created_at": iso(group.created_at),
        "updated_at": iso(group.updated_at),
    }


def import_report_json(report: ImportReport) -> JSON:
    """At most the first 1000 row errors are listed; ``error_count`` has them all."""
    return {
        "rows": report.rows,
        "created": report.created,
        "updated": report.updated,
        "error_count": len(report.errors),
        "errors": [
            {"line": e.line, "reason": e.reason} for e in report.errors[:MAX_REPORTED_ERRORS]
        ],
    }
