"""The [ivr] section: what loads, and every way a flow is refused (with its key)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from cti.config import DEMO_TOML, ConfigError, demo_config, load_config, parse_config
from ivr.demo import DEMO_IVR_TOML
from ivr.flows import is_vip

ENV = {"HOTLINE_AMI_SECRET": "s"}
REPO = Path(__file__).resolve().parents[2]


def _demo() -> dict[str, Any]:
    return tomllib.loads(DEMO_TOML + DEMO_IVR_TOML)


def _errors(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data, "hotline.toml", env=ENV)
    return [str(issue) for issue in info.value.issues]


def test_demo_flows_load() -> None:
    config = parse_config(_demo(), "hotline.toml", env=ENV)
    ivr = config.ivr
    assert ivr is not None
    assert ivr.start_node("4000").name == "open-check"
    assert ivr.start_node("4003").queue == "inquiry"  # a skill resolved to its queue
    assert ivr.survey is not None and ivr.survey.queues == ("fault", "complaint")
    assert ivr.callback is not None and ivr.callback.key == "*"


def test_no_ivr_section_means_no_ivr() -> None:
    assert parse_config(tomllib.loads(DEMO_TOML), "hotline.toml", env=ENV).ivr is None


def test_missing_prompt_and_queue_are_named() -> None:
    data = _demo()
    data["ivr"]["nodes"]["main"]["prompt"] = "no-such-prompt"
    data["ivr"]["nodes"]["fault"]["queue"] = "faults"
    data["ivr"]["survey"]["thanks"] = "merci"
    assert _errors(data) == [
        "hotline.toml: ivr.nodes.fault.queue: expected a queue declared in [[queues]] "
        "(complaint, fault, general, inquiry); found 'faults'",
        "hotline.toml: ivr.nodes.main.prompt: expected a prompt of ivr.prompts; "
        "found 'no-such-prompt'",
        "hotline.toml: ivr.survey.thanks: expected a prompt of ivr.prompts; found 'merci'",
    ]


def test_target_that_names_no_node() -> None:
    data = _demo()
    data["ivr"]["nodes"]["main"]["options"]["4"] = "billing"
    data["ivr"]["nodes"]["fault-account"]["next"] = "nowhere"
    assert _errors(data) == [
        "hotline.toml: ivr.nodes.main.options.4: expected a node of ivr.nodes or "
        "repeat/operator; found 'billing'",
        "hotline.toml: ivr.nodes.fault-account.next: expected a node of ivr.nodes; found 'nowhere'",
    ]


def test_a_silent_caller_must_not_loop() -> None:
    data = _demo()
    # main's default goes to fault-menu, whose default goes back to main
    data["ivr"]["nodes"]["main"]["default"] = "fault-menu"
    data["ivr"]["nodes"]["fault-menu"]["default"] = "main"
    (error,) = _errors(data)
    assert error.startswith("hotline.toml: ivr.nodes.")
    assert "a caller who presses nothing would loop for ever" in error
    assert "main -> fault-menu -> main" in error or "fault-menu -> main -> fault-menu" in error


def test_a_menu_loop_through_keys_is_fine() -> None:
    # fault-menu "*" goes back to main: the caller chose it, each time
    data = _demo()
    assert data["ivr"]["nodes"]["fault-menu"]["options"]["*"] == "main"
    parse_config(data, "hotline.toml", env=ENV)


def test_message_loop_is_refused() -> None:
    data = _demo()
    data["ivr"]["nodes"]["closed"]["next"] = "open-check"
    data["ivr"]["nodes"]["open-check"]["closed"] = "closed"
    data["ivr"]["nodes"]["open-check"]["open"] = "closed"
    (error,) = _errors(data)
    assert "loop for ever" in error


def test_required_exits_and_kinds() -> None:
    data = _demo()
    del data["ivr"]["nodes"]["main"]["default"]
    data["ivr"]["nodes"]["general"] = {"type": "queue"}
    data["ivr"]["nodes"]["extra"] = {"type": "jump", "to": "main"}
    data["ivr"]["nodes"]["fault-account"]["max_digits"] = 2
    assert _errors(data) == [
        "hotline.toml: ivr.nodes.main.default: required key is missing; expected the name "
        "of a node",
        "hotline.toml: ivr.nodes.fault-account.max_digits: expected at least min_digits (4); "
        "found 2",
        "hotline.toml: ivr.nodes.general: expected exactly one of the keys queue or skill",
        "hotline.toml: ivr.nodes.extra.type: expected one of menu, collect, hours, message, "
        "queue, voicemail, callback_request, hangup; found 'jump'",
    ]


def test_bad_keys_hours_and_options() -> None:
    data = _demo()
    data["ivr"]["nodes"]["main"]["options"]["12"] = "fault"
    data["ivr"]["nodes"]["main"]["colour"] = "red"
    data["ivr"]["hours"]["mon"] = "08:00-07:00"
    data["ivr"]["hours"]["holidays"] = ["2026-13-01"]
    data["ivr"]["timezone"] = "Mars/Olympus"
    data["ivr"]["operator_queue"] = "operators"
    errors = _errors(data)
    assert errors == [
        'hotline.toml: ivr.timezone: expected an IANA time zone, e.g. "Asia/Shanghai"; '
        "found 'Mars/Olympus'",
        'hotline.toml: ivr.hours.mon: expected opening hours "HH:MM-HH:MM", an array of '
        "them, or \"closed\"; found '08:00-07:00'",
        "hotline.toml: ivr.hours.holidays[0]: expected a date (2026-10-01); found '2026-13-01'",
        "hotline.toml: ivr.operator_queue: expected a queue declared in [[queues]] "
        "(complaint, fault, general, inquiry); found 'operators'",
        "hotline.toml: ivr.nodes.main.colour: unknown key; expected one of type, prompt, "
        "options, timeout_s, retries, invalid, default",
        "hotline.toml: ivr.nodes.main.options.12: expected one key of 0123456789*# as the "
        "option; found '12'",
    ]


def test_operator_without_operator_queue() -> None:
    data = _demo()
    del data["ivr"]["operator_queue"]
    assert _errors(data) == [
        "hotline.toml: ivr.nodes.main.options.0: found 'operator' but ivr.operator_queue is not set"
    ]


def test_queue_errors_elsewhere_do_not_cascade() -> None:
    data = _demo()
    data["queues"][0]["strategy"] = "fastest"
    errors = _errors(data)
    assert len(errors) == 1 and "queues[0].strategy" in errors[0]


def test_vip_by_account_or_tag() -> None:
    config = parse_config(_demo(), "hotline.toml", env=ENV)
    assert config.ivr is not None
    ivr = config.ivr
    assert is_vip(ivr, None, "VIP, fault reports")
    assert not is_vip(ivr, None, "VIPER fan; not a vip")
    data = _demo()
    data["ivr"]["vip_accounts"] = ["A-1"]
    with_accounts = parse_config(data, "hotline.toml", env=ENV).ivr
    assert with_accounts is not None and is_vip(with_accounts, "A-1", "")
    del data["ivr"]["vip_priority"]
    assert _errors(data) == [
        "hotline.toml: ivr.vip_priority: required key is missing; expected the queue "
        "priority of VIP callers (vip_accounts or vip_tag is set)"
    ]


def test_example_file_has_the_demo_flows() -> None:
    example = load_config(REPO / "config" / "hotline.toml", env=ENV)
    assert example.ivr is not None
    assert example.ivr == demo_config(ivr=True).ivr


def _with_voicemail(box: object, second: object = None) -> dict[str, Any]:
    data = _demo()
    data["ivr"]["nodes"]["closed"]["next"] = "leave-message"
    data["ivr"]["nodes"]["leave-message"] = {"type": "voicemail", "box": box}
    if second is not None:
        data["ivr"]["nodes"]["main"]["options"]["9"] = "other-box"
        data["ivr"]["nodes"]["other-box"] = {"type": "voicemail", "box": second}
    return data


def test_voicemail_boxes_are_what_the_pbx_must_have() -> None:
    config = parse_config(_with_voicemail("100@default", "7"), "hotline.toml", env=ENV)
    assert config.ivr is not None
    # a box without @context is in app_voicemail's "default" context
    assert config.ivr.voicemail_boxes() == [("default", "100"), ("default", "7")]
    same = parse_config(_with_voicemail("200@after-hours", "200@after-hours"), "h", env=ENV)
    assert same.ivr is not None and same.ivr.voicemail_boxes() == [("after-hours", "200")]
    no_vm = parse_config(_demo(), "hotline.toml", env=ENV)
    assert no_vm.ivr is not None and no_vm.ivr.voicemail_boxes() == []


@pytest.mark.parametrize(
    "box",
    ["", "100@", "@default", "100@general", "100@ZoneMessages", "1 00", "100,s", "100\n[x]",
     "100@a@b", "100&101", 100],
)  # fmt: skip
def test_a_box_voicemail_conf_cannot_hold_is_refused(box: object) -> None:
    (error,) = _errors(_with_voicemail(box))
    assert error.startswith("hotline.toml: ivr.nodes.leave-message.box: expected a mailbox")
    assert error.endswith(f"found {box!r}")
