"""Pure helpers for the few pieces of SIP text the softphones read and write.

pjsua2 hands over raw messages (``SipRxData.wholeMsg``) and raw header values; these
functions pick out what a call-center test cares about: who is calling (display name
and number, from ``P-Asserted-Identity`` or ``From``), the Call-ID, and the Q.850 cause
of a ``Reason`` header. No I/O, no pjsua2.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# RFC 3261 compact header forms that matter here.
_COMPACT = {"f": "from", "t": "to", "i": "call-id", "m": "contact"}
_Q850 = re.compile(r"(?i)\bq\.850\s*;(?:[^,]*;)?\s*cause\s*=\s*(\d+)")
_NAME_ADDR = re.compile(r'^\s*(?:"((?:[^"\\]|\\.)*)"|([^<"]*?))\s*<([^>]*)>')


@dataclass(frozen=True, slots=True)
class Party:
    """One side of a call as SIP names it: ``"张三" <sip:13800138000@host>``."""

    name: str
    number: str
    uri: str


def headers(message: str) -> dict[str, list[str]]:
    """Header values of a raw SIP message by lower-case (long) name, folded lines joined."""
    head = message.split("\r\n\r\n", 1)[0].replace("\r\n", "\n")
    found: dict[str, list[str]] = {}
    last: str | None = None
    for line in head.split("\n")[1:]:
        if line[:1] in (" ", "\t") and last is not None:
            found[last][-1] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if not sep:
            continue
        key = name.strip().lower()
        key = _COMPACT.get(key, key)
        found.setdefault(key, []).append(value.strip())
        last = key
    return found


def header(message: str, name: str) -> str | None:
    """The first value of header ``name`` in a raw SIP message, or None."""
    values = headers(message).get(name.lower())
    return values[0] if values else None


def _unescape(quoted: str) -> str:
    return re.sub(r"\\(.)", r"\1", quoted)


def user_of(uri: str) -> str:
    """The user part of a SIP/tel URI: ``sip:8001@127.0.0.1:15060;x=y`` → ``8001``."""
    uri = uri.strip().strip("<>")
    scheme, sep, rest = uri.partition(":")
    if not sep:
        return ""
    if scheme.lower() == "tel":
        return rest.split(";", 1)[0]
    if "@" not in rest:
        return ""
    return rest.split("@", 1)[0].split(";", 1)[0]


def parse_party(value: str) -> Party:
    """Parse a From / To / P-Asserted-Identity value (name-addr or addr-spec)."""
    match = _NAME_ADDR.match(value)
    if match:
        quoted, bare, uri = match.groups()
        name = _unescape(quoted) if quoted is not None else (bare or "").strip()
    else:
        name, uri = "", value.split(";", 1)[0].strip()
    return Party(name=name, number=user_of(uri), uri=uri)


def name_addr(name: str, uri: str) -> str:
    """``"name" <uri>`` with the name quoted and escaped (any UTF-8 survives)."""
    if not name:
        return f"<{uri}>"
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}" <{uri}>'


def q850_cause(message: str) -> int | None:
    """The Q.850 cause of the ``Reason`` header(s) of a raw SIP message, if any."""
    for value in headers(message).get("reason", []):
        match = _Q850.search(value)
        if match:
            return int(match.group(1))
    return None


def caller_of(message: str) -> Party:
    """Who is calling according to an INVITE: P-Asserted-Identity if present, else From."""
    found = headers(message)
    for key in ("p-asserted-identity", "from"):
        if found.get(key):
            return parse_party(found[key][0])
    return Party("", "", "")


def classify(code: int, answered: bool) -> str:
    """The outcome of a call attempt from its final SIP status code.

    ``answered`` (a 2xx came), ``busy`` (486, 600), ``congestion`` (503: no channel,
    e.g. the 31st call on a full E1), ``no_answer`` (408, 480, 487: nobody picked up or
    we gave up), ``rejected`` (403, 404, 603 ...), ``failed`` (anything else).
    """
    if answered:
        return "answered"
    if code in (486, 600):
        return "busy"
    if code == 503:
        return "congestion"
    if code in (408, 480, 487):
        return "no_answer"
    if code in (401, 403, 404, 407, 484, 603, 604):
        return "rejected"
    return "failed"
