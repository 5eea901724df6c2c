"""``hotline check-config FILE``: validate a configuration and summarise what it defines."""

from __future__ import annotations

import argparse

from acd import ACD
from cti.config import load_config
from recorder.policy import summary as recording_summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hotline check-config", description=__doc__)
    parser.add_argument("config", help="the TOML configuration file")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    acd = ACD(config.queues)
    for spec in config.agent_specs():
        acd.add_agent(spec)
    trunks = ", ".join(f"{t.name} ({t.channels} channels)" for t in config.trunks) or "none"
    print(f"{config.source}: OK")
    print(
        f"  skills {len(config.skills)}, queues {len(config.queues)}, agents "
        f"{len(config.agents)}, trunks: {trunks}"
    )
    print(f"  {recording_summary(config.recording)}")
    return 0
