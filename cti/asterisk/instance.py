"""Start, stop and query one local Asterisk (chroot or system binary), isolated.

Every start:

1. kills a stale Asterisk holding the install's ``asterisk.ctl`` (found by PID file and
   by a process scan: ``comm == asterisk`` with the chroot as its root directory, remote
   consoles excluded);
2. resets ``/etc/asterisk`` to the stock files (``etc/asterisk.dist``) and lays the given
   configuration directory over it; the curated ``modules.conf`` is written unless the
   directory brings its own that passes :func:`~cti.asterisk.modules_conf.check_modules_conf`,
   and a ``voicemail.conf`` without mailboxes unless it brings one;
   when ``ports`` differ from what the files say, ``manager.conf``'s ``port``/``bindaddr``
   and ``pjsip.conf``'s transport ``bind`` lines are set (nothing else is rewritten);
   a bind off loopback is refused;
3. runs ``chroot ROOT /usr/sbin/asterisk -f -n`` (no ``-U``) in a private mount namespace
   where an empty file hides the chroot's ``/etc/resolv.conf`` and ``/proc`` is mounted;
   with ``netns="private"`` also in a new network namespace of its own (only ``lo``);
   ``unshare``, ``sh`` and ``chroot`` all exec, so the PID is Asterisk's;
4. polls the AMI port (TCP connect every 20 ms, 10 s at most) and reads the banner.

State (PID, ports, mode) is kept in ``<state_dir>/instance.json`` so ``stop()`` and
``status()`` work from another process (``hotline asterisk down``).
"""

from __future__ import annotations

import configparser
import contextlib
import fcntl
import json
import logging
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cti.asterisk import netns as ns
from cti.asterisk.errors import ConfigError, NotRunningError, StartError
from cti.asterisk.modules_conf import MODULES_CONF, check_modules_conf
from cti.asterisk.provision import Install, Say, in_root, make_var_dirs, require_root
from cti.asterisk.voicemail_conf import NO_MAILBOXES

log = logging.getLogger(__name__)

NETNS_MODES = ("caller", "private")
READY_TIMEOUT_S = 10.0
POLL_S = 0.02
STOP_TIMEOUT_S = 10.0


def _quiet(text: str) -> None:
    log.info("%s", text)


@dataclass(frozen=True)
class Ports:
    """The TCP/UDP ports Asterisk listens on, all on 127.0.0.1."""

    ami: int = 15038
    sip: int = 15060

    @classmethod
    def from_config(cls, config_dir: Path) -> Ports:
        """The ports that ``manager.conf`` / ``pjsip.conf`` in ``config_dir`` declare."""
        ami, sip = cls.ami, cls.sip
        manager = config_dir / "manager.conf"
        if manager.is_file():
            general = _section_values(manager.read_text(encoding="utf-8"), "general")
            if "port" in general:
                ami = int(general["port"])
        pjsip = config_dir / "pjsip.conf"
        if pjsip.is_file():
            for bind in _transport_binds(pjsip.read_text(encoding="utf-8")):
                _, _, port = bind.rpartition(":")
                if port.isdigit():
                    sip = int(port)
                    break
        return cls(ami=ami, sip=sip)


@dataclass
class Status:
    running: bool
    pid: int | None = None
    ports: Ports | None = None
    netns: str | None = None
    ami_ready: bool = False
    uptime_s: float | None = None
    kind: str | None = None
    root: str | None = None
    log_path: str | None = None
    stale_pids: list[int] = field(default_factory=list)

    def describe(self) -> str:
        if not self.running:
            extra = f"; stale Asterisk PIDs {self.stale_pids}" if self.stale_pids else ""
            return f"down{extra}"
        assert self.ports is not None
        ready = "AMI answering" if self.ami_ready else "AMI NOT answering"
        uptime = f", up {self.uptime_s:.0f} s" if self.uptime_s is not None else ""
        return (
            f"running: PID {self.pid}, AMI 127.0.0.1:{self.ports.ami}, SIP udp "
            f"127.0.0.1:{self.ports.sip}, netns {self.netns}, {ready}{uptime}"
        )


# ---------------------------------------------------------------------------- config files

_SECTION = re.compile(r"^\s*\[([^\]]+)\]")
_KEY = re.compile(r"^\s*([A-Za-z_][\w-]*)\s*=>?\s*(.*?)\s*$")


def _strip_comment(line: str) -> str:
    return line.split(";", 1)[0]


def _section_values(text: str, section: str) -> dict[str, str]:
    values: dict[str, str] = {}
    current = None
    for raw in text.splitlines():
        line = _strip_comment(raw)
        if match := _SECTION.match(line):
            current = match.group(1).strip()
            continue
        if current == section and (kv := _KEY.match(line)):
            values[kv.group(1).lower()] = kv.group(2)
    return values


def _sections(text: str) -> Iterator[tuple[str, dict[str, str]]]:
    name: str | None = None
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = _strip_comment(raw)
        if match := _SECTION.match(line):
            if name is not None:
                yield name, values
            name, values = match.group(1).strip(), {}
        elif name is not None and (kv := _KEY.match(line)):
            values[kv.group(1).lower()] = kv.group(2)
    if name is not None:
        yield name, values


def _transport_binds(text: str) -> list[str]:
    return [v["bind"] for _, v in _sections(text) if v.get("type") == "transport" and "bind" in v]


def _is_loopback(host: str) -> bool:
    host = host.strip().strip("[]")
    return host.startswith("127.") or host in {"::1", "localhost"}


def _set_in_section(text: str, section: str, key: str, value: str) -> str:
    """Set ``key = value`` in ``[section]`` (replace every occurrence, or append one)."""
    out: list[str] = []
    current = None
    done = False
    for raw in text.splitlines():
        line = _strip_comment(raw)
        if match := _SECTION.match(line):
            if current == section and not done:
                out.append(f"{key} = {value}")
                done = True
            current = match.group(1).strip()
        elif current == section and (kv := _KEY.match(line)) and kv.group(1).lower() == key:
            out.append(f"{key} = {value}")
            done = True
            continue
        out.append(raw)
    if not done:
        if current != section:
            out.append(f"[{section}]")
        out.append(f"{key} = {value}")
    return "\n".join(out) + "\n"


def _set_transport_ports(text: str, port: int) -> str:
    out: list[str] = []
    transports = {name for name, v in _sections(text) if v.get("type") == "transport"}
    current = None
    for raw in text.splitlines():
        line = _strip_comment(raw)
        if match := _SECTION.match(line):
            current = match.group(1).strip()
        elif current in transports and (kv := _KEY.match(line)) and kv.group(1).lower() == "bind":
            host = kv.group(2).rpartition(":")[0] or kv.group(2)
            out.append(f"bind={host}:{port}")
            continue
        out.append(raw)
    return "\n".join(out) + "\n"


def check_loopback(etc: Path) -> list[str]:
    """Binds off loopback in the installed configuration (empty list: fine)."""
    problems = []
    manager = etc / "manager.conf"
    if manager.is_file():
        general = _section_values(manager.read_text(encoding="utf-8"), "general")
        if general.get("enabled", "no").lower() in ("yes", "true", "1", "on"):
            bindaddr = general.get("bindaddr", "0.0.0.0")
            if not _is_loopback(bindaddr):
                problems.append(f"manager.conf: AMI bindaddr {bindaddr} is not loopback")
            if general.get("webenabled", "no").lower() in ("yes", "true", "1", "on"):
                problems.append("manager.conf: webenabled=yes (HTTP manager) is not allowed")
    pjsip = etc / "pjsip.conf"
    if pjsip.is_file():
        for bind in _transport_binds(pjsip.read_text(encoding="utf-8")):
            host = bind.rpartition(":")[0] if bind.count(":") == 1 or "]" in bind else bind
            if not _is_loopback(host):
                problems.append(f"pjsip.conf: transport bind {bind} is not loopback")
    http = etc / "http.conf"
    if http.is_file():
        general = _section_values(http.read_text(encoding="utf-8"), "general")
        if general.get("enabled", "no").lower() in ("yes", "true", "1", "on") and not (
            _is_loopback(general.get("bindaddr", "0.0.0.0"))
        ):
            problems.append("http.conf: the HTTP server is enabled off loopback")
    return problems


def install_config(install: Install, config_dir: Path | None, ports: Ports, say: Say) -> None:
    """Reset the install's etc dir to stock, lay ``config_dir`` over it, apply ``ports``."""
    etc = install.etc_dir
    dist = install.root / "etc/asterisk.dist" if install.kind == "chroot" else Path("/etc/asterisk")
    if dist.is_dir():
        if etc.exists():
            shutil.rmtree(etc)
        shutil.copytree(dist, etc, symlinks=True)
    etc.mkdir(parents=True, exist_ok=True)
    copied = []
    if config_dir is not None:
        if not config_dir.is_dir():
            raise ConfigError(f"configuration directory {config_dir} does not exist")
        for src in sorted(config_dir.glob("*.conf")):
            shutil.copyfile(src, etc / src.name)
            copied.append(src.name)
    modules = etc / "modules.conf"
    if config_dir is not None and (config_dir / "modules.conf").is_file():
        problems = check_modules_conf(modules.read_text(encoding="utf-8"))
        if problems:
            raise ConfigError(
                f"{config_dir / 'modules.conf'}: {'; '.join(problems)}",
                "drop it from the directory to get Hotline's curated list",
            )
    else:
        modules.write_text(MODULES_CONF, encoding="utf-8")
    if config_dir is None or not (config_dir / "voicemail.conf").is_file():
        # app_voicemail is curated in: never with the stock sample's mailboxes and e-mail
        (etc / "voicemail.conf").write_text(NO_MAILBOXES, encoding="utf-8")
    declared = Ports.from_config(etc)
    if declared.ami != ports.ami or not (etc / "manager.conf").is_file():
        path = etc / "manager.conf"
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
        text = _set_in_section(text, "general", "port", str(ports.ami))
        text = _set_in_section(text, "general", "bindaddr", "127.0.0.1")
        path.write_text(text, encoding="utf-8")
        say(f"manager.conf: AMI set to 127.0.0.1:{ports.ami}")
    if declared.sip != ports.sip and (etc / "pjsip.conf").is_file():
        path = etc / "pjsip.conf"
        path.write_text(
            _set_transport_ports(path.read_text(encoding="utf-8"), ports.sip), encoding="utf-8"
        )
        say(f"pjsip.conf: transport binds set to port {ports.sip}")
    problems = check_loopback(etc)
    if problems:
        raise ConfigError("; ".join(problems), "bind everything to 127.0.0.1")
    if install.kind == "system":
        _write_system_asterisk_conf(install)
    if copied:
        say(f"installed {len(copied)} config files from {config_dir} into {etc}")


def _write_system_asterisk_conf(install: Install) -> None:
    """For the host's own Asterisk: redirect every writable directory into state_dir."""
    host = configparser.ConfigParser(
        strict=False,
        interpolation=None,
        delimiters=("=>", "="),
        comment_prefixes=(";",),
        inline_comment_prefixes=(";",),
    )
    with contextlib.suppress(OSError, configparser.Error):
        host.read("/etc/asterisk/asterisk.conf")
    dirs = dict(host["directories"]) if host.has_section("directories") else {}
    base = install.state_dir
    for sub in ("run", "log", "spool", "lib"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    (base / "spool/monitor").mkdir(exist_ok=True)
    dirs.update(
        {
            "astetcdir": str(install.etc_dir),
            "astrundir": str(base / "run"),
            "astlogdir": str(base / "log"),
            "astspooldir": str(base / "spool"),
            "astdbdir": str(base / "lib"),
        }
    )
    dirs.setdefault("astmoddir", "/usr/lib/x86_64-linux-gnu/asterisk/modules")
    dirs.setdefault("astdatadir", "/usr/share/asterisk")
    dirs.setdefault("astvarlibdir", "/var/lib/asterisk")
    lines = [
        "; written by Hotline: the host's Asterisk with every writable dir in",
        "; " + str(base),
        "[directories](!)",
    ]
    lines += [f"{key} => {value}" for key, value in dirs.items()]
    lines += ["", "[options]", "verbose = 3", "nofork = yes", ""]
    (install.etc_dir / "asterisk.conf").write_text("\n".join(lines), encoding="utf-8")


# ---------------------------------------------------------------------------- processes


def _read(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return None


def process_start_ticks(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (start time), to tell a PID from a reused one."""
    stat = _read(f"/proc/{pid}/stat")
    if stat is None:
        return None
    fields = stat.rpartition(")")[2].split()
    return int(fields[19]) if len(fields) > 19 else None


def pid_alive(pid: int, start_ticks: int | None = None) -> bool:
    stat = _read(f"/proc/{pid}/stat")
    if stat is None:
        return False
    fields = stat.rpartition(")")[2].split()
    if fields and fields[0] in ("Z", "X"):
        # A zombie leader whose other threads still run (Asterisk shutting down) is alive.
        try:
            if len(os.listdir(f"/proc/{pid}/task")) <= 1:
                return False
        except OSError:
            return False
    return start_ticks is None or process_start_ticks(pid) == start_ticks


def _is_server_cmdline(args: list[str]) -> bool:
    """An Asterisk server, not a remote console (``-r``, ``-R``, ``-rx``, ``-x``)."""
    skip_next = False
    for arg in args[1:]:
        if skip_next:
            skip_next = False
            continue
        if arg == "-C":
            skip_next = True
            continue
        if arg.startswith("-") and not arg.startswith("--") and set(arg[1:]) & {"r", "R", "x"}:
            return False
    return True


def asterisk_processes(install: Install) -> list[int]:
    """PIDs of Asterisk servers running from this install (whatever started them)."""
    found: set[int] = set()
    candidates: list[int] = [int(e) for e in os.listdir("/proc") if e.isdigit()]
    for pid in candidates:
        if (_read(f"/proc/{pid}/comm") or "").strip() != "asterisk":
            continue
        args = (_read(f"/proc/{pid}/cmdline") or "").split("\0")
        if not _is_server_cmdline([a for a in args if a]) or not pid_alive(pid):
            continue
        if install.kind == "chroot":
            try:
                root = os.readlink(f"/proc/{pid}/root")
            except OSError:
                continue
            if Path(root) == install.root:
                found.add(pid)
        elif str(install.etc_dir / "asterisk.conf") in args:
            found.add(pid)
    return sorted(found)


def _terminate(pid: int, timeout: float, child: subprocess.Popen[bytes] | None) -> str:
    """SIGTERM, wait, SIGKILL after ``timeout``. Returns how it ended."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    resend = time.monotonic() + 0.5
    how = "SIGTERM"
    while True:
        if child is not None:
            if child.poll() is not None:
                return how
        elif not pid_alive(pid):
            return how
        if time.monotonic() > deadline:
            if how == "SIGKILL":
                return "SIGKILL (still not gone)"
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            how, deadline = "SIGKILL", time.monotonic() + 5.0
        elif how == "SIGTERM" and time.monotonic() > resend:
            # Asterisk ignores a SIGTERM that lands while it is still booting; repeat it.
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            resend = time.monotonic() + 0.5
        time.sleep(0.005)


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _read_banner(sock: socket.socket) -> bytes:
    banner = b""
    with contextlib.suppress(OSError):
        while not banner.endswith(b"\r\n") and len(banner) < 200:
            chunk = sock.recv(64)
            if not chunk:
                break
            banner += chunk
    return banner


def _tail(path: Path, lines: int = 15) -> str:
    text = _read(str(path)) or ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


USE_LOCK_WAIT_S = 300.0
# One flock per (process, install): held while this process runs an Asterisk from it.
_use_locks: dict[Path, tuple[int, int]] = {}


def _acquire_use_lock(install: Install, say: Say, wait_s: float = USE_LOCK_WAIT_S) -> None:
    """Serialise *processes* that run an Asterisk from the same install (two test runs at
    once): the second waits instead of killing the first one's Asterisk as stale."""
    path = install.state_dir / "instance.lock"
    if path in _use_locks:
        fd, count = _use_locks[path]
        _use_locks[path] = (fd, count + 1)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    deadline = time.monotonic() + wait_s
    told = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if not told:
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
                say(f"waiting for PID {holder}, which runs an Asterisk from {install.root}")
                told = True
            if time.monotonic() > deadline:
                os.close(fd)
                raise StartError(
                    f"another process keeps an Asterisk from {install.root} running",
                    f"wait for it or stop it; lock file {path}",
                ) from None
            time.sleep(0.1)
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    _use_locks[path] = (fd, 1)


def _release_use_lock(install: Install) -> None:
    path = install.state_dir / "instance.lock"
    if path not in _use_locks:
        return
    fd, count = _use_locks.pop(path)
    if count > 1:
        _use_locks[path] = (fd, count - 1)
        return
    os.ftruncate(fd, 0)
    os.close(fd)  # releases the flock


def _check_shares(install: Install, shares: Mapping[str, Path]) -> dict[str, Path]:
    """``shares``: absolute directory inside the chroot -> existing host directory bind
    mounted there (e.g. the recordings: Asterisk writes, Hotline reads, one file)."""
    checked: dict[str, Path] = {}
    for inside, host in shares.items():
        if install.kind != "chroot":
            raise ConfigError(
                f"cannot share {host} as {inside}: Asterisk is the host's, not a chroot",
                "give Asterisk the host path itself",
            )
        if not inside.startswith("/") or ".." in inside.split("/"):
            raise ConfigError(f"shared directory {inside!r} is not an absolute chroot path")
        if not host.is_dir():
            raise ConfigError(f"shared directory {host} does not exist", "create it first")
        checked[inside] = host.resolve()
    return checked


class AsteriskInstance:
    """One Asterisk from ``install`` (or a chroot path) with ``config_dir`` on ``ports``.

    ``netns``: ``"caller"`` runs Asterisk in the caller's network namespace (the tests
    call it from a private one; ``hotline demo --pbx asterisk`` from the host's: only
    127.0.0.1 binds, curated modules, blank resolv.conf); ``"private"`` gives Asterisk a
    new network namespace of its own; reach it with :func:`cti.asterisk.netns.in_netns_of`
    or ``hotline asterisk exec -- CMD``.

    ``detach=False`` (default) ties Asterisk's life to the calling thread
    (``PR_SET_PDEATHSIG``); ``detach=True`` lets it outlive this process (the CLI's ``up``).
    ``shares``: host directories bind mounted into the chroot (see :func:`_check_shares`),
    only in Asterisk's private mount namespace.
    """

    def __init__(
        self,
        root: Install | Path,
        config_dir: Path | None,
        ports: Ports | None = None,
        *,
        netns: str = "caller",
        state_dir: Path | None = None,
        detach: bool = False,
        shares: Mapping[str, Path] | None = None,
        say: Say = _quiet,
    ) -> None:
        if isinstance(root, Path):
            root = Install("chroot", root.resolve(), "?", root.resolve().parent)
        if netns not in NETNS_MODES:
            raise ValueError(f"netns must be one of {NETNS_MODES}, not {netns!r}")
        self.install = root
        self.config_dir = config_dir.resolve() if config_dir is not None else None
        if ports is None:
            ports = Ports.from_config(self.config_dir) if self.config_dir else Ports()
        self.ports = ports
        self.netns = netns
        self.state_dir = state_dir or (root.state_dir / "state")
        self.detach = detach
        self.shares = _check_shares(root, shares or {})
        self.say = say
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid: int | None = None
        self.timings: dict[str, float] = {}
        self._t_exec = 0.0
        self._holds_lock = False

    # -- paths
    @property
    def state_path(self) -> Path:
        return self.state_dir / "instance.json"

    @property
    def log_path(self) -> Path:
        return self.state_dir / "asterisk.log"

    # -- state file
    def _load_state(self) -> dict[str, object] | None:
        try:
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return state if isinstance(state, dict) else None

    def _save_state(self) -> None:
        assert self.pid is not None
        self.state_dir.mkdir(parents=True, exist_ok=True)
        state = {
            "pid": self.pid,
            "start_ticks": process_start_ticks(self.pid),
            "ports": asdict(self.ports),
            "netns": self.netns,
            "kind": self.install.kind,
            "root": str(self.install.root),
            "config_dir": str(self.config_dir) if self.config_dir else None,
            "started": time.time(),
            "log": str(self.log_path),
        }
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.state_path)

    def _clear_state(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.state_path.unlink()

    def _recorded_pid(self) -> tuple[int | None, dict[str, object] | None]:
        """The PID of the running instance: this object's, else the state file's."""
        if (
            self.pid is not None
            and (self.proc is None or self.proc.poll() is None)
            and (pid_alive(self.pid))
        ):
            return self.pid, self._load_state()
        state = self._load_state()
        if state is None:
            return None, None
        pid = state.get("pid")
        ticks = state.get("start_ticks")
        if isinstance(pid, int) and pid_alive(pid, ticks if isinstance(ticks, int) else None):
            return pid, state
        return None, state

    # -- lifecycle
    def stale_pids(self) -> list[int]:
        pids = set(asterisk_processes(self.install))
        text = _read(str(self.install.pid_path))
        if text and text.strip().isdigit():
            pid = int(text.strip())
            comm = (_read(f"/proc/{pid}/comm") or "").strip()
            if comm == "asterisk" and pid in asterisk_processes(self.install):
                pids.add(pid)
        return sorted(pids)

    def kill_stale(self) -> list[int]:
        """Stop every Asterisk server that holds this install's control socket."""
        killed = []
        for pid in self.stale_pids():
            self.say(f"stopping stale Asterisk PID {pid} (it holds {self.install.ctl_path})")
            how = _terminate(pid, 5.0, None)
            self.say(f"stale Asterisk PID {pid} ended by {how}")
            killed.append(pid)
        return killed

    def _launch_argv(self, empty: Path) -> list[str]:
        flags = ["--mount", "--propagation", "private"]
        steps = ["set -e"]
        if self.netns == "private":
            flags.insert(0, "--net")
            if shutil.which("ip"):
                steps.append("ip link set lo up")
            else:
                steps.append(
                    f'"{sys.executable}" -c "from cti.asterisk.netns import '
                    'loopback_up; loopback_up()"'
                )
        steps.append('mount --bind "$1" "$2"')
        if self.install.kind == "chroot":
            steps.append('mount -t proc proc "$3/proc"')
        for inside, host in self.shares.items():
            # in Asterisk's private mount namespace: the host never sees these mounts
            target = shlex.quote(str(in_root(self.install.root, inside.lstrip("/"))))
            steps += [f"mkdir -p {target}", f"mount --bind {shlex.quote(str(host))} {target}"]
        steps += ["shift 3", 'exec "$@"']
        return [
            "unshare",
            *flags,
            "--",
            "sh",
            "-c",
            "\n".join(steps),
            "hotline-asterisk",
            str(empty),
            str(self.install.resolv_conf),
            str(self.install.root),
            *self.install.argv("-f", "-n"),
        ]

    def start(self, timeout: float = READY_TIMEOUT_S) -> float:
        """Start Asterisk and wait for its AMI banner. Returns seconds to AMI ready."""
        require_root("starting Asterisk (chroot + mount namespace)")
        pid, _ = self._recorded_pid()
        if pid is not None:
            raise StartError(
                f"Asterisk already running as PID {pid} ({self.state_path})",
                "stop it first (hotline asterisk down)",
            )
        # Held while this process runs the Asterisk; a detached one (hotline asterisk up)
        # outlives us, so the lock covers only its start.
        t_lock = time.monotonic()
        _acquire_use_lock(self.install, self.say)
        self.timings["lock_wait_s"] = time.monotonic() - t_lock
        self._holds_lock = True
        try:
            ready = self._start(timeout)
        except BaseException:
            self._drop_lock()
            raise
        if self.detach:
            self._drop_lock()
        return ready

    def _drop_lock(self) -> None:
        if self._holds_lock:
            self._holds_lock = False
            _release_use_lock(self.install)

    def _start(self, timeout: float) -> float:
        if self.kill_stale():
            deadline = time.monotonic() + 2.0
            while _port_open(self.ports.ami) and time.monotonic() < deadline:
                time.sleep(POLL_S)
        if self.netns == "caller" and _port_open(self.ports.ami):
            raise StartError(
                f"127.0.0.1:{self.ports.ami} is already in use in this network namespace",
                "choose another --ami-port or stop its owner",
            )
        t0 = time.monotonic()
        install_config(self.install, self.config_dir, self.ports, self.say)
        if self.install.kind == "chroot":
            make_var_dirs(self.install.root)
        if not self.install.resolv_conf.exists():
            self.install.resolv_conf.write_text("", encoding="utf-8")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        empty = self.state_dir / "resolv.conf.empty"
        empty.write_text("", encoding="utf-8")
        self.timings["config_s"] = time.monotonic() - t0
        argv = self._launch_argv(empty)
        self.say(
            f"starting {' '.join(self.install.argv('-f', '-n'))} (netns {self.netns}, "
            f"AMI 127.0.0.1:{self.ports.ami}, SIP 127.0.0.1:{self.ports.sip}, log "
            f"{self.log_path})"
        )
        parent_thread = None if self.detach else signal.SIGTERM
        with self.log_path.open("wb") as log_file:
            t_exec = self._t_exec = time.monotonic()
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                close_fds=True,
                start_new_session=self.detach,
                # only a prctl() runs between fork and exec
                preexec_fn=(lambda: ns.set_pdeathsig(parent_thread))  # noqa: PLW1509
                if parent_thread is not None
                else None,
                env={**os.environ, "LC_ALL": "C"},
            )
        self.pid = self.proc.pid
        try:
            self._wait_ready(t_exec + timeout)
        except BaseException:
            _terminate(self.pid, 2.0, self.proc)
            self.pid = None
            raise
        ready = time.monotonic() - t_exec
        self.timings["ami_ready_s"] = ready
        self._save_state()
        self.say(f"Asterisk PID {self.pid}: AMI ready {ready:.2f} s after exec")
        return ready

    def _connect_ami(self) -> socket.socket:
        assert self.pid is not None
        # Made in Asterisk's network namespace, whichever this thread is in.
        with ns.in_netns_of(self.pid):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(1.0)
        try:
            sock.connect(("127.0.0.1", self.ports.ami))
        except OSError:
            sock.close()
            raise
        return sock

    def _wait_ready(self, deadline: float) -> None:
        """AMI banner on the port, then ``Asterisk Ready.`` in the log (fully booted).

        The port opens ~50 ms before boot ends; a SIGTERM that arrives before boot ends is
        lost by Asterisk 22 (seen here), so start() returns only once it is fully booted.
        """
        assert self.proc is not None
        banner_seen = False
        while True:
            code = self.proc.poll()
            if code is not None:
                raise StartError(
                    f"Asterisk exited with code {code} during startup",
                    f"read {self.log_path}",
                    f"log tail:\n{_tail(self.log_path)}",
                )
            if not banner_seen:
                try:
                    sock = self._connect_ami()
                except OSError:
                    sock = None
                if sock is not None:
                    with sock:
                        banner = _read_banner(sock)
                    if not banner.startswith(b"Asterisk Call Manager/"):
                        raise StartError(
                            f"127.0.0.1:{self.ports.ami} answered {banner[:60]!r}, not an "
                            "Asterisk AMI banner",
                            "is another service on this port?",
                        )
                    banner_seen = True
                    self.timings["ami_port_s"] = time.monotonic() - self._t_exec
            if banner_seen and b"Asterisk Ready." in (_read_bytes(self.log_path) or b""):
                return
            if time.monotonic() > deadline:
                what = (
                    "did not log 'Asterisk Ready.'"
                    if banner_seen
                    else f"AMI port 127.0.0.1:{self.ports.ami} did not open"
                )
                raise StartError(
                    f"Asterisk {what} within {READY_TIMEOUT_S:.0f} s",
                    f"read {self.log_path}",
                    f"log tail:\n{_tail(self.log_path)}",
                )
            time.sleep(POLL_S)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> float | None:
        """SIGTERM by PID, wait (SIGKILL after ``timeout``). Returns seconds, None if down."""
        pid, _ = self._recorded_pid()
        if pid is None:
            self._clear_state()
            self._drop_lock()
            return None
        t0 = time.monotonic()
        child = self.proc if self.proc is not None and self.proc.pid == pid else None
        how = _terminate(pid, timeout, child)
        elapsed = time.monotonic() - t0
        self.timings["stop_s"] = elapsed
        self.say(f"Asterisk PID {pid} stopped by {how} in {elapsed:.3f} s")
        self.pid = None
        self.proc = None
        self._clear_state()
        self._drop_lock()
        return elapsed

    def status(self) -> Status:
        pid, state = self._recorded_pid()
        if pid is None:
            return Status(
                running=False,
                kind=self.install.kind,
                root=str(self.install.root),
                stale_pids=self.stale_pids(),
            )
        ports = self.ports
        mode = self.netns
        started = None
        if state is not None and state.get("pid") == pid:
            raw = state.get("ports")
            if isinstance(raw, dict):
                ports = Ports(ami=int(raw["ami"]), sip=int(raw["sip"]))
            mode = str(state.get("netns", mode))
            started = state.get("started")
        probe = AsteriskInstance(self.install, None, ports, netns=mode, state_dir=self.state_dir)
        probe.pid = pid
        try:
            probe._connect_ami().close()
            ready = True
        except OSError:
            ready = False
        uptime = time.time() - started if isinstance(started, (int, float)) else None
        return Status(
            running=True,
            pid=pid,
            ports=ports,
            netns=mode,
            ami_ready=ready,
            uptime_s=uptime,
            kind=self.install.kind,
            root=str(self.install.root),
            log_path=str(self.log_path),
        )

    def load_errors(self) -> list[str]:
        """``Error loading module`` lines of the current log (empty: every module loaded)."""
        text = (_read_bytes(self.log_path) or b"").decode("utf-8", "replace")
        return [line for line in text.splitlines() if "Error loading module" in line]

    def rx(self, command: str, timeout: float = 10.0) -> str:
        """``asterisk -rx COMMAND`` over the control socket (works from any netns)."""
        if not self.install.ctl_path.exists():
            raise NotRunningError(
                f"no Asterisk control socket at {self.install.ctl_path}",
                "start it first (hotline asterisk up)",
            )
        proc = subprocess.run(
            self.install.argv("-rx", command),
            capture_output=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        out = proc.stdout.decode("utf-8", "replace")
        if proc.returncode != 0 or "Unable to connect to remote asterisk" in out:
            raise NotRunningError(
                f"asterisk -rx {command!r} failed (exit {proc.returncode}): "
                f"{(out + proc.stderr.decode('utf-8', 'replace')).strip()}",
                "is Asterisk running? (hotline asterisk status)",
            )
        noise = ("No ethernet interface found for seeding global EID",)
        return "".join(line for line in out.splitlines(keepends=True) if not line.startswith(noise))


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        try:
            sock.connect(("127.0.0.1", port))
        except OSError:
            return False
        return True
