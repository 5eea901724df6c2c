"""cti.config: the example file, the demo call center, and one failing case per rule."""

from __future__ import annotations

import copy
import os
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from acd import ACD, Fallback, Strategy
from cti.config import (
    DEMO_TOML,
    AgentConfig,
    ConfigError,
    DispatchLevel,
    Issue,
    Role,
    demo_config,
    load_config,
    parse_config,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "hotline.toml"
SRC = "config/hotline.toml"
ENV = {"HOTLINE_AMI_SECRET": "s3cret"}

Data = dict[str, Any]


def demo_data() -> Data:
    return copy.deepcopy(tomllib.loads(DEMO_TOML))


def errors_of(mutate: Callable[[Data], object], env: dict[str, str] | None = None) -> list[str]:
    """The lines of the ConfigError raised by the demo data changed by ``mutate``."""
    data = demo_data()
    mutate(data)
    with pytest.raises(ConfigError) as info:
        parse_config(data, SRC, env=ENV if env is None else env)
    assert str(info.value) == "\n".join(str(issue) for issue in info.value.issues)
    return str(info.value).splitlines()


def error_of(mutate: Callable[[Data], object], env: dict[str, str] | None = None) -> str:
    lines = errors_of(mutate, env)
    assert len(lines) == 1, lines
    return lines[0]


def minimal() -> Data:
    return {
        "ami": {"secret_env": "HOTLINE_AMI_SECRET"},
        "skills": {"general": "any"},
        "queues": [{"name": "general", "skills": {"general": 1}}],
        "agents": [{"id": "1"}],
    }


# ------------------------------------------------------------------ example and demo


def test_example_file_loads() -> None:
    config = load_config(EXAMPLE, env=ENV)
    assert config.source == str(EXAMPLE)
    assert config.ami.secret == "s3cret"
    assert config.ami.secret_env == "HOTLINE_AMI_SECRET"
    # ../var/hotline.db is resolved from config/, i.e. the repository's var/.
    assert config.store.path == ROOT / "var" / "hotline.db"
    assert config.store.recordings_dir == ROOT / "var" / "recordings"


def test_example_file_describes_the_demo_call_center() -> None:
    example, demo = load_config(EXAMPLE, env=ENV), demo_config()
    assert example.skills == demo.skills
    assert example.queues == demo.queues
    assert example.agents == demo.agents
    assert example.trunks == demo.trunks
    assert example.groups == demo.groups
    assert example.dispatch == demo.dispatch
    assert (example.server, example.agi, example.log) == (demo.server, demo.agi, demo.log)


def test_demo_config() -> None:
    config = demo_config(ami_secret="pw")
    assert config.ami.secret == "pw"
    assert "pw" not in repr(config)
    assert set(config.skills) == {"fault", "complaint", "inquiry", "general"}
    assert config.skills["fault"].startswith("故障")
    assert config.skills["complaint"].startswith("投诉")
    assert config.skills["inquiry"].startswith("咨询")
    assert [q.name for q in config.queues] == ["fault", "complaint", "inquiry", "general"]
    fault, inquiry = config.queue("fault"), config.queue("inquiry")
    assert len(fault.escalation) == 2
    assert fault.strategy is Strategy.MOST_SKILLED
    assert (inquiry.fallback, inquiry.overflow_to) == (Fallback.OVERFLOW, "general")
    ids = [agent.agent_id for agent in config.agents]
    assert ids == [str(n) for n in range(80000, 80013)] + ["90001"]
    assert [a.extension for a in config.agents[:13]] == [str(n) for n in range(8000, 8013)]
    assert config.agent("90001") == AgentConfig(
        agent_id="90001",
        name="Supervisor",
        extension="9001",
        role=Role.SUPERVISOR,
        dispatch=DispatchLevel.MAIN,
    )
    assert config.dispatch.emergency_numbers == {"110", "119", "120", "122"}
    assert all(a.role is Role.AGENT for a in config.agents[:13])
    (trunk,) = config.trunks
    assert (trunk.name, trunk.channels) == ("e1", 30)
    assert set(trunk.routes.values()) == {"fault", "complaint", "inquiry", "general"}
    assert trunk.queue_for("4001") == "fault"
    assert trunk.queue_for("999") == "general"
    assert (config.server.listen, config.server.http_port) == ("127.0.0.1", 8080)
    assert (config.ami.host, config.ami.port, config.ami.username) == (
        "127.0.0.1",
        5038,
        "hotline",
    )
    assert (config.agi.listen, config.agi.port) == ("127.0.0.1", 4573)


def test_demo_config_builds_an_acd_that_routes() -> None:
    config = demo_config()
    acd = ACD(config.queues)
    for spec in config.agent_specs():
        acd.add_agent(spec)
    acd.login("80001", 0.0)
    events = acd.enqueue("c1", "fault", 1.0)
    assert any(getattr(e, "agent_id", None) == "80001" for e in events), events


def test_defaults() -> None:
    config = parse_config(minimal(), SRC, env=ENV, base_dir="/srv/hotline")
    assert (config.server.listen, config.server.http_port) == ("127.0.0.1", 8080)
    assert (config.ami.host, config.ami.port, config.ami.username) == (
        "127.0.0.1",
        5038,
        "hotline",
    )
    assert (config.agi.listen, config.agi.port) == ("127.0.0.1", 4573)
    assert (config.log.level, config.log.format) == ("info", "auto")
    assert config.store.path == Path("/srv/hotline/var/hotline.db")
    assert config.trunks == ()
    assert dict(config.groups) == {}
    agent = config.agents[0]
    assert (agent.role, agent.name, agent.extension, dict(agent.skills)) == (
        Role.AGENT,
        "",
        None,
        {},
    )
    data = minimal()
    data["trunks"] = [{"name": "e1"}]
    assert parse_config(data, SRC, env=ENV).trunks[0].channels == 30


def test_overflow_to_implies_fallback_overflow() -> None:
    data = minimal()
    data["queues"].append(
        {"name": "first", "skills": {"general": 5}, "max_wait_s": 30, "overflow_to": "general"}
    )
    spec = parse_config(data, SRC, env=ENV).queue("first")
    assert spec.fallback is Fallback.OVERFLOW


def test_role_order() -> None:
    assert Role.ADMIN.at_least(Role.SUPERVISOR)
    assert Role.SUPERVISOR.at_least(Role.SUPERVISOR)
    assert not Role.AGENT.at_least(Role.SUPERVISOR)


# ------------------------------------------------------------------ one rule at a time


def test_unknown_keys_are_errors() -> None:
    assert errors_of(lambda d: d["queues"][1].update(stratgy="longest_idle")) == [
        f"{SRC}: queues[1].stratgy: unknown key; did you mean 'strategy'? expected one of "
        "name, skills, priority, strategy, service_level_target, service_level_s, wrap_up_s, "
        "ring_timeout_s, max_wait_s, fallback, overflow_to, escalation, rona_misses"
    ]
    assert error_of(lambda d: d.update(sever={})).startswith(
        f"{SRC}: sever: unknown key; did you mean 'server'? expected one of server, ami,"
    )
    assert error_of(lambda d: d["queues"][0]["escalation"][0].update(afters=5)) == (
        f"{SRC}: queues[0].escalation[0].afters: unknown key; did you mean 'after_s'? "
        "expected one of after_s, min_level, add_skills"
    )
    assert error_of(lambda d: d["ami"].update(secret="hunter2")) == (
        f"{SRC}: ami.secret: unknown key; did you mean 'secret_env'? expected one of "
        "host, port, username, secret_env, secret_file"
    )


def test_strategy_must_be_known() -> None:
    assert error_of(lambda d: d["queues"][1].update(strategy="fastest")) == (
        f"{SRC}: queues[1].strategy: expected one of longest_idle, least_occupied, "
        "most_skilled, round_robin, fewest_calls; found 'fastest'"
    )


def test_wrong_types() -> None:
    assert error_of(lambda d: d["server"].update(http_port="8080")) == (
        f"{SRC}: server.http_port: expected a port number 1..65535; found '8080'"
    )
    assert error_of(lambda d: d["agents"][3].update(id=80003)) == (
        f"{SRC}: agents[3].id: expected an agent id of letters, digits, '_', '.' and '-' "
        '(at most 32), e.g. "80001" (put it in quotes); found 80003'
    )
    assert error_of(lambda d: d["queues"][0].update(max_wait_s="3 minutes")) == (
        f"{SRC}: queues[0].max_wait_s: expected a number of seconds; found '3 minutes'"
    )
    assert error_of(lambda d: d["queues"][0].update(priority=True)) == (
        f"{SRC}: queues[0].priority: expected an integer; found true"
    )
    assert error_of(lambda d: d["trunks"][0].update(routes=["4001"])) == (
        f'{SRC}: trunks[0].routes: expected a table of "dialled number" = "queue"; found an array'
    )
    assert error_of(lambda d: d.update(queues={"name": "x"})) == (
        f"{SRC}: queues: expected at least one [[queues]] table; found a table"
    )
    assert error_of(lambda d: d["agents"][0].update(extension="80-00")) == (
        f"{SRC}: agents[0].extension: expected an extension of digits only (at most 20), "
        "e.g. \"8001\"; found '80-00'"
    )


def test_required_keys() -> None:
    assert error_of(lambda d: d["queues"][2].pop("name")) == (
        f"{SRC}: queues[2].name: required key is missing; expected a queue name of letters, "
        "digits, '_' and '-' starting with a letter (at most 32)"
    )
    assert error_of(lambda d: d.pop("agents")) == (
        f"{SRC}: agents: required key is missing; expected at least one [[agents]] table"
    )
    assert error_of(lambda d: d.update(agents=[])) == (
        f"{SRC}: agents: expected at least one [[agents]] table; found an empty array"
    )
    assert error_of(lambda d: d["queues"][0].update(skills={})) == (
        f"{SRC}: queues[0].skills: expected at least one skill = level (1..10); "
        "found an empty table"
    )
    assert error_of(lambda d: d["queues"][0]["escalation"][0].pop("after_s")) == (
        f"{SRC}: queues[0].escalation[0].after_s: required key is missing; "
        "expected a number of seconds in the queue"
    )


@pytest.mark.parametrize(
    ("mutate", "path", "found"),
    [
        (lambda d: d["queues"][2]["skills"].update(inquiry=11), "queues[2].skills.inquiry", "11"),
        (lambda d: d["agents"][1]["skills"].update(fault=0), "agents[1].skills.fault", "0"),
        (
            lambda d: d["queues"][0]["escalation"][0].update(min_level=12),
            "queues[0].escalation[0].min_level",
            "12",
        ),
        (
            lambda d: d["queues"][0]["escalation"][1]["add_skills"].update(general=2.5),
            "queues[0].escalation[1].add_skills.general",
            "2.5",
        ),
    ],
)
def test_levels_are_1_to_10(mutate: Callable[[Data], object], path: str, found: str) -> None:
    assert error_of(mutate) == f"{SRC}: {path}: expected a level 1..10; found {found}"


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda d: d["queues"][1]["skills"].update(sales=3), "queues[1].skills.sales"),
        (lambda d: d["agents"][4]["skills"].update(sales=3), "agents[4].skills.sales"),
        (
            lambda d: d["queues"][0]["escalation"][1]["add_skills"].update(sales=3),
            "queues[0].escalation[1].add_skills.sales",
        ),
    ],
)
def test_skills_must_be_declared(mutate: Callable[[Data], object], path: str) -> None:
    assert error_of(mutate) == (
        f"{SRC}: {path}: expected a skill declared in [skills] "
        "(complaint, fault, general, inquiry); found 'sales'"
    )


def test_skill_names() -> None:
    assert error_of(lambda d: d["skills"].update({"故障": "fault"})) == (
        f"{SRC}: skills.\"故障\": expected a skill name of letters, digits, '_' and '-' "
        "starting with a letter (at most 32); found '故障'"
    )


def test_queue_names_are_unique() -> None:
    def rename(d: Data) -> None:
        d["queues"][3]["name"] = "complaint"
        d["queues"][2].pop("overflow_to")
        d["queues"][2].pop("max_wait_s")
        d["trunks"][0].pop("default_queue")
        d["trunks"][0]["routes"].pop("4000")

    assert error_of(rename) == (
        f"{SRC}: queues[3].name: expected a unique queue name; found 'complaint' again "
        "(first at queues[1])"
    )


def test_overflow_target_must_exist() -> None:
    assert error_of(lambda d: d["queues"][2].update(overflow_to="genral")) == (
        f"{SRC}: queues[2].overflow_to: expected the name of a queue "
        "(complaint, fault, general, inquiry); found 'genral'"
    )


def test_overflow_loops_are_refused_by_the_acd() -> None:
    assert error_of(lambda d: d["queues"][3].update(max_wait_s=30, overflow_to="inquiry")) == (
        f"{SRC}: queues[2].overflow_to: overflow loop: inquiry -> general -> inquiry "
        "(a caller would never leave)"
    )
    assert error_of(lambda d: d["queues"][2].update(overflow_to="inquiry")) == (
        f"{SRC}: queues[2].overflow_to: queue 'inquiry': overflows to itself"
    )


def test_overflow_to_with_another_fallback() -> None:
    assert error_of(lambda d: d["queues"][2].update(fallback="voicemail")) == (
        f'{SRC}: queues[2].overflow_to: expected overflow_to only with fallback = "overflow"; '
        "found fallback = 'voicemail'"
    )


def test_queue_rules_of_the_acd_point_at_the_key() -> None:
    assert error_of(lambda d: d["queues"][0]["escalation"][1].update(after_s=20)) == (
        f"{SRC}: queues[0].escalation[1].after_s: expected a value greater than the step "
        "before (30.0); found 20"
    )
    assert error_of(lambda d: d["queues"][0]["escalation"][1].pop("add_skills")) == (
        f"{SRC}: queues[0].escalation[1]: expected min_level or add_skills (a step must "
        "widen who may take the call); found neither"
    )
    assert error_of(lambda d: d["queues"][1].update(service_level_target=1.5)) == (
        f"{SRC}: queues[1].service_level_target: expected a value in (0, 1]; found 1.5"
    )
    assert error_of(lambda d: d["queues"][1].update(wrap_up_s=-1)) == (
        f"{SRC}: queues[1].wrap_up_s: expected a value >= 0; found -1"
    )
    assert error_of(lambda d: d["queues"][1].update(fallback="callback")) == (
        f"{SRC}: queues[1].fallback: a fallback needs max_wait_s"
    )
    assert error_of(lambda d: d["queues"][1].update(rona_misses=0)) == (
        f"{SRC}: queues[1].rona_misses: expected an integer >= 1; found 0"
    )


def test_agent_ids_and_extensions_are_unique() -> None:
    assert error_of(lambda d: d["agents"][5].update(id="80001")) == (
        f"{SRC}: agents[5].id: expected a unique agent id; found '80001' again (first at agents[1])"
    )
    assert error_of(lambda d: d["agents"][13].update(extension="8000")) == (
        f"{SRC}: agents[13].extension: expected a unique extension; found '8000' again "
        "(first at agents[0])"
    )


def test_roles() -> None:
    assert error_of(lambda d: d["agents"][13].update(role="boss")) == (
        f"{SRC}: agents[13].role: expected one of agent, supervisor, admin; found 'boss'"
    )


def test_trunk_routes_point_to_queues() -> None:
    assert error_of(lambda d: d["trunks"][0]["routes"].update({"4009": "sales"})) == (
        f"{SRC}: trunks[0].routes.4009: expected the name of a queue "
        "(complaint, fault, general, inquiry); found 'sales'"
    )
    assert error_of(lambda d: d["trunks"][0].update(default_queue="sales")) == (
        f"{SRC}: trunks[0].default_queue: expected the name of a queue "
        "(complaint, fault, general, inquiry); found 'sales'"
    )
    assert error_of(lambda d: d["trunks"][0]["routes"].update({"+86 10": "fault"})) == (
        f'{SRC}: trunks[0].routes."+86 10": expected a dialled number of digits with an '
        "optional leading '+'; found '+86 10'"
    )


def test_trunk_channels_at_least_one() -> None:
    assert error_of(lambda d: d["trunks"][0].update(channels=0)) == (
        f"{SRC}: trunks[0].channels: expected a number of channels >= 1; found 0"
    )


def test_trunk_names_are_unique() -> None:
    assert error_of(lambda d: d["trunks"].append({"name": "e1"})) == (
        f"{SRC}: trunks[1].name: expected a unique trunk name; found 'e1' again "
        "(first at trunks[0])"
    )


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [("server", "http_port", 0), ("ami", "port", 65536), ("agi", "port", -1)],
)
def test_ports(section: str, key: str, value: int) -> None:
    assert error_of(lambda d: d[section].update({key: value})) == (
        f"{SRC}: {section}.{key}: expected a port number 1..65535; found {value}"
    )


def test_http_and_agi_ports_differ() -> None:
    assert error_of(lambda d: d["agi"].update(port=8080)) == (
        f"{SRC}: agi.port: expected a port other than server.http_port on 127.0.0.1; "
        "found 8080 for both"
    )


def test_listen_addresses() -> None:
    assert error_of(lambda d: d["server"].update(listen="localhost")) == (
        f"{SRC}: server.listen: expected an IP address to listen on (127.0.0.1: this "
        "machine only; 0.0.0.0: every IPv4 interface); found 'localhost'"
    )
    data = demo_data()
    data["server"]["listen"] = "0.0.0.0"
    assert parse_config(data, SRC, env=ENV).server.listen == "0.0.0.0"


def test_log_settings() -> None:
    assert errors_of(lambda d: d["log"].update(level="verbose", format="xml")) == [
        f"{SRC}: log.level: expected one of debug, info, warning, error, critical; found 'verbose'",
        f"{SRC}: log.format: expected one of auto, json, console; found 'xml'",
    ]


def test_groups() -> None:
    assert errors_of(lambda d: d["groups"].update(x=["8001", "8001", 5], y=[])) == [
        f"{SRC}: groups.x[1]: expected each extension once; found '8001'",
        f'{SRC}: groups.x[2]: expected an extension of digits only (at most 20), e.g. "8001"; '
        "found 5",
        f'{SRC}: groups.y: expected a non-empty array of extensions, e.g. ["8001", "8002"]; '
        "found an empty array",
    ]


def test_all_errors_are_reported_in_one_pass() -> None:
    def break_things(d: Data) -> None:
        d["server"]["http_port"] = 70000
        d["queues"][1]["strategy"] = "fastest"
        d["agents"][2]["role"] = "boss"
        d["trunks"][0]["channels"] = 0

    assert errors_of(break_things) == [
        f"{SRC}: server.http_port: expected a port number 1..65535; found 70000",
        f"{SRC}: queues[1].strategy: expected one of longest_idle, least_occupied, "
        "most_skilled, round_robin, fewest_calls; found 'fastest'",
        f"{SRC}: agents[2].role: expected one of agent, supervisor, admin; found 'boss'",
        f"{SRC}: trunks[0].channels: expected a number of channels >= 1; found 0",
    ]


def test_no_cascade_from_one_mistake() -> None:
    # A queue without a usable name: routes to other queues are not reported as unknown.
    def unname(d: Data) -> None:
        d["queues"][3]["name"] = 42

    assert errors_of(unname) == [
        f"{SRC}: queues[3].name: expected a queue name of letters, digits, '_' and '-' "
        "starting with a letter (at most 32) (put it in quotes); found 42"
    ]
    # An undeclarable [skills] table: queues' skill references are not checked against it.
    assert errors_of(lambda d: d.update(skills="fault")) == [
        f"{SRC}: skills: expected a [skills] table of name = \"description\"; found 'fault'"
    ]


# ------------------------------------------------------------------ the AMI secret


def test_secret_env_must_be_set() -> None:
    assert error_of(lambda d: None, env={}) == (
        f"{SRC}: ami.secret_env: expected the environment variable HOTLINE_AMI_SECRET to "
        "hold the AMI secret; found it is not set"
    )
    assert error_of(lambda d: None, env={"HOTLINE_AMI_SECRET": ""}) == (
        f"{SRC}: ami.secret_env: expected the environment variable HOTLINE_AMI_SECRET to "
        "hold the AMI secret; found it is empty"
    )


def test_secret_needs_exactly_one_source() -> None:
    assert error_of(lambda d: d["ami"].pop("secret_env")) == (
        f"{SRC}: ami: expected secret_env (an environment variable) or secret_file (a file "
        "readable only by its owner) for the AMI secret; found neither (the secret itself "
        "never goes in this file)"
    )
    assert error_of(lambda d: d["ami"].update(secret_file="ami.secret")) == (
        f"{SRC}: ami.secret_file: expected either secret_env or secret_file; found both"
    )
    assert error_of(lambda d: d.pop("ami")) == (
        f"{SRC}: ami: required key is missing; expected an [ami] table with secret_env or "
        "secret_file"
    )


def _with_secret_file(tmp_path: Path, mode: int, content: str = "pa55word\n") -> Path:
    secret = tmp_path / "ami.secret"
    secret.write_text(content, encoding="utf-8")
    secret.chmod(mode)
    text = DEMO_TOML.replace('secret_env = "HOTLINE_AMI_SECRET"', 'secret_file = "ami.secret"')
    path = tmp_path / "hotline.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_secret_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = _with_secret_file(tmp_path, 0o644)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    secret = tmp_path / "ami.secret"
    assert str(info.value) == (
        f"{path}: ami.secret_file: expected a secret file that only its owner can read or "
        f"write (mode 0600 or 0400); found {secret} with mode 0644 (fix: chmod 600 {secret})"
    )
    assert "pa55word" not in str(info.value)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620])
def test_secret_file_group_or_world_bits_are_refused(tmp_path: Path, mode: int) -> None:
    with pytest.raises(ConfigError, match=f"found .* with mode {mode:04o}"):
        load_config(_with_secret_file(tmp_path, mode), env={})


def test_secret_file_0600_is_read_relative_to_the_config(tmp_path: Path) -> None:
    config = load_config(_with_secret_file(tmp_path, 0o600), env={})
    assert config.ami.secret == "pa55word"
    assert config.ami.secret_file == tmp_path / "ami.secret"
    assert "pa55word" not in repr(config)


def test_secret_file_missing_or_empty(tmp_path: Path) -> None:
    path = _with_secret_file(tmp_path, 0o600, content="\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert str(info.value) == (
        f"{path}: ami.secret_file: expected the AMI secret in {tmp_path / 'ami.secret'}; "
        "found the file empty"
    )
    (tmp_path / "ami.secret").unlink()
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert str(info.value) == (
        f"{path}: ami.secret_file: expected a readable secret file; found "
        f"{tmp_path / 'ami.secret'}: No such file or directory"
    )


# ------------------------------------------------------------------ the file itself


def test_toml_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "hotline.toml"
    path.write_text('[server]\nlisten = "127.0.0.1"\nhttp_port = 80 80\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, env=ENV)
    assert str(info.value) == (
        f"{path}: line 3, column 16: TOML syntax error: Expected newline or end of document "
        "after a statement"
    )
    assert info.value.issues == (
        Issue(
            str(path),
            "line 3, column 16",
            "TOML syntax error: Expected newline or end of document after a statement",
        ),
    )


def test_duplicate_toml_key_is_a_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "hotline.toml"
    path.write_text("[server]\nhttp_port = 1\nhttp_port = 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"hotline.toml: line 3, column 1.*Cannot overwrite"):
        load_config(path, env=ENV)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: cannot read the file: No such file or directory"


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "hotline.toml"
    path.write_bytes(b"[skills]\n\nfault = '\xb9\xca\xd5\xcf'\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: line 3: not valid UTF-8; expected a UTF-8 text file"


def test_config_error_is_complete_for_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "hotline.toml"
    path.write_text(EXAMPLE.read_text(encoding="utf-8").replace("8080", "0"), "utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, env=ENV)
    error = info.value
    assert error.exit_code == 2
    assert f"hotline: {error}" == (
        f"hotline: {path}: server.http_port: expected a port number 1..65535; found 0"
    )


def test_parse_config_resolves_relative_paths_from_base_dir() -> None:
    data = minimal()
    data["store"] = {"path": "db/h.db", "recordings_dir": "/data/rec"}
    config = parse_config(data, SRC, env=ENV, base_dir="/etc/hotline")
    assert config.store.path == Path("/etc/hotline/db/h.db")
    assert config.store.recordings_dir == Path("/data/rec")
    config = parse_config(data, SRC, env=ENV)
    assert config.store.path == Path("db/h.db")


def test_env_defaults_to_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTLINE_AMI_SECRET", "from-env")
    assert parse_config(minimal(), SRC).ami.secret == "from-env"
    assert os.environ["HOTLINE_AMI_SECRET"] == "from-env"
