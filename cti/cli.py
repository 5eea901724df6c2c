"""The ``hotline`` command: one entry point, one module per subcommand.

Each subcommand's module has ``main(argv) -> int`` with its own argparse; this file
only dispatches, and turns a configuration error into one clear message and exit 2.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

from cti.config import ConfigError

# name -> (module with main(argv), one-line description)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("cti.demo", "run the demo call center on the embedded simulator"),
    "serve": ("cti.serve", "run the server against the PBX of a configuration file"),
    "check-config": ("cti.check_config", "validate a configuration file and summarise it"),
    "sim": ("pbx_sim.cli", "run the PBX simulator as a standalone AMI server"),
    "asterisk": ("cti.asterisk.cli", "a local Asterisk 22: provision, up, down, status, rx"),
    "trunk-sim": ("pbx_sim.trunk_sim", "generate trunk traffic and compare with Erlang B/C"),
    "recordings": ("recorder.cli", "call recordings: purge by the retention policy"),
    "agents-sim": ("pbx_sim.sip.agents_cli", "SIP agent phones that answer, hold, hang up"),
}
BENCHMARKS: dict[str, tuple[str, str]] = {
    "asterisk": ("cti.bench.asterisk", "Asterisk: queue to ring vs app_queue; --saturate; --knee"),
    "acd": ("cti.bench.routing", "routing decisions against a linear-scan router"),
    "ami": ("cti.ami.bench", "AMI ingest against panoramisk's parser"),
    "ingest": ("cti.bench.ingest", "AMI events decoded and applied to the call model"),
    "ringing": ("cti.bench.ringing", "AMI ring event to screen pop, 1,000 agents, 500 clients"),
    "store": ("cti.bench.store", "screen-pop look-ups and call-record writes on SQLite"),
    "supervisor": ("cti.bench.supervisor", "barge-in and force release round trip on pbx_sim"),
    "recordings": ("cti.bench.recordings", "recording search over 1,000,000 indexed recordings"),
    "ivr": ("cti.bench.ivr", "callers inside IVR flows on pbx_sim, AGI round trips"),
    "console": ("cti.bench.console", "the web console in chromium, 1,000 lamps, 500 agents"),
}


def usage() -> str:
    lines = ["usage: hotline COMMAND [options]   (hotline COMMAND --help for its options)", ""]
    lines += [f"  {name:<13} {text}" for name, (_, text) in COMMANDS.items()]
    lines += [f"  bench {name:<7} {text}" for name, (_, text) in BENCHMARKS.items()]
    return "\n".join(lines)


def _load(module: str) -> Callable[[list[str]], int] | None:
    try:
        return importlib.import_module(module).main  # type: ignore[no-any-return]
    except ModuleNotFoundError as error:
        if error.name == module:
            return None
        raise


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return 0 if args else 2
    name, rest = args[0], args[1:]
    table, label = COMMANDS, name
    if name == "bench":
        if not rest or rest[0] not in BENCHMARKS:
            print(f"hotline bench: choose one of: {', '.join(BENCHMARKS)}", file=sys.stderr)
            return 2
        table, label, name, rest = BENCHMARKS, f"bench {rest[0]}", rest[0], rest[1:]
    if name not in table:
        print(f"hotline: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    entry = _load(table[name][0])
    if entry is None:
        print(f"hotline {label}: not available in this build yet", file=sys.stderr)
        return 2
    try:
        return entry(rest)
    except ConfigError as error:
        print(f"hotline: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
