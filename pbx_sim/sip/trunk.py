"""The carrier side of the E1 trunk: SIP calls into the PBX's trunk endpoint.

The calls come from the trunk account (From ``<sip:e1trunk@host>``, digest auth on each
INVITE, so Asterisk identifies the endpoint by username) and carry the caller in a
``P-Asserted-Identity`` header (``"张三" <sip:13800138000@host>``), which Asterisk
takes as the caller ID when the endpoint has ``trust_id_inbound=yes``. The DID is the
Request-URI user.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pbx_sim.sip import sipmsg
from pbx_sim.sip.engine import SoftphoneError

if TYPE_CHECKING:
    from pbx_sim.sip.phones import Phone, PhoneCall

Result = Literal["answered", "busy", "congestion", "no_answer", "rejected", "failed"]


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """How one carrier call went.

    ``result``: ``answered`` (2xx), ``busy`` (486/600), ``congestion`` (503: e.g. the
    31st call on a full E1), ``no_answer`` (408/480/487, or our ``answer_timeout_s``
    ran out), ``rejected`` (403/404/603...), ``failed`` (anything else). ``code``: the
    final SIP status of the INVITE. ``ended_by``: who sent the BYE (``local``: the caller
    hung up after ``hold_s``; ``remote``: the PBX hung up first).
    """

    did: str
    caller: str
    result: Result
    code: int
    reason: str
    sip_call_id: str
    answer_s: float | None  # INVITE to 200 OK
    talk_s: float  # 200 OK to BYE
    ended_by: Literal["local", "remote"] | None
    q850_cause: int | None

    @property
    def answered(self) -> bool:
        return self.result == "answered"


class TrunkCaller:
    """Places carrier calls (one pjsua2 account; get one with ``Softphones.trunk``)."""

    def __init__(self, phone: Phone) -> None:
        self.phone = phone

    @property
    def username(self) -> str:
        return self.phone.extension

    def _identity(self, caller: str, caller_name: str) -> dict[str, str]:
        host = self.phone.softphones.host
        return {"P-Asserted-Identity": sipmsg.name_addr(caller_name, f"sip:{caller}@{host}")}

    async def prepare(self, calls: int) -> None:
        """Start the worker processes for ``calls`` concurrent calls now, in parallel
        (otherwise they start one at a time as calls need them, ~0.3 s each)."""
        phone, phones = self.phone, self.phone.softphones
        keys = await phones.pool.prepare_trunk(
            phone.extension, phone._password, host=phones.host, port=phones.port,
            display_name=phone.display_name, sink=phone._on_update, calls=calls,
        )
        phone._accounts.extend(keys)

    async def place(self, did: str, caller: str, *, caller_name: str = "") -> PhoneCall:
        """Send the INVITE and return the call at once (for manual control)."""
        return await self.phone.dial(did, headers=self._identity(caller, caller_name))

    async def call(
        self,
        did: str,
        caller: str,
        *,
        caller_name: str = "",
        hold_s: float = 0.0,
        answer_timeout_s: float = 60.0,
    ) -> CallOutcome:
        """Call ``did`` as ``caller``; once answered stay ``hold_s`` seconds (or until the
        PBX hangs up), then hang up. Never raises for a SIP failure: see the outcome."""
        started = time.monotonic()
        call = await self.place(did, caller, caller_name=caller_name)
        try:
            await call.wait_connected(answer_timeout_s)
        except TimeoutError:
            await self.phone.hangup(call)  # CANCEL: the caller gives up
        except SoftphoneError:
            pass  # ended before an answer: the final code says why
        if call.connected and not call.ended:
            try:
                await call.wait_ended(hold_s)
            except TimeoutError:
                await self.phone.hangup(call)
        await call.wait_ended(None)
        answered = call.connected_at is not None
        code = call.code or 0
        if answered:
            code = 200  # lastStatusCode of an answered call is the BYE's, not the INVITE's
        return CallOutcome(
            did=did,
            caller=caller,
            result="answered" if answered else sipmsg.classify(code, False),  # type: ignore[arg-type]
            code=code,
            reason="OK" if answered else call.reason,
            sip_call_id=call.sip_call_id,
            answer_s=(call.connected_at - started) if call.connected_at is not None else None,
            talk_s=((call.ended_at or time.monotonic()) - call.connected_at)
            if call.connected_at is not None
            else 0.0,
            ended_by=call.ended_by,
            q850_cause=call.q850_cause,
        )

    async def call_many(
        self,
        count: int,
        did: str,
        caller: str,
        *,
        caller_name: str = "",
        hold_s: float = 0.0,
        answer_timeout_s: float = 60.0,
        spacing_s: float = 0.0,
    ) -> list[CallOutcome]:
        """``count`` concurrent calls (INVITEs ``spacing_s`` apart), outcomes in order."""

        async def one(index: int) -> CallOutcome:
            await asyncio.sleep(index * spacing_s)
            return await self.call(
                did, caller, caller_name=caller_name, hold_s=hold_s,
                answer_timeout_s=answer_timeout_s,
            )

        return list(await asyncio.gather(*(one(i) for i in range(count))))
