"""The recording policy: the ``[recording]`` table and which calls it records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cti.config import ConfigError, demo_config, load_config, parse_config
from recorder.policy import Mode, QueuePolicy, RecordingConfig, sample_bucket, summary

ENV = {"HOTLINE_AMI_SECRET": "s"}


def config_with(recording: Any) -> Any:
    data = {
        "ami": {"secret_env": "HOTLINE_AMI_SECRET"},
        "skills": {"general": "any", "fault": "faults"},
        "queues": [
            {"name": "general", "skills": {"general": 1}},
            {"name": "fault", "skills": {"fault": 1}},
        ],
        "agents": [{"id": "1"}],
        "recording": recording,
    }
    return parse_config(data, "h.toml", env=ENV)


def errors(recording: Any) -> list[str]:
    with pytest.raises(ConfigError) as info:
        config_with(recording)
    return [str(issue) for issue in info.value.issues]


def test_no_table_records_nothing() -> None:
    data = {
        "ami": {"secret_env": "HOTLINE_AMI_SECRET"},
        "skills": {"general": "any"},
        "queues": [{"name": "general", "skills": {"general": 1}}],
        "agents": [{"id": "1"}],
    }
    config = parse_config(data, "h.toml", env=ENV)
    assert config.recording == RecordingConfig()
    assert not config.recording.enabled
    assert not config.recording.policy("general").records("any-call")


def test_full_table() -> None:
    rec = config_with(
        {
            "default": "on_demand",
            "pbx_dir": "/var/spool/asterisk/monitor/hotline",
            "retention_days": 365,
            "purge_every_s": 600,
            "queues": {
                "fault": {"policy": "always", "retention_days": 730},
                "general": {"policy": "percent", "percent": 25},
            },
        }
    ).recording
    assert rec.enabled
    assert rec.pbx_dir == "/var/spool/asterisk/monitor/hotline"
    assert rec.policy("fault") == QueuePolicy(Mode.ALWAYS, 0, 730)
    assert rec.policy("general") == QueuePolicy(Mode.PERCENT, 25, None)
    assert rec.policy("elsewhere").mode is Mode.ON_DEMAND
    assert rec.policy(None).mode is Mode.ON_DEMAND
    assert rec.retention_for("fault") == 730
    assert rec.retention_for("general") == 365
    assert rec.retention_for(None) == 365
    assert rec.purge_every_s == 600


def test_every_problem_is_reported_with_its_key() -> None:
    found = errors(
        {
            "default": "percent",
            "pbx_dir": "relative/dir",
            "retention_days": 0,
            "colour": "red",
            "queues": {
                "nosuch": {"policy": "always"},
                "fault": {"policy": "sometimes"},
                "general": {"policy": "percent", "percent": 120},
            },
        }
    )
    text = "\n".join(found)
    assert "h.toml: recording.default: expected always, never or on_demand" in text
    assert "recording.pbx_dir: expected an absolute directory path" in text
    assert "recording.retention_days: expected days 1..36500; found 0" in text
    assert "recording.colour: unknown key" in text
    assert "recording.queues.nosuch: expected the name of a queue (fault, general)" in text
    assert "recording.queues.fault.policy: expected one of always, never, percent" in text
    assert "recording.queues.general.percent: expected a percentage 0..100; found 120" in text
    assert len(found) == 7, found


def test_percent_needs_percent_and_only_with_percent() -> None:
    assert errors({"queues": {"fault": {"policy": "percent"}}}) == [
        "h.toml: recording.queues.fault.percent: required key is missing; expected a "
        'percentage 0..100 with policy = "percent"'
    ]
    found = errors({"queues": {"fault": {"policy": "always", "percent": 5}}})
    assert found == [
        'h.toml: recording.queues.fault.percent: expected percent only with policy = "percent";'
        " found policy = 'always'"
    ]
    assert errors({"queues": {"fault": {"retention_days": 5}}})[0].endswith(
        "recording.queues.fault.policy: required key is missing; expected always, never, "
        "percent or on_demand"
    )


def test_modes() -> None:
    assert QueuePolicy(Mode.ALWAYS).records("x")
    assert not QueuePolicy(Mode.NEVER).records("x")
    assert not QueuePolicy(Mode.ON_DEMAND).records("x")
    assert QueuePolicy(Mode.ON_DEMAND).agent_may_start
    assert QueuePolicy(Mode.PERCENT, 10).agent_may_start
    assert not QueuePolicy(Mode.NEVER).agent_may_start
    assert not QueuePolicy(Mode.PERCENT, 0).records("x")
    assert QueuePolicy(Mode.PERCENT, 100).records("x")


def test_percent_sample_is_stable_and_close_to_the_share() -> None:
    ids = [f"17953{n:05d}.{n % 61}" for n in range(20_000)]
    policy = QueuePolicy(Mode.PERCENT, 20)
    chosen = [i for i in ids if policy.records(i)]
    assert 0.18 < len(chosen) / len(ids) < 0.22  # binomial sd 0.28 %: ±7 sd
    assert chosen == [i for i in ids if policy.records(i)]  # the same call, the same answer
    buckets = {sample_bucket(i) for i in ids}
    assert buckets == set(range(100))


def test_example_file_records_as_the_demo_does() -> None:
    example = Path(__file__).resolve().parents[2] / "config" / "hotline.toml"
    assert load_config(example, env=ENV).recording == demo_config().recording
    assert demo_config().recording.policy("fault").mode is Mode.ALWAYS


def test_summary_line() -> None:
    assert summary(RecordingConfig()) == "recording: none"
    assert summary(demo_config().recording) == (
        "recording: fault always, complaint on_demand, inquiry 20 %; others never; kept 7 days"
    )
