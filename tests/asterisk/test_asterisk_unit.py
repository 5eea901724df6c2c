"""Provisioning and configuration logic that needs neither root nor a real Asterisk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cti.asterisk import provision
from cti.asterisk.cli import main
from cti.asterisk.errors import (
    AptError,
    ConfigError,
    DebootstrapError,
    NotRootError,
    ProvisionError,
    StartError,
)
from cti.asterisk.instance import (
    AsteriskInstance,
    Ports,
    _acquire_use_lock,
    _is_server_cmdline,
    _release_use_lock,
    check_loopback,
    install_config,
)
from cti.asterisk.modules_conf import MODULES_CONF, check_modules_conf, loaded_modules
from cti.asterisk.provision import Install, in_root, parse_version
from cti.asterisk.voicemail_conf import NO_MAILBOXES

from .conftest import LAB_CONFIG

SHARED_LAB = Path(__file__).resolve().parents[3] / "shared" / "ami-transcripts" / "config"


def fake_chroot(tmp_path: Path) -> Install:
    """A directory shaped like a provisioned chroot (stock config in etc/asterisk.dist)."""
    root = tmp_path / "root"
    dist = root / "etc/asterisk.dist"
    dist.mkdir(parents=True)
    (dist / "modules.conf").write_text("[modules]\nautoload=yes\n")
    (dist / "asterisk.conf").write_text("[options]\nverbose=3\n")
    (dist / "iax.conf").write_text("[general]\nbindport=4569\n")
    (dist / "voicemail.conf").write_text("[default]\n1234 => 4242,Example,root@localhost\n")
    (root / "usr/sbin").mkdir(parents=True)
    (root / "usr/sbin/asterisk").write_text("")
    (root / "run").mkdir()
    (root / "var").mkdir()
    (root / "var/run").symlink_to("/run")
    (root / "etc/resolv.conf").write_text("")
    return Install("chroot", root, "22.0.0", tmp_path)


def write_stamp(cache: Path) -> None:
    fake_chroot(cache)
    (cache / "stamp.json").write_text(
        json.dumps({"format": provision.STAMP_FORMAT, "asterisk_version": "22.9.9"})
    )


# ------------------------------------------------------------------ modules.conf


def test_curated_modules_conf_is_safe_and_complete() -> None:
    modules = loaded_modules(MODULES_CONF)
    assert check_modules_conf(MODULES_CONF) == []
    assert len(modules) == len(set(modules)) > 80
    for needed in (
        "chan_pjsip.so",
        "app_queue.so",
        "res_agi.so",
        "res_speech.so",
        "app_voicemail.so",
    ):
        assert needed in modules
    # res_pjsip_exten_state loads only with res_pjsip_outbound_publish (lab finding)
    assert "res_pjsip_outbound_publish.so" in modules


@pytest.mark.skipif(not SHARED_LAB.is_dir(), reason="../shared/ami-transcripts not present")
def test_lab_modules_conf_passes_and_is_a_subset() -> None:
    lab = (SHARED_LAB / "modules.conf").read_text()
    assert check_modules_conf(lab) == []
    assert set(loaded_modules(lab)) <= set(loaded_modules(MODULES_CONF))


def test_unsafe_modules_conf_is_named() -> None:
    problems = check_modules_conf("[modules]\nautoload=yes\nload => chan_iax2.so\n")
    assert len(problems) == 2
    assert "autoload=no" in problems[0]
    assert "chan_iax2.so" in problems[1]
    assert check_modules_conf("[modules]\nautoload=no\n;load => chan_iax2.so\n") == []


# ------------------------------------------------------------------ config install


def test_install_config_resets_stock_and_lays_lab_config_over_it(tmp_path: Path) -> None:
    install = fake_chroot(tmp_path)
    etc = install.etc_dir
    etc.mkdir(parents=True)
    (etc / "leftover-from-last-run.conf").write_text("x")
    install_config(install, LAB_CONFIG, Ports(15038, 15060), say=lambda _: None)
    assert not (etc / "leftover-from-last-run.conf").exists()
    assert (etc / "iax.conf").exists()  # stock files stay (unused: chan_iax2 not loaded)
    assert (etc / "modules.conf").read_text() == MODULES_CONF
    # the lab brings no voicemail.conf: never the stock sample's mailbox 1234 and e-mail
    assert (etc / "voicemail.conf").read_text() == NO_MAILBOXES
    assert (etc / "queues.conf").read_text() == (LAB_CONFIG / "queues.conf").read_text()
    assert (etc / "manager.conf").read_text() == (LAB_CONFIG / "manager.conf").read_text()
    assert Ports.from_config(etc) == Ports(15038, 15060)


def test_install_config_keeps_a_generated_voicemail_conf(tmp_path: Path) -> None:
    install = fake_chroot(tmp_path)
    config = tmp_path / "conf"
    config.mkdir()
    (config / "voicemail.conf").write_text("[general]\nformat=wav\n[after-hours]\n100 => 1,x,,\n")
    install_config(install, config, Ports(15038, 15060), say=lambda _: None)
    text = (install.etc_dir / "voicemail.conf").read_text()
    assert text == (config / "voicemail.conf").read_text()
    install_config(install, None, Ports(15038, 15060), say=lambda _: None)
    assert (install.etc_dir / "voicemail.conf").read_text() == NO_MAILBOXES


def test_install_config_applies_other_ports(tmp_path: Path) -> None:
    install = fake_chroot(tmp_path)
    install_config(install, LAB_CONFIG, Ports(25038, 25060), say=lambda _: None)
    assert Ports.from_config(install.etc_dir) == Ports(25038, 25060)
    manager = (install.etc_dir / "manager.conf").read_text()
    assert "port = 25038" in manager and "bindaddr = 127.0.0.1" in manager
    assert "[cti]" in manager and "secret = ctisecret" in manager  # nothing else changed
    assert "bind=127.0.0.1:25060" in (install.etc_dir / "pjsip.conf").read_text()


def test_bind_off_loopback_is_refused(tmp_path: Path) -> None:
    install = fake_chroot(tmp_path)
    config = tmp_path / "conf"
    config.mkdir()
    (config / "manager.conf").write_text("[general]\nenabled=yes\nport=5038\nbindaddr=0.0.0.0\n")
    (config / "pjsip.conf").write_text("[t]\ntype=transport\nprotocol=udp\nbind=0.0.0.0:5060\n")
    with pytest.raises(ConfigError) as caught:
        install_config(install, config, Ports(5038, 5060), say=lambda _: None)
    assert "AMI bindaddr 0.0.0.0" in str(caught.value)
    assert "transport bind 0.0.0.0:5060" in str(caught.value)
    assert check_loopback(LAB_CONFIG) == []


def test_unsafe_modules_conf_in_config_dir_is_refused(tmp_path: Path) -> None:
    install = fake_chroot(tmp_path)
    config = tmp_path / "conf"
    config.mkdir()
    (config / "modules.conf").write_text("[modules]\nautoload=yes\n")
    with pytest.raises(ConfigError, match="autoload=no"):
        install_config(install, config, Ports(), say=lambda _: None)


def test_paths_resolve_inside_the_chroot(tmp_path: Path) -> None:
    install = fake_chroot(tmp_path)
    # Debian's var/run -> /run must not lead to the host's /run
    assert install.run_dir == install.root / "run/asterisk"
    assert in_root(install.root, "/var/run/../etc/resolv.conf") == install.resolv_conf
    assert install.argv("-rx", "core show uptime")[:3] == [
        "chroot",
        str(install.root),
        "/usr/sbin/asterisk",
    ]


def test_parse_version() -> None:
    assert parse_version("Asterisk 22.10.1+dfsg+~cs6.17.60671434-1\n") == (
        "22.10.1+dfsg+~cs6.17.60671434-1",
        22,
    )
    with pytest.raises(ProvisionError):
        parse_version("bash: asterisk: not found")


def test_remote_consoles_are_not_servers() -> None:
    assert _is_server_cmdline(["/usr/sbin/asterisk", "-f", "-n"])
    assert _is_server_cmdline(["asterisk", "-C", "/x/asterisk.conf", "-f"])
    assert not _is_server_cmdline(["asterisk", "-rx", "core show channels"])
    assert not _is_server_cmdline(["asterisk", "-C", "/x", "-r"])


# ------------------------------------------------------------------ provisioning


def test_stamp_makes_provisioning_instant_without_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_stamp(tmp_path)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("HOTLINE_ASTERISK_CHROOT", "1")
    t0 = time.monotonic()
    install = provision.ensure_install(tmp_path)
    assert time.monotonic() - t0 < 0.5
    assert install.kind == "chroot" and install.version == "22.9.9"
    assert install.root == tmp_path.resolve() / "root"


def test_not_root_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(NotRootError) as caught:
        provision.ensure_chroot(tmp_path / "cache")
    assert "needs root" in caught.value.line() and "sudo" in caught.value.line()


def test_debootstrap_failure_names_the_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(provision, "_host_debootstrap", lambda say, log_file: "/bin/false")
    with pytest.raises(DebootstrapError) as caught:
        provision.ensure_chroot(tmp_path / "cache", mirror="http://127.0.0.1:9/debian")
    line = caught.value.line()
    assert "debootstrap sid from http://127.0.0.1:9/debian" in line
    assert "network" in line
    assert provision.read_stamp(tmp_path / "cache") is None


def test_failed_command_quotes_its_output() -> None:
    with pytest.raises(AptError) as caught:
        provision._run(
            ["sh", "-c", "echo 'E: Unable to locate package asterisk'; exit 100"],
            AptError,
            "apt-get install in the chroot",
            "is the network reachable?",
        )
    line = caught.value.line()
    assert "exit 100" in line and "Unable to locate package asterisk" in line
    assert line.endswith("(fix: is the network reachable?)")


def test_concurrent_provisioning_builds_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    builds: list[int] = []

    def fake_build(cache_dir: Path, mirror: str, say: provision.Say) -> None:
        builds.append(threading.get_native_id())
        time.sleep(0.3)
        write_stamp(cache_dir)

    monkeypatch.setattr(provision, "_build", fake_build)
    cache = tmp_path / "cache"
    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(provision.ensure_chroot(cache)))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(builds) == 1
    assert results == [cache.resolve() / "root"] * 3


# ------------------------------------------------------------------ CLI without Asterisk


def test_cli_status_without_provisioning_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOTLINE_ASTERISK_CHROOT", "1")
    assert main(["--cache-dir", str(tmp_path), "status"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "hotline asterisk provision" in err


def test_cli_status_and_rx_when_down(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOTLINE_ASTERISK_CHROOT", "1")
    write_stamp(tmp_path)
    assert main(["--cache-dir", str(tmp_path), "status"]) == 3
    assert capsys.readouterr().out.strip() == "down"
    assert main(["--cache-dir", str(tmp_path), "rx", "core", "show", "channels"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no Asterisk control socket" in err
    assert main(["--cache-dir", str(tmp_path), "down"]) == 0
    assert "already down" in capsys.readouterr().out


def test_cli_up_needs_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOTLINE_ASTERISK_CHROOT", "1")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    write_stamp(tmp_path)
    assert main(["--cache-dir", str(tmp_path), "up"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs root" in err


def test_instance_status_down_without_state(tmp_path: Path) -> None:
    instance = AsteriskInstance(fake_chroot(tmp_path).root, None, state_dir=tmp_path / "s")
    status = instance.status()
    assert not status.running and status.describe() == "down"
    assert instance.stop() is None


def test_a_second_process_waits_for_the_install(tmp_path: Path) -> None:
    install = fake_chroot(tmp_path)
    lock = install.state_dir / "instance.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            f"fd = os.open({str(lock)!r}, os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, str(os.getpid()).encode())\n"
            "print('locked', flush=True); time.sleep(30)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        said: list[str] = []
        with pytest.raises(StartError, match="another process keeps an Asterisk"):
            _acquire_use_lock(install, said.append, wait_s=0.3)
        assert said == [f"waiting for PID {holder.pid}, which runs an Asterisk from {install.root}"]
    finally:
        holder.kill()
        holder.wait()
    _acquire_use_lock(install, said.append, wait_s=2)  # free again
    _acquire_use_lock(install, said.append, wait_s=0)  # re-entrant within a process
    _release_use_lock(install)
    _release_use_lock(install)
    assert lock.read_text() == ""


def test_system_asterisk_keeps_everything_in_the_state_dir(tmp_path: Path) -> None:
    """With the host's own /usr/sbin/asterisk, /etc/asterisk is only read (as the stock
    files); the configuration and every writable directory live in the state dir."""
    install = Install("system", Path("/"), "22.0.0", tmp_path / "system")
    install_config(install, LAB_CONFIG, Ports(15038, 15060), say=lambda _: None)
    conf = install.etc_dir / "asterisk.conf"
    text = conf.read_text()
    assert f"astetcdir => {install.etc_dir}" in text
    assert f"astrundir => {tmp_path / 'system/run'}" in text
    assert f"astspooldir => {tmp_path / 'system/spool'}" in text
    assert install.ctl_path == tmp_path / "system/run/asterisk.ctl"
    assert install.argv("-f")[:3] == ["/usr/sbin/asterisk", "-C", str(conf)]
    assert (install.etc_dir / "queues.conf").is_file()
    assert install.resolv_conf == Path("/etc/resolv.conf")  # hidden in a private mount ns


def test_shared_directories_are_bind_mounted_inside_the_chroot(tmp_path: Path) -> None:
    install = fake_chroot(tmp_path)
    host = tmp_path / "demo var" / "recordings"  # a space: the script must quote it
    host.mkdir(parents=True)
    shares = {"/var/spool/asterisk/monitor/hotline": host}
    instance = AsteriskInstance(install, None, state_dir=tmp_path / "s", shares=shares)
    argv = instance._launch_argv(tmp_path / "empty")
    script = argv[argv.index("-c") + 1]
    target = install.root / "var/spool/asterisk/monitor/hotline"
    assert f"mount --bind '{host}' {target}" in script.splitlines()
    assert f"mkdir -p {target}" in script.splitlines()


@pytest.mark.parametrize(
    ("kind", "inside", "exists", "error"),
    [
        ("system", "/var/spool/x", True, "not a chroot"),
        ("chroot", "var/spool/x", True, "not an absolute chroot path"),
        ("chroot", "/var/../etc", True, "not an absolute chroot path"),
        ("chroot", "/var/spool/x", False, "does not exist"),
    ],
)
def test_bad_shared_directories_are_refused(
    tmp_path: Path, kind: str, inside: str, exists: bool, error: str
) -> None:
    install = fake_chroot(tmp_path)
    if kind == "system":
        install = Install("system", Path("/"), "22.0.0", tmp_path / "system")
    host = tmp_path / "shared"
    if exists:
        host.mkdir()
    with pytest.raises(ConfigError, match=error):
        AsteriskInstance(install, None, state_dir=tmp_path / "s", shares={inside: host})
