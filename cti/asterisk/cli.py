"""``hotline asterisk``: a local, isolated Asterisk 22 for development, demos and tests.

    hotline asterisk provision              build the cached chroot only (network, root)
    hotline asterisk config --config FILE --out DIR [--sip-port P] [--secrets FILE]
    hotline asterisk up [--config FILE | --config-dir DIR] [--ami-port P] [--sip-port P]
                        [--isolated]
    hotline asterisk status                 exit 0 when running, 3 when down
    hotline asterisk down
    hotline asterisk rx "core show channels"
    hotline asterisk exec -- CMD ...        CMD in the running Asterisk's network namespace
    hotline asterisk netns -- CMD ...       CMD in a fresh private network namespace

State (PID, ports, mode) lives in ``<cache>/state/instance.json``, so ``down`` and
``status`` work from any process. Errors are one line on stderr and exit code 2.
See docs/asterisk.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from cti.asterisk import genconf
from cti.asterisk import netns as ns
from cti.asterisk.errors import AsteriskError, NotRunningError, StartError
from cti.asterisk.genconf import DEFAULT_SIP_PORT, GenerateError
from cti.asterisk.instance import AsteriskInstance, Ports
from cti.asterisk.provision import (
    Install,
    default_cache_dir,
    ensure_install,
    existing_install,
    read_stamp,
)
from cti.config import ConfigError, load_config

EXIT_DOWN = 3

MINIMAL_MANAGER = """\
; manager.conf -- minimal configuration written by `hotline asterisk up`
[general]
enabled = yes
port = {ami}
bindaddr = 127.0.0.1
webenabled = no

[{user}]
secret = {secret}
deny = 0.0.0.0/0.0.0.0
permit = 127.0.0.1/255.255.255.255
read = all
write = all
writetimeout = 5000
"""
MINIMAL_PJSIP = """\
; pjsip.conf -- minimal configuration written by `hotline asterisk up`
[transport-udp]
type=transport
protocol=udp
bind=127.0.0.1:{sip}
"""
MINIMAL_EXTENSIONS = """\
; extensions.conf -- minimal configuration written by `hotline asterisk up`
[general]
static=yes
writeprotect=yes

[default]
exten => s,1,Hangup()
"""


def write_minimal_config(directory: Path, ports: Ports, user: str, secret: str) -> Path:
    """A configuration with only AMI and a PJSIP UDP transport, both on 127.0.0.1."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "manager.conf").write_text(
        MINIMAL_MANAGER.format(ami=ports.ami, user=user, secret=secret), encoding="utf-8"
    )
    (directory / "pjsip.conf").write_text(MINIMAL_PJSIP.format(sip=ports.sip), encoding="utf-8")
    (directory / "extensions.conf").write_text(MINIMAL_EXTENSIONS, encoding="utf-8")
    return directory


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hotline asterisk",
        description="A local Asterisk 22 (system binary or cached Debian sid chroot), "
        "bound to 127.0.0.1. Needs root.",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="where the chroot and the state live (default: "
        "$HOTLINE_ASTERISK_CACHE or <repo>/.cache/asterisk)",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="where the PID/ports file and the log live (default: <cache>/state)",
    )
    parser.add_argument(
        "--chroot",
        action="store_true",
        help="use the cached chroot even if the host has Asterisk 22",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    prov = sub.add_parser("provision", help="build the cached chroot (network needed)")
    prov.add_argument("--mirror", default=None, help="Debian mirror for debootstrap/apt")
    gen = sub.add_parser("config", help="generate Asterisk's configuration from Hotline's")
    gen.add_argument("--config", required=True, help="Hotline's TOML configuration")
    gen.add_argument("--out", type=Path, required=True, help="directory for the *.conf files")
    _generation_options(gen)
    up = sub.add_parser("up", help="start Asterisk in the background")
    up.add_argument(
        "--config",
        default=None,
        help="Hotline's TOML configuration: generate Asterisk's from it, then start "
        "(into <state>/config; --ami-port defaults to the file's ami.port)",
    )
    up.add_argument("--secrets", type=Path, default=None, help=argparse.SUPPRESS)
    up.add_argument("--agi", default=None, help=argparse.SUPPRESS)
    up.add_argument(
        "--config-dir",
        type=Path,
        default=None,
        help="directory of *.conf files laid over the stock ones (default: a "
        "minimal AMI + PJSIP configuration)",
    )
    up.add_argument("--ami-port", type=int, default=None, help="AMI TCP port (127.0.0.1)")
    up.add_argument("--sip-port", type=int, default=None, help="PJSIP UDP port (127.0.0.1)")
    up.add_argument("--ami-user", default="hotline", help="AMI user of the minimal config")
    up.add_argument(
        "--isolated",
        action="store_true",
        help="give Asterisk a private network namespace of its own (reach it "
        "with `hotline asterisk exec -- CMD`)",
    )
    sub.add_parser("down", help="stop it (SIGTERM by PID, SIGKILL after 10 s)")
    sub.add_parser("status", help="running or not (exit 0 / 3)")
    rx = sub.add_parser("rx", help="run an Asterisk CLI command (asterisk -rx)")
    rx.add_argument("cli", nargs="+", help="the CLI command, e.g. core show channels")
    ex = sub.add_parser("exec", help="run a command in the running Asterisk's netns")
    ex.add_argument("argv", nargs=argparse.REMAINDER)
    nx = sub.add_parser("netns", help="run a command in a new private network namespace")
    nx.add_argument("argv", nargs=argparse.REMAINDER)
    return parser


def _generation_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sip-port", type=int, default=DEFAULT_SIP_PORT, help="PJSIP UDP port (127.0.0.1)"
    )
    parser.add_argument("--ami-port", type=int, default=None, help="default: the file's ami.port")
    parser.add_argument(
        "--secrets",
        type=Path,
        default=None,
        help="JSON file of SIP passwords, created 0600 on first use (default: "
        "<out>/sip-secrets.json); $HOTLINE_SIP_PASSWORD_<ENDPOINT> overrides it",
    )
    parser.add_argument(
        "--agi", default=None, metavar="HOST:PORT", help="hand trunk calls to this FastAGI server"
    )


def generate_from(
    config_file: str, out: Path, sip_port: int, ami_port: int | None,
    secrets_file: Path | None, agi: str | None,
) -> tuple[Ports, dict[str, str]]:  # fmt: skip
    """Generate Asterisk's configuration for ``config_file`` into ``out``: its ports and
    the SIP passwords (endpoint -> password)."""
    config = load_config(config_file)
    passwords = genconf.sip_passwords(
        genconf.endpoints(config), secrets_file or out / "sip-secrets.json"
    )
    options = genconf.Options(sip_port=sip_port, ami_port=ami_port, cti_agi=agi)
    genconf.write_config(genconf.generate(config, passwords, options), out)
    return Ports(ami=ami_port or config.ami.port, sip=sip_port), passwords


def _say(text: str) -> None:
    print(f"hotline asterisk: {text}", flush=True)


def _install_or_fail(cache_dir: Path, chroot_only: bool) -> Install:
    install = existing_install(cache_dir, prefer_system=not chroot_only)
    if install is None:
        raise NotRunningError(
            f"no Asterisk provisioned in {cache_dir}",
            "run `hotline asterisk provision` (or `up`) first",
        )
    return install


def _strip_dashdash(argv: list[str]) -> list[str]:
    return argv[1:] if argv and argv[0] == "--" else argv


def run(args: argparse.Namespace) -> int:
    cache_dir: Path = (args.cache_dir or default_cache_dir()).resolve()
    chroot_only: bool = args.chroot
    command: str = args.command
    if command == "provision":
        install = ensure_install(
            cache_dir, prefer_system=not chroot_only, mirror=args.mirror, say=_say
        )
        stamp = read_stamp(cache_dir) if install.kind == "chroot" else None
        seconds = f" (built in {stamp['seconds']})" if stamp else ""
        _say(f"ready: {install.kind} Asterisk {install.version} at {install.root}{seconds}")
        return 0
    if command == "netns":
        argv = _strip_dashdash(args.argv)
        _say(f"running {' '.join(argv)} in a private network namespace (only lo)")
        sys.stdout.flush()
        ns.netns_exec(argv)
        return 0  # not reached
    if command == "config":
        ports, passwords = generate_from(
            args.config, args.out, args.sip_port, args.ami_port, args.secrets, args.agi
        )
        _say(
            f"wrote {args.out}/*.conf: AMI 127.0.0.1:{ports.ami}, SIP 127.0.0.1:{ports.sip}, "
            f"{len(passwords)} SIP endpoints (passwords in "
            f"{args.secrets or args.out / 'sip-secrets.json'}, mode 600)"
        )
        return 0
    if command == "up":
        install = ensure_install(cache_dir, prefer_system=not chroot_only, say=_say)
        state_dir = args.state_dir or install.state_dir / "state"
        running = AsteriskInstance(install, None, state_dir=state_dir).status()
        if running.running:
            raise StartError(
                f"Asterisk already running as PID {running.pid}", "hotline asterisk down"
            )
        config_dir: Path | None = args.config_dir
        if args.config is not None:
            if config_dir is not None:
                raise StartError("give --config or --config-dir, not both", "hotline asterisk up")
            config_dir = state_dir / "config"
            generate_from(
                args.config, config_dir, args.sip_port or DEFAULT_SIP_PORT, args.ami_port,
                args.secrets, args.agi,
            )  # fmt: skip
            _say(f"generated {config_dir} from {args.config}")
        ports = Ports.from_config(config_dir) if config_dir else Ports()
        ports = Ports(ami=args.ami_port or ports.ami, sip=args.sip_port or ports.sip)
        if config_dir is None:
            secret = os.environ.get("HOTLINE_AMI_SECRET", "hotline-local")
            config_dir = write_minimal_config(
                state_dir / "minimal-config", ports, args.ami_user, secret
            )
            _say(
                f"no --config-dir: minimal configuration (AMI user {args.ami_user!r}, "
                "secret from $HOTLINE_AMI_SECRET or 'hotline-local')"
            )
        inst = AsteriskInstance(
            install,
            config_dir,
            ports,
            netns="private" if args.isolated else "caller",
            state_dir=state_dir,
            detach=True,
            say=_say,
        )
        inst.start()
        _say(inst.status().describe())
        return 0
    install = _install_or_fail(cache_dir, chroot_only)
    state_dir = args.state_dir or install.state_dir / "state"
    inst = AsteriskInstance(install, None, state_dir=state_dir, say=_say)
    if command == "down":
        if inst.stop() is None:
            stale = inst.kill_stale()
            _say(f"stopped stale PIDs {stale}" if stale else "already down")
        return 0
    if command == "status":
        status = inst.status()
        print(status.describe())
        return 0 if status.running else EXIT_DOWN
    if command == "rx":
        sys.stdout.write(inst.rx(" ".join(args.cli)))
        return 0
    if command == "exec":
        argv = _strip_dashdash(args.argv)
        if not argv:
            raise NotRunningError("exec: no command given", "hotline asterisk exec -- CMD")
        status = inst.status()
        if not status.running or status.pid is None:
            raise NotRunningError("Asterisk is not running", "hotline asterisk up")
        fd = os.open(f"/proc/{status.pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        ns.setns(fd, ns.CLONE_NEWNET)
        os.close(fd)
        sys.stdout.flush()
        os.execvp(argv[0], argv)
    raise AssertionError(command)  # pragma: no cover - argparse restricts the choices


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return run(args)
    except AsteriskError as error:
        print(f"hotline asterisk: {error.line()}", file=sys.stderr)
        return 2
    except (GenerateError, ConfigError) as error:
        print(f"hotline asterisk: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"hotline asterisk: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
