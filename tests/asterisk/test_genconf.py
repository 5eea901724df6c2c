"""The Asterisk configuration generated from Hotline's (pure; no Asterisk needed).

That Asterisk accepts it is tested in test_e2e_asterisk.py against the real one."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from cti.asterisk import genconf
from cti.asterisk.cli import main as asterisk_main
from cti.config import TrunkConfig, demo_config, load_config
from pbx_sim import ivr as pbx_sim_ivr

REPO = Path(__file__).resolve().parents[2]


def _contexts(text: str) -> dict[str, set[str]]:
    """context -> the extensions (patterns) it defines, from an extensions.conf text."""
    out: dict[str, set[str]] = {}
    current = ""
    for raw in text.splitlines():
        code = raw.split(";", 1)[0].strip()
        if m := re.fullmatch(r"\[([^\]]+)\]", code):
            current = m[1]
            out.setdefault(current, set())
        elif m := re.match(r"exten\s*=>\s*([^,]+),", code):
            out[current].add(m[1].strip())
    return out


def _files(tmp_path: Path, **options: object) -> dict[str, str]:
    config = demo_config(ami_secret="ami-s3cret")
    passwords = genconf.sip_passwords(genconf.endpoints(config), tmp_path / "s.json", env={})
    return genconf.generate(config, passwords, genconf.Options(**options))  # type: ignore[arg-type]


def test_pjsip_has_an_endpoint_per_extension_and_the_trunk(tmp_path: Path) -> None:
    files = _files(tmp_path, sip_port=15070)
    pjsip = files["pjsip.conf"]
    assert "bind=127.0.0.1:15070" in pjsip
    sections = re.findall(r"^\[([^\]]+)\]\((\w+)-common\)", pjsip, re.MULTILINE)
    by_name: dict[str, set[str]] = {}
    for name, kind in sections:
        by_name.setdefault(name, set()).add(kind)
    extensions = [f"80{i:02d}" for i in range(13)] + ["9001"]
    assert set(by_name) == {*extensions, "e1trunk"}
    assert all(kinds == {"ep", "auth", "aor"} for kinds in by_name.values())
    assert 'callerid="Zhang Wei" <8001>' in pjsip
    trunk = pjsip[pjsip.index("[e1trunk](ep-common)") :]
    assert "context=from-trunk" in trunk and "trust_id_inbound=yes" in trunk
    # each endpoint has its own random password
    passwords = re.findall(r"^password=(.+)$", pjsip, re.MULTILINE)
    assert len(passwords) == len(set(passwords)) == 15


def test_extensions_is_the_simulators_dialplan_with_its_globals_set(tmp_path: Path) -> None:
    text = _files(tmp_path, cti_agi="127.0.0.1:4573")["extensions.conf"]
    generated, simulated = _contexts(text), _contexts(genconf.hotline_dialplan())
    # every context and extension of pbx_sim's dialplan is in Asterisk's, unchanged
    for context, extens in simulated.items():
        assert extens <= generated[context], context
    assert set(generated) - set(simulated) == {"appqueue"}
    assert generated["internal"] - simulated["internal"] == {
        *(f"80{i:02d}" for i in range(13)),
        "9001",
    }
    assert "TRUNK_MAX=30\n" in text and "CTI_AGI=127.0.0.1:4573\n" in text
    assert "AGENT_RING_TIMEOUT=20\n" in text  # the longest ACD ring timeout (15) + 5
    assert "exten => 8001,hint,PJSIP/8001" in text


def test_trunk_limit_and_no_agi_follow_the_configuration(tmp_path: Path) -> None:
    config = demo_config(ami_secret="x")
    config = replace(config, trunks=(replace(config.trunks[0], channels=120),))
    passwords = {name: "pw" for name in genconf.endpoints(config)}
    text = genconf.generate(config, passwords)["extensions.conf"]
    assert "TRUNK_MAX=120\n" in text and "CTI_AGI=\n" in text


def test_agi_hand_off_when_the_configuration_has_an_ivr() -> None:
    config = demo_config(ami_secret="x", ivr=True)
    passwords = {name: "pw" for name in genconf.endpoints(config)}
    text = genconf.generate(config, passwords)["extensions.conf"]
    assert f"CTI_AGI=127.0.0.1:{config.agi.port}\n" in text
    off = genconf.generate(config, passwords, genconf.Options(cti_agi=""))["extensions.conf"]
    assert "CTI_AGI=\n" in off


def test_voicemail_conf_has_the_flows_mailboxes_and_no_mail() -> None:
    config = demo_config(ami_secret="x", ivr=True)
    assert config.ivr is not None
    passwords = {name: "pw" for name in genconf.endpoints(config)}
    # the demo's flows have no voicemail node: no mailbox at all
    assert not re.search(r"^\w+ =>", genconf.generate(config, passwords)["voicemail.conf"], re.M)
    nodes = dict(config.ivr.nodes)
    for name, box in (("vm-a", "100@after-hours"), ("vm-b", "7"), ("vm-c", "101@after-hours")):
        nodes[name] = replace(nodes["callback-later"], name=name, kind="voicemail", box=box)
    config = replace(config, ivr=replace(config.ivr, nodes=nodes))
    text = genconf.generate(config, passwords)["voicemail.conf"]
    sections: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        if m := re.fullmatch(r"\[([^\]]+)\]", line):
            current = m[1]
            sections[current] = []
        elif current and line and not line.startswith(";"):
            sections[current].append(line)
    assert set(sections) == {"general", "after-hours", "default"}
    general = dict(line.split("=", 1) for line in sections["general"])
    assert general["format"] == "wav" and general["attach"] == "no"
    # the longest message is pbx_sim's (the two PBXs agree, docs/pbx_sim.md)
    assert general["maxsecs"] == str(int(pbx_sim_ivr.MAX_MESSAGE_S)) == "180"
    assert general["maxsilence"] == "0"
    assert general["mailcmd"] == "/bin/false" and "serveremail" not in general
    boxes = {
        ctx: [re.fullmatch(r"(\w+) => (\d{12}),([^,]*),,", line) for line in lines]
        for ctx, lines in sections.items()
        if ctx != "general"
    }
    assert all(m is not None for ms in boxes.values() for m in ms), boxes
    assert [m[1] for m in boxes["after-hours"] if m] == ["100", "101"]
    assert [m[1] for m in boxes["default"] if m] == ["7"]
    # a random password per mailbox, known to nobody (VoiceMailMain is never offered)
    secret = [m[2] for ms in boxes.values() for m in ms if m]
    assert len(set(secret)) == 3


def test_manager_conf_grants_only_what_hotline_needs(tmp_path: Path) -> None:
    manager = _files(tmp_path, ami_port=15039)["manager.conf"]
    values = dict(re.findall(r"^(\w+) = (.*)$", manager, re.MULTILINE))
    assert values["port"] == "15039" and values["bindaddr"] == "127.0.0.1"
    assert values["webenabled"] == "no"
    assert values["permit"] == "127.0.0.1/255.255.255.255"
    assert values["deny"] == "0.0.0.0/0.0.0.0"
    assert values["secret"] == "ami-s3cret"
    assert set(values["read"].split(",")) == {"system", "call", "dialplan", "agent", "user"}
    # no "system" even though the demo records, by policy and on demand (complaint,
    # inquiry): recordings start in the dialplan
    assert set(values["write"].split(",")) == {"call", "originate", "reporting"}
    assert "[hotline]" in manager


def test_app_queue_comparison_queues(tmp_path: Path) -> None:
    files = _files(tmp_path)
    queues = files["queues.conf"]
    # "general" is queues.conf's settings section: every queue is prefixed
    assert "[hq-general]" in queues and "[hq-fault]" in queues
    fault = queues[queues.index("[hq-fault]") :].split("\n[", 1)[0]
    members = re.findall(r"member => PJSIP/(\d+)", fault)
    assert members == ["8000", "8001", "8002", "8003"]  # fault >= 5
    assert "Queue(hq-fault,t)" in files["extensions.conf"]


def test_sip_passwords_file_is_private_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "sip.json"
    first = genconf.sip_passwords(["8001", "e1trunk"], path, env={})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = genconf.sip_passwords(["8001", "e1trunk", "8002"], path, env={})
    assert again["8001"] == first["8001"] and again["e1trunk"] == first["e1trunk"]
    assert again["8002"] and again["8002"] != again["8001"]
    env = {"HOTLINE_SIP_PASSWORD_E1TRUNK": "from-env"}
    assert genconf.sip_passwords(["e1trunk"], path, env=env)["e1trunk"] == "from-env"


def test_sip_passwords_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sip.json"
    path.write_text('{"8001": "pw"}')
    os.chmod(path, 0o644)
    with pytest.raises(genconf.GenerateError, match="chmod 600"):
        genconf.sip_passwords(["8001"], path, env={})


def test_unsupported_configurations_are_clear_errors() -> None:
    config = demo_config(ami_secret="x")
    two = replace(config, trunks=(*config.trunks, TrunkConfig(name="e2")))
    passwords = {name: "pw" for name in genconf.endpoints(config)}
    with pytest.raises(genconf.GenerateError, match="one carrier trunk"):
        genconf.generate(two, passwords)
    with pytest.raises(genconf.GenerateError, match="no SIP password for endpoint"):
        genconf.generate(config, {})


def test_cli_config_writes_private_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOTLINE_AMI_SECRET", "cli-secret")
    out = tmp_path / "out"
    code = asterisk_main(
        ["config", "--config", str(REPO / "config/hotline.toml"), "--out", str(out)]
    )
    assert code == 0, capsys.readouterr().err
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([*genconf.VERBATIM, "extensions.conf", "manager.conf",
                            "pjsip.conf", "queues.conf", "sip-secrets.json",
                            "voicemail.conf"])  # fmt: skip
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in out.iterdir())
    assert "secret = cli-secret" in (out / "manager.conf").read_text()
    assert load_config(REPO / "config/hotline.toml").ami.port == 5038
    assert "port = 5038" in (out / "manager.conf").read_text()


def test_cli_config_bad_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[skills]\n")
    code = asterisk_main(["config", "--config", str(bad), "--out", str(tmp_path / "o")])
    assert code == 2
    assert "hotline asterisk:" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
