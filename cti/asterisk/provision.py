"""Provisioning a local Asterisk 22: the host's own, or a cached Debian sid chroot.

Debian 12 has no ``asterisk`` package; Debian sid has Asterisk 22 LTS. The first call of
:func:`ensure_chroot` builds ``<cache>/root`` with ``debootstrap --variant=minbase sid``
and installs the Asterisk packages into it (about a minute, network needed); every later
call finds the stamp file and returns at once. See docs/asterisk.md.

Everything that can fail raises a subclass of :class:`~cti.asterisk.errors.AsteriskError`
whose text says what to do.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from cti.asterisk.errors import (
    AptError,
    DebootstrapError,
    NotRootError,
    ProvisionError,
)

log = logging.getLogger(__name__)

Say = Callable[[str], None]

SUITE = "sid"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("asterisk", "asterisk-modules", "asterisk-config", "asterisk-core-sounds-en-gsm")
SUPPORTED_MAJOR = 22
# Bump when the layout of the chroot changes: older caches are rebuilt.
STAMP_FORMAT = 1
SYSTEM_ASTERISK = Path("/usr/sbin/asterisk")
VAR_DIRS = (
    "var/lib/asterisk",
    "var/run/asterisk",
    "var/log/asterisk",
    "var/spool/asterisk",
    "var/spool/asterisk/monitor",
)
APT_OPTIONS = ("-o", "Acquire::Check-Valid-Until=false", "-o", "Acquire::Retries=3")


def _quiet(text: str) -> None:
    log.info("%s", text)


@dataclass(frozen=True)
class Install:
    """Where an Asterisk binary lives and how to run it.

    ``kind == "chroot"``: ``root`` is the chroot, Asterisk runs as
    ``chroot ROOT /usr/sbin/asterisk`` and reads ``ROOT/etc/asterisk``.
    ``kind == "system"``: the host's ``/usr/sbin/asterisk``; ``root`` is ``/`` and every
    directory Asterisk writes to is redirected into ``state_dir`` by a generated
    ``asterisk.conf`` passed with ``-C`` (the host's /etc/asterisk is never touched).
    """

    kind: str
    root: Path
    version: str
    state_dir: Path

    @property
    def etc_dir(self) -> Path:
        if self.kind == "chroot":
            return self.root / "etc/asterisk"
        return self.state_dir / "etc"

    @property
    def run_dir(self) -> Path:
        if self.kind == "chroot":
            return in_root(self.root, "var/run/asterisk")
        return self.state_dir / "run"

    @property
    def ctl_path(self) -> Path:
        return self.run_dir / "asterisk.ctl"

    @property
    def pid_path(self) -> Path:
        return self.run_dir / "asterisk.pid"

    @property
    def resolv_conf(self) -> Path:
        return in_root(self.root, "etc/resolv.conf")

    def argv(self, *args: str) -> list[str]:
        """The command line that runs ``asterisk ARGS`` for this install."""
        if self.kind == "chroot":
            return ["chroot", str(self.root), "/usr/sbin/asterisk", *args]
        return [str(SYSTEM_ASTERISK), "-C", str(self.etc_dir / "asterisk.conf"), *args]


def in_root(root: Path, path: str) -> Path:
    """The host path of ``path`` as seen inside the chroot ``root``: symlinks are followed
    *within* the chroot (Debian's ``var/run`` is a symlink to the absolute ``/run``, which
    taken naively would point at the host's /run)."""
    parts = [p for p in path.split("/") if p and p != "."]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = root.joinpath(*resolved, part)
        if candidate.is_symlink():
            hops += 1
            if hops > 40:
                raise ProvisionError(f"too many symlinks resolving {path} in {root}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p and p != "."] + parts
            continue
        resolved.append(part)
    return root.joinpath(*resolved)


def make_var_dirs(root: Path) -> None:
    """The directories Asterisk writes to, created inside the chroot."""
    for rel in VAR_DIRS:
        in_root(root, rel).mkdir(parents=True, exist_ok=True)


def repo_root() -> Path | None:
    """The source checkout this package runs from, if it is one (an editable install)."""
    here = Path(__file__).resolve().parents[2]
    return here if (here / "setup.cfg").is_file() and (here / "cti").is_dir() else None


def default_cache_dir() -> Path:
    """``$HOTLINE_ASTERISK_CACHE``, else ``<repo>/.cache/asterisk`` (git-ignored), else
    ``~/.cache/hotline/asterisk`` for an installed (non-editable) Hotline."""
    env = os.environ.get("HOTLINE_ASTERISK_CACHE")
    if env:
        return Path(env).resolve()
    repo = repo_root()
    if repo is not None:
        return repo / ".cache" / "asterisk"
    return Path.home() / ".cache" / "hotline" / "asterisk"


def require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise NotRootError(
            f"{what} needs root (chroot, namespaces, bind mounts); running as uid {os.geteuid()}",
            "run it as root, e.g. with sudo, or in a root CI container",
        )


def parse_version(text: str) -> tuple[str, int]:
    """``'Asterisk 22.5.2~dfsg+~cs6.15.60671435-1'`` -> (version, major)."""
    match = re.search(r"Asterisk\s+(\S+)", text)
    if not match:
        raise ProvisionError(f"cannot read an Asterisk version from {text.strip()!r}")
    version = match.group(1)
    major = re.match(r"(\d+)", version)
    return version, int(major.group(1)) if major else 0


# ---------------------------------------------------------------------------- helpers


def _run(
    argv: Sequence[str],
    error: type[ProvisionError],
    what: str,
    remedy: str,
    *,
    env: dict[str, str] | None = None,
    say: Say = _quiet,
    log_file: Path | None = None,
) -> str:
    """Run a command; on failure raise ``error`` naming the last lines of its output."""
    say(f"$ {shlex.join(argv)}")
    try:
        proc = subprocess.run(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            check=False,
        )
    except FileNotFoundError as exc:
        raise error(f"{what}: {exc.filename} not found", remedy) from exc
    output = proc.stdout.decode("utf-8", "replace")
    if log_file is not None:
        with log_file.open("a", encoding="utf-8") as handle:
            handle.write(f"$ {' '.join(argv)}\n{output}\n[exit {proc.returncode}]\n")
    if proc.returncode != 0:
        tail = " | ".join(line for line in output.strip().splitlines()[-4:] if line.strip())
        raise error(f"{what} failed (exit {proc.returncode}): {tail}", remedy)
    return output


def _chroot_env() -> dict[str, str]:
    return {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "DEBIAN_FRONTEND": "noninteractive",
        "LC_ALL": "C",
        "HOME": "/root",
    }


def chroot_argv(root: Path, argv: Sequence[str], *, mount_proc: bool = True) -> list[str]:
    """``chroot ROOT ARGV`` in a private mount namespace (with /proc mounted inside the
    chroot if asked): the mount disappears with the namespace, so nothing is left mounted
    on the host even when the command is killed."""
    script = (
        'mount -t proc proc "$0/proc" && exec chroot "$0" "$@"'
        if mount_proc
        else ('exec chroot "$0" "$@"')
    )
    return [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        script,
        str(root),
        *argv,
    ]


def mounts_below(path: Path) -> list[str]:
    """Mount points at or below ``path`` in this mount namespace."""
    prefix = str(path.resolve())
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        for line in handle:
            point = line.split()[4].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return found


def _remove_tree(path: Path) -> None:
    if not path.exists():
        return
    mounted = mounts_below(path)
    if mounted:
        raise ProvisionError(
            f"refusing to delete {path}: something is mounted inside it ({', '.join(mounted)})",
            f"unmount it (umount -R {mounted[0]}) and retry",
        )
    shutil.rmtree(path)


@contextlib.contextmanager
def provision_lock(cache_dir: Path, say: Say = _quiet) -> Iterator[None]:
    """An exclusive flock on ``<cache>/provision.lock`` (released if the holder dies)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    lock_path = cache_dir / "provision.lock"
    with lock_path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            say(f"waiting for another provisioning of {cache_dir} (PID {holder}) to finish ...")
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            handle.flush()
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_stamp(cache_dir: Path) -> dict[str, object] | None:
    """The stamp of a finished provisioning, or None (absent, unreadable, old format)."""
    try:
        stamp = json.loads((cache_dir / "stamp.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(stamp, dict) or stamp.get("format") != STAMP_FORMAT:
        return None
    if not (cache_dir / "root" / "usr/sbin/asterisk").is_file():
        return None
    return stamp


def _write_stamp(cache_dir: Path, stamp: dict[str, object]) -> None:
    tmp = cache_dir / "stamp.json.tmp"
    tmp.write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, cache_dir / "stamp.json")


def _host_debootstrap(say: Say, log_file: Path) -> str:
    found = shutil.which("debootstrap") or (
        "/usr/sbin/debootstrap" if os.path.exists("/usr/sbin/debootstrap") else None
    )
    if found:
        return found
    if shutil.which("apt-get") is None:
        raise DebootstrapError(
            "debootstrap is not installed and this host has no apt-get to install it",
            "install debootstrap with the system's package manager",
        )
    say("debootstrap is missing on the host: installing it with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    remedy = "check the network / Debian mirror, then `apt-get install debootstrap`"
    _run(
        ["apt-get", "update"],
        DebootstrapError,
        "apt-get update (host)",
        remedy,
        env=env,
        say=say,
        log_file=log_file,
    )
    _run(
        ["apt-get", "install", "-y", "--no-install-recommends", "debootstrap"],
        DebootstrapError,
        "apt-get install debootstrap (host)",
        remedy,
        env=env,
        say=say,
        log_file=log_file,
    )
    found = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not os.path.exists(found):
        raise DebootstrapError("debootstrap still missing after apt-get install", remedy)
    return found


def chroot_version(root: Path) -> str:
    out = _run(
        chroot_argv(root, ["/usr/sbin/asterisk", "-V"], mount_proc=False),
        ProvisionError,
        "asterisk -V in the chroot",
        "delete the cache directory and provision again",
    )
    return parse_version(out)[0]


# ---------------------------------------------------------------------------- public API


def ensure_chroot(
    cache_dir: Path | None = None,
    *,
    mirror: str | None = None,
    say: Say = _quiet,
) -> Path:
    """Return ``<cache>/root``, a Debian sid chroot with Asterisk 22, building it if needed.

    Idempotent: a finished chroot has ``<cache>/stamp.json`` (Asterisk version, packages,
    timings) and is returned at once. Concurrent callers serialise on
    ``<cache>/provision.lock``; the second finds the first one's stamp. A half-built
    chroot (``root.partial``) from an interrupted run is removed and rebuilt.
    """
    cache_dir = (cache_dir or default_cache_dir()).resolve()
    root = cache_dir / "root"
    if read_stamp(cache_dir) is not None:
        return root
    require_root("provisioning Asterisk (debootstrap + chroot)")
    with provision_lock(cache_dir, say):
        if read_stamp(cache_dir) is not None:  # another process finished it meanwhile
            return root
        _build(cache_dir, mirror or os.environ.get("HOTLINE_DEBIAN_MIRROR") or DEFAULT_MIRROR, say)
    return root


def _build(cache_dir: Path, mirror: str, say: Say) -> None:
    log_file = cache_dir / "provision.log"
    log_file.write_text("", encoding="utf-8")
    partial = cache_dir / "root.partial"
    root = cache_dir / "root"
    started = time.monotonic()
    say(f"provisioning Asterisk into {root} (log: {log_file})")
    debootstrap = _host_debootstrap(say, log_file)
    _remove_tree(partial)

    t0 = time.monotonic()
    say(f"debootstrap --variant=minbase {SUITE} (about 20-60 s) ...")
    _run(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "--",
            debootstrap,
            "--variant=minbase",
            SUITE,
            str(partial),
            mirror,
        ],
        DebootstrapError,
        f"debootstrap {SUITE} from {mirror}",
        "is the network / Debian mirror reachable? (see provision.log in the cache directory;"
        " set HOTLINE_DEBIAN_MIRROR for another mirror)",
        env={**os.environ, "LC_ALL": "C"},
        say=say,
        log_file=log_file,
    )
    debootstrap_s = time.monotonic() - t0

    # No service may start during the package install: Asterisk started by its postinst
    # would run with the stock configuration in the host's network namespace.
    policy = partial / "usr/sbin/policy-rc.d"
    policy.write_text(
        "#!/bin/sh\n# hotline: never start services in this chroot\nexit 101\n", encoding="utf-8"
    )
    policy.chmod(0o755)
    (partial / "etc/apt/apt.conf.d/99hotline").write_text(
        'Acquire::Check-Valid-Until "false";\nAPT::Install-Recommends "false";\n'
        'APT::Install-Suggests "false";\n',
        encoding="utf-8",
    )
    shutil.copyfile("/etc/resolv.conf", partial / "etc/resolv.conf")

    t0 = time.monotonic()
    say(f"apt-get install {' '.join(PACKAGES)} in the chroot (about 10-30 s) ...")
    apt_remedy = (
        "is the network / Debian mirror reachable? (see provision.log in the cache directory)"
    )
    _run(
        chroot_argv(partial, ["apt-get", *APT_OPTIONS, "update"]),
        AptError,
        "apt-get update in the chroot",
        apt_remedy,
        env=_chroot_env(),
        say=say,
        log_file=log_file,
    )
    _run(
        chroot_argv(
            partial,
            ["apt-get", *APT_OPTIONS, "install", "-y", "--no-install-recommends", *PACKAGES],
        ),
        AptError,
        "apt-get install in the chroot",
        apt_remedy,
        env=_chroot_env(),
        say=say,
        log_file=log_file,
    )
    _run(
        chroot_argv(partial, ["apt-get", "clean"]),
        AptError,
        "apt-get clean",
        apt_remedy,
        env=_chroot_env(),
        say=say,
        log_file=log_file,
    )
    apt_s = time.monotonic() - t0

    make_var_dirs(partial)
    # Keep the stock configuration: every start resets etc/asterisk from it, then lays
    # the caller's files over it, so no file of an earlier configuration lingers.
    dist = partial / "etc/asterisk.dist"
    if not dist.exists():
        shutil.copytree(partial / "etc/asterisk", dist, symlinks=True)
    # Nothing in the chroot needs DNS any more (every start also bind-mounts an empty
    # file over it, in Asterisk's private mount namespace).
    (partial / "etc/resolv.conf").write_text("", encoding="utf-8")

    version = chroot_version(partial)
    major = parse_version(f"Asterisk {version}")[1]
    if major != SUPPORTED_MAJOR:
        say(f"warning: Debian {SUITE} now ships Asterisk {version}, not {SUPPORTED_MAJOR}")
    packages = _run(
        chroot_argv(
            partial,
            ["dpkg-query", "-W", "-f", "${Package}=${Version}\\n", *PACKAGES],
            mount_proc=False,
        ),
        AptError,
        "dpkg-query in the chroot",
        apt_remedy,
        env=_chroot_env(),
    ).split()

    _remove_tree(root)
    os.rename(partial, root)
    total = time.monotonic() - started
    _write_stamp(
        cache_dir,
        {
            "format": STAMP_FORMAT,
            "suite": SUITE,
            "mirror": mirror,
            "asterisk_version": version,
            "packages": packages,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "seconds": {
                "debootstrap": round(debootstrap_s, 1),
                "apt": round(apt_s, 1),
                "total": round(total, 1),
            },
        },
    )
    say(
        f"provisioned Asterisk {version} in {total:.1f} s "
        f"(debootstrap {debootstrap_s:.1f} s, apt {apt_s:.1f} s)"
    )


def system_asterisk_version() -> str | None:
    """The version of the host's ``/usr/sbin/asterisk`` if it is Asterisk 22, else None."""
    if not SYSTEM_ASTERISK.is_file() or not os.access(SYSTEM_ASTERISK, os.X_OK):
        return None
    try:
        proc = subprocess.run(
            [str(SYSTEM_ASTERISK), "-V"], capture_output=True, timeout=10, check=False
        )
        version, major = parse_version(proc.stdout.decode("utf-8", "replace"))
    except (OSError, subprocess.SubprocessError, ProvisionError):
        return None
    return version if major == SUPPORTED_MAJOR else None


def ensure_install(
    cache_dir: Path | None = None,
    *,
    prefer_system: bool = True,
    mirror: str | None = None,
    say: Say = _quiet,
) -> Install:
    """The Asterisk to use: the host's Asterisk 22 if present (and ``prefer_system``),
    otherwise the cached chroot (built on first use)."""
    cache_dir = (cache_dir or default_cache_dir()).resolve()
    if prefer_system and os.environ.get("HOTLINE_ASTERISK_CHROOT") != "1":
        version = system_asterisk_version()
        if version is not None:
            return Install("system", Path("/"), version, cache_dir / "system")
    root = ensure_chroot(cache_dir, mirror=mirror, say=say)
    stamp = read_stamp(cache_dir) or {}
    return Install("chroot", root, str(stamp.get("asterisk_version", "?")), cache_dir)


def existing_install(
    cache_dir: Path | None = None, *, prefer_system: bool = True
) -> Install | None:
    """The Asterisk :func:`ensure_install` would return, without building anything."""
    cache_dir = (cache_dir or default_cache_dir()).resolve()
    if prefer_system and os.environ.get("HOTLINE_ASTERISK_CHROOT") != "1":
        version = system_asterisk_version()
        if version is not None:
            return Install("system", Path("/"), version, cache_dir / "system")
    stamp = read_stamp(cache_dir)
    if stamp is None:
        return None
    return Install("chroot", cache_dir / "root", str(stamp.get("asterisk_version", "?")), cache_dir)
