"""Debian's SIPp (package ``sip-tester``) as a light load: the carrier and the agents'
phones of ``hotline bench asterisk --knee``.

One SIPp process holds thousands of calls (a pjsua2 worker holds 4), so the load
generators cost far less CPU than the Asterisk and the Hotline they load. Two
scenarios, without media (Asterisk's music on hold for waiting callers is then the only
audio) or with it (``--rtp``: callers stream A-law, the agents' phones echo it, so
Asterisk relays two streams per call):

* :func:`carrier` (UAC): the carrier's INVITE from the trunk endpoint, answering the
  digest challenge (``-au``/``-ap``), the caller's number in ``P-Asserted-Identity``
  (``[caller]`` + SIPp's call number: unique per run), hangs up after ``-d`` ms;
* :func:`agents` (UAS): every agent's phone at one address (the agents' AORs get a
  static contact there), answers at once, takes re-INVITEs, waits for the BYE.

``Allow: UPDATE`` and ``-aa`` let Asterisk's connected-line UPDATEs be answered by SIPp
itself. Statistics come from SIPp's own CSV (``-trace_stat``), read by :func:`last_stats`.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path
from typing import Final

_CARRIER: Final = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="hotline carrier">
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[trunk]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:[trunk]@[local_ip]:[local_port]>
      P-Asserted-Identity: <sip:[caller][call_number]@[local_ip]>
      Allow: INVITE, ACK, BYE, CANCEL, UPDATE
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=- 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio @PORT@ RTP/AVP @PT@
      a=rtpmap:@PT@ @CODEC@/8000

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="401" auth="true"/>
  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[trunk]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <send retrans="500" start_rtd="setup">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[trunk]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 2 INVITE
      Contact: <sip:[trunk]@[local_ip]:[local_port]>
      P-Asserted-Identity: <sip:[caller][call_number]@[local_ip]>
      Allow: INVITE, ACK, BYE, CANCEL, UPDATE
      [authentication]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=- 1 2 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio @PORT@ RTP/AVP @PT@
      a=rtpmap:@PT@ @CODEC@/8000

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rrs="true" rtd="setup"/>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[trunk]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      [routes]
      Call-ID: [call_id]
      CSeq: 2 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
@MEDIA_ON@
  <pause/>
@MEDIA_OFF@
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[trunk]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      [routes]
      Call-ID: [call_id]
      CSeq: 3 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true"/>
  <ResponseTimeRepartition value="50, 100, 200, 500, 1000, 2000"/>
</scenario>
"""

_AGENTS: Final = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="hotline agents">
  <recv request="INVITE" crlf="true"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      [last_Record-Route:]
      Contact: <sip:agent@[local_ip]:[local_port];transport=[transport]>
      Allow: INVITE, ACK, BYE, CANCEL, UPDATE
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=- 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio @PORT@ RTP/AVP @PT@
      a=rtpmap:@PT@ @CODEC@/8000

    ]]>
  </send>
  <recv request="ACK" crlf="true"/>
  <label id="talking"/>
  <recv request="INVITE" optional="true" next="reinvite"/>
  <recv request="BYE"/>
  <send next="done">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <label id="reinvite"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:agent@[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=- 1 2 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio @PORT@ RTP/AVP @PT@
      a=rtpmap:@PT@ @CODEC@/8000

    ]]>
  </send>
  <recv request="ACK" next="talking"/>
  <label id="done"/>
</scenario>
"""


#: one second of A-law silence, looped by the carrier's RTP stream
SILENCE_ALAW: Final = b"\xd5" * 8000


def carrier(media: Path | None = None) -> str:
    """The carrier's scenario; with ``media`` (a raw A-law file) every caller sends a
    looped RTP stream of it (50 packets/s) from answer to hang-up."""
    if media is None:
        return (
            _CARRIER.replace("@PORT@", "[media_port]").replace("@PT@", "0")
            .replace("@CODEC@", "PCMU").replace("@MEDIA_ON@\n", "").replace("@MEDIA_OFF@\n", "")
        )  # fmt: skip
    on = f'  <nop><action><exec rtp_stream="{media},-1,8"/></action></nop>'
    off = '  <nop><action><exec rtp_stream="pause"/></action></nop>'
    return (
        _CARRIER.replace("@PORT@", "[auto_media_port]").replace("@PT@", "8")
        .replace("@CODEC@", "PCMA").replace("@MEDIA_ON@", on).replace("@MEDIA_OFF@", off)
    )  # fmt: skip


def agents(media: bool = False) -> str:
    """The agents' phones; with ``media`` they offer A-law (run SIPp with ``-rtp_echo``:
    every packet is sent back, so Asterisk relays audio both ways)."""
    pt, codec = ("8", "PCMA") if media else ("0", "PCMU")
    return _AGENTS.replace("@PORT@", "[media_port]").replace("@PT@", pt).replace("@CODEC@", codec)


class SippMissing(RuntimeError):
    pass


def sipp_binary() -> str:
    found = shutil.which("sipp")
    if found is None:
        raise SippMissing(
            "sipp not found: install Debian's sip-tester (apt-get install sip-tester)"
        )
    return found


def write_scenario(directory: Path, name: str, text: str) -> Path:
    path = directory / f"{name}.xml"
    path.write_text(text, encoding="utf-8")
    return path


def start(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    """SIPp in the background (no terminal: ``-bg`` would fork away from its PID)."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sipp_binary(), "-nostdin", *argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def last_stats(path: Path) -> dict[str, str]:
    """The last row of a SIPp ``-trace_stat`` CSV (``;``-separated, cumulative ``(C)``
    columns), by column name; empty before SIPp wrote one."""
    try:
        rows = list(csv.reader(path.read_text(encoding="latin-1").splitlines(), delimiter=";"))
    except FileNotFoundError:
        return {}
    if len(rows) < 2:
        return {}
    return dict(zip(rows[0], rows[-1], strict=False))


def counter(stats: dict[str, str], name: str) -> int:
    value = stats.get(name, "0").strip()
    return int(value) if value.isdigit() else 0
