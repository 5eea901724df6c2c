"""Asterisk's configuration generated from Hotline's one TOML file. Pure: no I/O here
except reading the templates; :func:`write_config` is the thin layer that writes files.

Agents, extensions, the trunk and its channel limit are defined once, in the Hotline
configuration; this module turns them into ``pjsip.conf`` (an endpoint per extension and
one for the carrier trunk), ``extensions.conf`` (the Hotline dialplan that pbx_sim runs,
``pbx_sim/dialplan/hotline.conf``, with its globals set and a hint per phone),
``manager.conf`` (one AMI user with only the classes Hotline needs, 127.0.0.1 only),
``queues.conf`` (app_queue queues, only for the comparison benchmark), plus
``voicemail.conf`` (a mailbox per IVR voicemail node, :mod:`cti.asterisk.voicemail_conf`),
``musiconhold.conf``, ``confbridge.conf`` and ``features.conf``. ``modules.conf`` is the
curated list that :class:`~cti.asterisk.instance.AsteriskInstance` writes itself.

The extensions.conf is the simulator's dialplan text, not a copy: the two cannot drift.

Secrets: the AMI secret is Hotline's own (``ami.secret_env`` / ``ami.secret_file``, read
by :func:`cti.config.load_config`). SIP passwords are never in the repository:
:func:`sip_passwords` takes ``HOTLINE_SIP_PASSWORD_<ENDPOINT>`` from the environment, else
the endpoint's entry of a JSON secrets file (mode 0600), which it creates with random
passwords on first use and completes when endpoints are added.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template
from typing import Final

from acd import Strategy
from cti.asterisk.voicemail_conf import voicemail_conf
from cti.config import Config, Role

TEMPLATES: Final = Path(__file__).resolve().parents[2] / "config" / "asterisk"
TRUNK_ENDPOINT: Final = "e1trunk"  # the dialplan's name for the carrier (hotline.conf)
DEFAULT_SIP_PORT: Final = 5060
PASSWORD_ENV_PREFIX: Final = "HOTLINE_SIP_PASSWORD_"
PASSWORD_BYTES: Final = 18
APPQUEUE_CONTEXT: Final = "appqueue"
#: app_queue names: "general" is queues.conf's settings section, so every queue is prefixed
APPQUEUE_PREFIX: Final = "hq-"
#: Seconds the dialplan lets an agent's phone ring beyond the ACD's longest ring
#: timeout: the ACD redirects the caller back first; the dialplan's limit is a backstop.
RING_BACKSTOP_S: Final = 5
VERBATIM: Final = ("musiconhold.conf", "confbridge.conf", "features.conf")
#: Generated files hold secrets (AMI secret, SIP passwords): owner only.
FILE_MODE: Final = 0o600

# app_queue strategies closest to Hotline's (the comparison is about speed, not policy)
_APP_QUEUE_STRATEGY: Final = {
    Strategy.LONGEST_IDLE: "leastrecent",
    Strategy.LEAST_OCCUPIED: "leastrecent",
    Strategy.MOST_SKILLED: "linear",
    Strategy.ROUND_ROBIN: "rrmemory",
    Strategy.FEWEST_CALLS: "fewestcalls",
}
_GLOBAL_RE = re.compile(r"^(?P<name>TRUNK_MAX|CTI_AGI|AGENT_RING_TIMEOUT)=.*$", re.MULTILINE)


class GenerateError(Exception):
    """The Hotline configuration cannot be expressed in the generated Asterisk files."""


@dataclass(frozen=True, slots=True)
class Options:
    """What the Asterisk side needs beyond the Hotline configuration."""

    sip_port: int = DEFAULT_SIP_PORT
    ami_port: int | None = None  # default: the configuration's ami.port
    #: host:port of the CTI's FastAGI server for the trunk context; "" = no IVR hand-off;
    #: None = the configuration's [agi] address when it has an [ivr], else none
    cti_agi: str | None = None


def phones(config: Config) -> dict[str, str]:
    """Every extension that gets a SIP endpoint -> its display name (config order)."""
    out: dict[str, str] = {}
    for agent in config.agents:
        if agent.extension and agent.extension not in out:
            label = "Supervisor" if agent.role is not Role.AGENT else "Agent"
            out[agent.extension] = _callerid_name(agent.name or f"{label} {agent.extension}")
    return out


def endpoints(config: Config) -> list[str]:
    """Every SIP endpoint that needs a password: the phones, then the trunk."""
    names = list(phones(config))
    if config.trunks:
        names.append(TRUNK_ENDPOINT)
    return names


def voicemail_boxes(config: Config) -> list[tuple[str, str]]:
    """(context, mailbox) of every IVR voicemail node: voicemail.conf's mailboxes."""
    return config.ivr.voicemail_boxes() if config.ivr is not None else []


def hotline_dialplan() -> str:
    """The one Hotline dialplan (pbx_sim runs it, Asterisk gets it generated)."""
    return resources.files("pbx_sim").joinpath("dialplan/hotline.conf").read_text("utf-8")


def generate(
    config: Config, passwords: Mapping[str, str], options: Options = Options()
) -> dict[str, str]:
    """The Asterisk configuration files (name -> text) for ``config``."""
    if len(config.trunks) > 1:
        names = ", ".join(t.name for t in config.trunks)
        raise GenerateError(
            f"{config.source}: trunks: the generated dialplan has one carrier trunk "
            f"({TRUNK_ENDPOINT}); found {len(config.trunks)} ({names})"
        )
    missing = [name for name in endpoints(config) if not passwords.get(name)]
    if missing:
        raise GenerateError(f"no SIP password for endpoint(s) {', '.join(missing)}")
    if not config.ami.secret:
        raise GenerateError(f"{config.source}: ami: no AMI secret (secret_env / secret_file)")
    files = {
        "pjsip.conf": _pjsip(config, passwords, options),
        "extensions.conf": _extensions(config, options),
        "manager.conf": _template("manager.conf").substitute(
            source=config.source,
            ami_port=options.ami_port or config.ami.port,
            username=config.ami.username,
            secret=config.ami.secret,
        ),
        "queues.conf": _queues(config),
        "voicemail.conf": voicemail_conf(config.source, voicemail_boxes(config)),
    }
    for name in VERBATIM:
        files[name] = (TEMPLATES / name).read_text(encoding="utf-8")
    return files


def _template(name: str) -> Template:
    return Template((TEMPLATES / name).read_text(encoding="utf-8"))


def _callerid_name(name: str) -> str:
    # a quoted callerid name: no quotes, backslashes or line breaks can break out of it
    return re.sub(r'["\\\r\n;]', "", name).strip() or "Hotline"


def _pjsip(config: Config, passwords: Mapping[str, str], options: Options) -> str:
    parts = [_template("pjsip.conf").substitute(source=config.source, sip_port=options.sip_port)]
    phone = _template("pjsip-phone.conf")
    for extension, name in phones(config).items():
        parts.append(
            phone.substitute(extension=extension, name=name, password=passwords[extension])
        )
    if config.trunks:
        trunk = config.trunks[0]
        parts.append(
            _template("pjsip-trunk.conf").substitute(
                trunk=trunk.name,
                channels=trunk.channels,
                endpoint=TRUNK_ENDPOINT,
                password=passwords[TRUNK_ENDPOINT],
            )
        )
    return "".join(parts)


def _extensions(config: Config, options: Options) -> str:
    channels = config.trunks[0].channels if config.trunks else 0
    ring = max((q.ring_timeout_s for q in config.queues), default=15) + RING_BACKSTOP_S
    values = {
        "TRUNK_MAX": str(channels),
        "CTI_AGI": _cti_agi(config) if options.cti_agi is None else options.cti_agi,
        "AGENT_RING_TIMEOUT": str(int(ring)),
    }
    text = _GLOBAL_RE.sub(lambda m: f"{m['name']}={values[m['name']]}", hotline_dialplan())
    head = (
        f"; extensions.conf -- GENERATED by `hotline asterisk config` from {config.source}:\n"
        "; the Hotline dialplan (pbx_sim/dialplan/hotline.conf) with its [globals] set from the\n"
        "; configuration, one hint per phone and the app_queue comparison context appended.\n"
        "; Do not edit: change the Hotline configuration (or hotline.conf) and generate again.\n"
        ";\n"
    )
    hints = [
        "",
        "; ---------------------------------------------------------------------------",
        "; GENERATED: one hint per phone (device and extension state for the console).",
        "[internal]",
    ]
    hints += [f"exten => {ext},hint,PJSIP/{ext}" for ext in phones(config)]
    appqueue = [
        "",
        "; GENERATED: app_queue, only for the comparison benchmark (queues.conf).",
        f"[{APPQUEUE_CONTEXT}]",
    ]
    for queue in config.queues:
        appqueue += [
            f"exten => {queue.name},1,Answer()",
            f" same => n,Queue({APPQUEUE_PREFIX}{queue.name},t)",
            " same => n,Hangup()",
        ]
    return head + text.rstrip("\n") + "\n" + "\n".join(hints + appqueue) + "\n"


def _cti_agi(config: Config) -> str:
    if config.ivr is None:
        return ""
    host = config.agi.listen
    if host in ("0.0.0.0", "::"):  # listening everywhere: Asterisk is on this machine
        host = "127.0.0.1"
    return f"[{host}]:{config.agi.port}" if ":" in host else f"{host}:{config.agi.port}"


def _queues(config: Config) -> str:
    parts = [_template("queues.conf").substitute(source=config.source)]
    queue_t = _template("queues-queue.conf")
    for queue in config.queues:
        parts.append(
            queue_t.substitute(
                queue=APPQUEUE_PREFIX + queue.name,
                strategy=_APP_QUEUE_STRATEGY.get(queue.strategy, "leastrecent"),
                ring_timeout=int(queue.ring_timeout_s),
            )
        )
        for agent in config.agents:
            if agent.extension and all(
                agent.skills.get(skill, 0) >= level for skill, level in queue.skills.items()
            ):
                name = _callerid_name(agent.name or agent.agent_id)
                device = f"PJSIP/{agent.extension}"
                parts.append(f"member => {device},0,{name},{device}\n")
    return "".join(parts)


# ------------------------------------------------------------------------- secrets


def sip_passwords(
    endpoint_names: list[str],
    secrets_file: Path,
    env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """A password for every endpoint: ``$HOTLINE_SIP_PASSWORD_<NAME>`` if set, else the
    JSON ``secrets_file`` (created 0600 with random passwords, completed for new
    endpoints). A secrets file that others may read is refused, like ``ami.secret_file``."""
    env = os.environ if env is None else env
    stored: dict[str, str] = {}
    if secrets_file.exists():
        mode = stat.S_IMODE(secrets_file.stat().st_mode)
        if mode & 0o077:
            raise GenerateError(
                f"{secrets_file}: SIP secrets file is readable by others "
                f"(mode {mode:o}); chmod 600 it"
            )
        try:
            loaded = json.loads(secrets_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise GenerateError(f"{secrets_file}: cannot read the SIP secrets: {error}") from None
        if not isinstance(loaded, dict) or not all(isinstance(v, str) for v in loaded.values()):
            raise GenerateError(f"{secrets_file}: expected a JSON object of endpoint: password")
        stored = dict(loaded)
    out: dict[str, str] = {}
    changed = False
    for name in endpoint_names:
        from_env = env.get(PASSWORD_ENV_PREFIX + name.upper())
        if from_env:
            out[name] = from_env
            continue
        if name not in stored:
            stored[name] = secrets.token_urlsafe(PASSWORD_BYTES)
            changed = True
        out[name] = stored[name]
    if changed:
        _write_private(secrets_file, json.dumps(stored, indent=2, sort_keys=True) + "\n")
    return out


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(tmp, FILE_MODE)
    os.replace(tmp, path)


def write_config(files: Mapping[str, str], out_dir: Path) -> list[Path]:
    """Write the generated files into ``out_dir`` (each 0600); return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in sorted(files.items()):
        path = out_dir / name
        _write_private(path, text)
        written.append(path)
    return written
