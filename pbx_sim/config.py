"""The simulated PBX's configuration, read from the same files Asterisk reads.

:func:`load_config` takes a directory holding any of ``extensions.conf``, ``pjsip.conf``,
``queues.conf``, ``manager.conf``, ``features.conf``, ``musiconhold.conf`` and
``confbridge.conf`` (the lab's ``../shared/ami-transcripts/config/`` or
``pbx_sim/dialplan/``) and builds a :class:`PbxConfig`. Missing files give defaults.
:func:`hotline_config` is the configuration ``hotline sim`` runs with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .confparse import ConfError, Section, parse_conf, read_conf
from .dialplan import Dialplan, load_dialplan
from .features import DynamicFeature, parse_feature

__all__ = [
    "HOTLINE_DIR",
    "LAB_DIR",
    "EndpointConfig",
    "ManagerUser",
    "PbxConfig",
    "QueueConfig",
    "QueueMemberConfig",
    "hotline_config",
    "load_config",
]

#: Where the Hotline dialplan for the simulator lives.
HOTLINE_DIR = Path(__file__).resolve().parent / "dialplan"
#: The features.conf that `hotline asterisk config` gives Asterisk (cti/asterisk/genconf.py
#: copies it verbatim): the simulator reads the same one.
HOTLINE_FEATURES = Path(__file__).resolve().parents[1] / "config" / "asterisk" / "features.conf"
#: The capture lab's Asterisk config (the replay tests load it).
LAB_DIR = Path(__file__).resolve().parents[2] / "shared" / "ami-transcripts" / "config"


@dataclass
class EndpointConfig:
    """A PJSIP endpoint: name, dialplan context for its calls, caller id."""

    name: str
    context: str = "default"
    cid_name: str = ""
    cid_num: str = ""
    #: Inbound caller id comes from P-Asserted-Identity (the trunk).
    trust_id_inbound: bool = False
    password: str = ""


@dataclass
class QueueMemberConfig:
    interface: str
    penalty: int = 0
    name: str = ""
    state_interface: str = ""


@dataclass
class QueueConfig:
    name: str
    strategy: str = "ringall"
    timeout: float = 15.0
    retry: float = 5.0
    musicclass: str = "default"
    ringinuse: bool = True
    wrapuptime: float = 0.0
    joinempty: str = "yes"
    leavewhenempty: str = "no"
    maxlen: int = 0
    setinterfacevar: bool = False
    setqueueentryvar: bool = False
    setqueuevar: bool = False
    members: list[QueueMemberConfig] = field(default_factory=list)
    weight: int = 0
    servicelevel: int = 0


@dataclass
class ManagerUser:
    username: str
    secret: str
    read: str = "all"
    write: str = "all"


@dataclass
class PbxConfig:
    dialplan: Dialplan = field(default_factory=Dialplan)
    endpoints: dict[str, EndpointConfig] = field(default_factory=dict)
    queues: dict[str, QueueConfig] = field(default_factory=dict)
    managers: dict[str, ManagerUser] = field(default_factory=dict)
    moh_classes: list[str] = field(default_factory=lambda: ["default"])
    #: features.conf [featuremap]: ``atxfer``, ``blindxfer``... -> DTMF code.
    features: dict[str, str] = field(default_factory=dict)
    #: features.conf [general] (``atxfercomplete``, ``pickupexten``...).
    features_general: dict[str, str] = field(default_factory=dict)
    #: features.conf [applicationmap]: dynamic features by name (pbx_sim/features.py).
    applicationmap: dict[str, DynamicFeature] = field(default_factory=dict)
    confbridge_talk_events: bool = True
    #: Where MixMonitor writes relative file names (Asterisk's /var/spool/asterisk/monitor).
    monitor_dir: str = "/var/spool/asterisk/monitor"
    #: The AMI's TCP port, shown in the security events' ``LocalAddress``.
    ami_port: int = 5038
    #: SIP UDP port of the simulated PJSIP transport (for the security events).
    sip_port: int = 5060

    def add_endpoint(
        self,
        name: str,
        *,
        context: str = "internal",
        cid_name: str = "",
        cid_num: str = "",
        trust_id_inbound: bool = False,
    ) -> EndpointConfig:
        ep = EndpointConfig(name, context, cid_name, cid_num, trust_id_inbound)
        self.endpoints[name] = ep
        return ep


_CID = re.compile(r'\s*"?([^"<]*?)"?\s*<([^>]*)>\s*$')


def parse_callerid(text: str) -> tuple[str, str]:
    """``"Agent 8001" <8001>`` -> ``("Agent 8001", "8001")``; ``8001`` -> ``("", "8001")``."""
    m = _CID.match(text)
    if m is None:
        text = text.strip().strip('"')
        return ("", text) if text.replace("+", "").isdigit() else (text, "")
    return m.group(1).strip(), m.group(2).strip()


def _yes(v: str | None, default: bool = False) -> bool:
    if v is None:
        return default
    return v.strip().lower() in ("yes", "true", "1", "on", "y")


def _endpoints(sections: list[Section], cfg: PbxConfig) -> None:
    for sect in sections:
        if sect.template or sect.get("type") != "endpoint":
            continue
        name, num = parse_callerid(sect.get("callerid", "") or "")
        ep = EndpointConfig(
            sect.name,
            context=sect.get("context", "default") or "default",
            cid_name=name,
            cid_num=num,
            trust_id_inbound=_yes(sect.get("trust_id_inbound")),
        )
        cfg.endpoints[sect.name] = ep
    for sect in sections:
        if sect.template or sect.get("type") != "auth":
            continue
        ep2 = cfg.endpoints.get(sect.name)
        if ep2 is not None:
            ep2.password = sect.get("password", "") or ""


def _queues(sections: list[Section], cfg: PbxConfig) -> None:
    for sect in sections:
        if sect.name == "general" or sect.template:
            continue
        q = QueueConfig(sect.name)
        for key, value in sect.options:
            if key == "member":
                parts = [p.strip() for p in value.split(",")]
                iface = parts[0]
                q.members.append(
                    QueueMemberConfig(
                        iface,
                        penalty=int(parts[1]) if len(parts) > 1 and parts[1] else 0,
                        name=parts[2] if len(parts) > 2 and parts[2] else iface,
                        state_interface=parts[3] if len(parts) > 3 and parts[3] else iface,
                    )
                )
            elif key == "strategy":
                q.strategy = value
            elif key == "timeout":
                q.timeout = float(value)
            elif key == "retry":
                q.retry = float(value)
            elif key == "musicclass":
                q.musicclass = value
            elif key == "ringinuse":
                q.ringinuse = _yes(value)
            elif key == "wrapuptime":
                q.wrapuptime = float(value)
            elif key == "joinempty":
                q.joinempty = value
            elif key == "leavewhenempty":
                q.leavewhenempty = value
            elif key == "maxlen":
                q.maxlen = int(value)
            elif key == "setinterfacevar":
                q.setinterfacevar = _yes(value)
            elif key == "setqueueentryvar":
                q.setqueueentryvar = _yes(value)
            elif key == "setqueuevar":
                q.setqueuevar = _yes(value)
            elif key == "weight":
                q.weight = int(value)
            elif key == "servicelevel":
                q.servicelevel = int(value)
        cfg.queues[q.name] = q


def _managers(sections: list[Section], cfg: PbxConfig) -> None:
    for sect in sections:
        if sect.name == "general":
            port = sect.get("port")
            if port and port.isdigit():
                cfg.ami_port = int(port)
            continue
        secret = sect.get("secret")
        if secret is None:
            continue
        cfg.managers[sect.name] = ManagerUser(
            sect.name, secret, sect.get("read", "all") or "all", sect.get("write", "all") or "all"
        )


def load_config(directory: str | Path, *, files: dict[str, str] | None = None) -> PbxConfig:
    """Build a :class:`PbxConfig` from the ``*.conf`` files of ``directory``.

    ``files`` maps a file name to text that replaces (or adds) that file.
    """
    base = Path(directory)
    texts: dict[str, list[Section]] = {}
    for fname in (
        "extensions.conf",
        "pjsip.conf",
        "queues.conf",
        "manager.conf",
        "features.conf",
        "musiconhold.conf",
        "confbridge.conf",
    ):
        if files and fname in files:
            texts[fname] = parse_conf(files[fname], name=fname, base=base)
        elif (base / fname).exists():
            texts[fname] = read_conf(base / fname)
    cfg = PbxConfig()
    if "extensions.conf" in texts:
        load_dialplan(texts["extensions.conf"], cfg.dialplan)
    if "pjsip.conf" in texts:
        _endpoints(texts["pjsip.conf"], cfg)
        for sect in texts["pjsip.conf"]:
            if sect.get("type") == "transport":
                bind = sect.get("bind", "") or ""
                if ":" in bind and bind.rsplit(":", 1)[1].isdigit():
                    cfg.sip_port = int(bind.rsplit(":", 1)[1])
    if "queues.conf" in texts:
        _queues(texts["queues.conf"], cfg)
    if "manager.conf" in texts:
        _managers(texts["manager.conf"], cfg)
    if "features.conf" in texts:
        for sect in texts["features.conf"]:
            if sect.name == "applicationmap":
                for key, value in sect.options:
                    cfg.applicationmap[key] = parse_feature(key, value)
                continue
            target = cfg.features if sect.name == "featuremap" else cfg.features_general
            if sect.name in ("featuremap", "general"):
                for key, value in sect.options:
                    target[key] = value
    if "musiconhold.conf" in texts:
        classes = [s.name for s in texts["musiconhold.conf"] if s.name != "general"]
        if classes:
            cfg.moh_classes = classes
    if "confbridge.conf" in texts:
        for sect in texts["confbridge.conf"]:
            if sect.get("type") == "user":
                cfg.confbridge_talk_events = _yes(sect.get("talk_detection_events"))
    return cfg


def hotline_config(
    *,
    agents: int = 4,
    first_agent: int = 8001,
    supervisors: int = 1,
    first_supervisor: int = 9001,
    trunk_channels: int = 30,
    agi: str | None = None,
    ami_user: str = "hotline",
    ami_secret: str = "",
    free_extensions: tuple[int, ...] = (8000,),
) -> PbxConfig:
    """The configuration of ``hotline sim``: ``pbx_sim/dialplan/hotline.conf`` plus
    endpoints for ``agents`` agent phones (8001...), supervisors (9001...), the trunk
    ``e1trunk`` and the extensions in ``free_extensions`` (8000: a person's softphone).

    Hints are added for every phone so ExtensionStatus works for all of them.
    """
    files = {"extensions.conf": (HOTLINE_DIR / "hotline.conf").read_text()}
    if HOTLINE_FEATURES.is_file():
        files["features.conf"] = HOTLINE_FEATURES.read_text()
    cfg = load_config(HOTLINE_DIR, files=files)
    plan = cfg.dialplan
    plan.globals["TRUNK_MAX"] = str(trunk_channels)
    plan.globals["CTI_AGI"] = agi or ""
    cfg.endpoints.clear()
    cfg.add_endpoint("e1trunk", context="from-trunk", trust_id_inbound=True)
    phones: list[tuple[str, str]] = []
    for free in free_extensions:
        phones.append((str(free), f"Agent {free}"))
    for i in range(agents):
        agent = str(first_agent + i)
        phones.append((agent, f"Agent {agent}"))
    for i in range(supervisors):
        sup = str(first_supervisor + i)
        phones.append((sup, "Supervisor" if supervisors == 1 else f"Supervisor {sup}"))
    internal = plan.context("internal")
    if internal is None:
        raise ConfError("hotline.conf has no [internal] context")
    for ext, name in phones:
        cfg.add_endpoint(ext, context="internal", cid_name=name, cid_num=ext)
        e = internal.extension(ext, create=True)
        assert e is not None
        e.hint = f"PJSIP/{ext}"
        plan.hints[("internal", ext)] = e.hint
    if ami_user:
        cfg.managers = {ami_user: ManagerUser(ami_user, ami_secret)}
    return cfg
