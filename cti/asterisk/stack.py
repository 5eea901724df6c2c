"""Hotline on a real Asterisk: the pieces the demo, the benchmarks and the end-to-end
tests share.

* :func:`start_generated` generates Asterisk's configuration from a Hotline
  :class:`~cti.config.Config` (:mod:`cti.asterisk.genconf`) and starts an
  :class:`~cti.asterisk.instance.AsteriskInstance` with it (call it from the main thread).
* :class:`AmiCarrier` places carrier calls without SIP: an AMI ``Originate`` of
  ``Local/<DID>@from-trunk`` enters the trunk context exactly where a SIP INVITE from the
  trunk endpoint would (the E1 limit, the wait, the CTI's routing all apply); the
  ``;1`` half holds the call with ``Wait`` and stands for the caller's phone.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from cti.ami.codec import Message
from cti.asterisk import genconf
from cti.asterisk.instance import AsteriskInstance, Ports
from cti.asterisk.provision import Install
from cti.config import Config
from cti.link import AMILink, LinkError
from ivr.flows import DEFAULT_VOICEMAIL_CONTEXT

TRUNK_CONTEXT: Final = "from-trunk"
CALLER_HOLDS_S: Final = 86_400  # the Local ;1 side waits; the carrier decides when to leave
#: app_voicemail's spool in the chroot (its asterisk.conf's astspooldir + "voicemail").
VOICEMAIL_SPOOL: Final = "/var/spool/asterisk/voicemail"


@dataclass
class GeneratedAsterisk:
    config: Config
    instance: AsteriskInstance
    ports: Ports
    passwords: dict[str, str]  # SIP endpoint -> password (phones and the trunk)
    config_dir: Path
    #: the host directory seen as the chroot's voicemail spool (None: no voicemail node)
    voicemail_dir: Path | None = None

    def mailbox_dir(self, box: str, folder: str = "INBOX") -> Path:
        """Where the messages of IVR voicemail ``box`` (``mailbox[@context]``) are."""
        if self.voicemail_dir is None:
            raise ValueError("this configuration has no IVR voicemail node")
        mailbox, _, context = box.partition("@")
        return self.voicemail_dir / (context or DEFAULT_VOICEMAIL_CONTEXT) / mailbox / folder

    def stop(self) -> None:
        self.instance.stop()


def start_generated(
    install: Install,
    config: Config,
    work_dir: Path,
    *,
    ports: Ports,
    netns: str = "caller",
    cti_agi: str | None = None,
    start: bool = True,
    shares: Mapping[str, Path] | None = None,
) -> GeneratedAsterisk:
    """Generate into ``work_dir/config`` (SIP passwords kept in ``work_dir``, 0600) and
    start Asterisk with it (unless ``start`` is false). ``shares``: host directories
    seen inside the chroot (:class:`~cti.asterisk.instance.AsteriskInstance`). With IVR
    voicemail nodes, ``work_dir/voicemail`` is the chroot's voicemail spool: the messages
    are this stack's, as its configuration and state are."""
    config_dir = work_dir / "config"
    passwords = genconf.sip_passwords(genconf.endpoints(config), work_dir / "sip-secrets.json")
    options = genconf.Options(sip_port=ports.sip, ami_port=ports.ami, cti_agi=cti_agi)
    genconf.write_config(genconf.generate(config, passwords, options), config_dir)
    shared = dict(shares or {})
    voicemail_dir = None
    if genconf.voicemail_boxes(config) and install.kind == "chroot":
        # (a host Asterisk's spool is already in its state_dir)
        voicemail_dir = shared.setdefault(VOICEMAIL_SPOOL, work_dir / "voicemail")
        voicemail_dir.mkdir(parents=True, exist_ok=True)
    instance = AsteriskInstance(
        install, config_dir, ports, netns=netns, state_dir=work_dir / "state", shares=shared
    )
    if start:
        instance.start()
    return GeneratedAsterisk(config, instance, ports, passwords, config_dir, voicemail_dir)


@dataclass
class CarrierCall:
    did: str
    number: str
    channel: str | None = None  # the Local ;1 half (the caller's side)
    admitted: bool = False
    reason: str = ""


@dataclass
class AmiCarrier:
    """Carrier calls through AMI Originate of Local channels into the trunk context."""

    link: AMILink
    calls: list[CarrierCall] = field(default_factory=list)

    @classmethod
    async def connect(cls, host: str, port: int, username: str, secret: str) -> AmiCarrier:
        link = AMILink(host, port, username, secret)
        await link.start()
        await link.wait_up(15)
        return cls(link)

    async def call(
        self,
        did: str,
        number: str,
        name: str = "",
        *,
        context: str = TRUNK_CONTEXT,
        speaks: bool = False,
    ) -> CarrierCall:
        """Place a call on DID ``did`` from ``number``; returns once the trunk context
        took it (``admitted``) or refused it (the E1 is full: congestion). ``context``:
        another entry point (the app_queue comparison's ``appqueue``). ``speaks``: the
        caller's side sends audio (a 1 kHz tone, Milliwatt) instead of nothing: what
        recording a voicemail needs (app_voicemail gives up on a channel that sends no
        frames for 4 s)."""
        call = CarrierCall(did, number)
        self.calls.append(call)
        callerid = f'"{name}" <{number}>' if name else f"<{number}>"
        headers = {
            "Channel": f"Local/{did}@{context}",
            "Application": "Milliwatt" if speaks else "Wait",
            "Data": "" if speaks else str(CALLER_HOLDS_S),
            "CallerID": callerid,
        }
        try:
            response: Message = await self.link.originate(headers, timeout_s=30)
        except LinkError as error:
            call.reason = str(error)
            return call
        call.admitted = response.get("Response") == "Success"
        call.channel = response.get("Channel")
        call.reason = response.get("Reason") or ""
        return call

    async def press(self, call: CarrierCall, digit: str) -> None:
        """The caller presses a key: the ``;1`` half sends it to the ``;2`` half, which
        is in the dialplan (IVR menus, virtual hold, the survey)."""
        if call.channel is None:
            raise ValueError(f"the call to {call.did} from {call.number} was not admitted")
        await self.link.send_action(
            "PlayDTMF", [("Channel", call.channel), ("Digit", digit), ("Duration", "200")]
        )

    async def hang_up(self, call: CarrierCall) -> None:
        """The caller hangs up."""
        if call.channel is None:
            return
        with contextlib.suppress(LinkError):
            await self.link.send_action("Hangup", [("Channel", call.channel)], timeout_s=5)

    async def close(self) -> None:
        with contextlib.suppress(LinkError, asyncio.CancelledError):
            await self.link.close()
