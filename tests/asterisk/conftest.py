"""Fixtures for tests against a real Asterisk 22 (marker ``asterisk``).

* ``asterisk_install`` (session): provisions the cached chroot (first run: about a
  minute, network needed) or finds the host's Asterisk 22. If that is impossible the
  tests *fail* in CI (``CI=true``) and are skipped with the reason elsewhere.
* ``asterisk_netns`` (module): moves the test process's main thread into a fresh private
  network namespace (only ``lo``) for the module and back afterwards; provisioning is
  done before, since it needs the network.
* ``asterisk`` (module): the lab configuration (``lab-config/``) started inside that
  namespace; every test gets it running (restarted if a test stopped it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from cti.asterisk.errors import AsteriskError
from cti.asterisk.instance import AsteriskInstance, Ports
from cti.asterisk.netns import PrivateNetns
from cti.asterisk.provision import Install, ensure_install

LAB_CONFIG = Path(__file__).parent / "lab-config"
LAB_PORTS = Ports(ami=15038, sip=15060)
AMI_USER, AMI_SECRET = "cti", "ctisecret"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "asterisk: needs a real Asterisk (provisioned by the test setup)"
    )


def unavailable(reason: str) -> None:
    """Fail in CI, skip elsewhere."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"real Asterisk required in CI but unavailable: {reason}", pytrace=False)
    pytest.skip(f"real Asterisk unavailable: {reason}")


@pytest.fixture(scope="session")
def asterisk_install() -> Install:
    if os.geteuid() != 0:
        unavailable("needs root (chroot, namespaces); run the tests as root")
    try:
        return ensure_install()
    except AsteriskError as error:
        unavailable(error.line())
        raise  # not reached


@pytest.fixture(scope="module")
def asterisk_netns(asterisk_install: Install) -> Iterator[PrivateNetns]:
    try:
        netns = PrivateNetns.enter()
    except AsteriskError as error:
        unavailable(error.line())
        raise
    try:
        yield netns
    finally:
        netns.restore()


@pytest.fixture(scope="module")
def asterisk_module(
    asterisk_install: Install,
    asterisk_netns: PrivateNetns,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[AsteriskInstance]:
    instance = AsteriskInstance(
        asterisk_install,
        LAB_CONFIG,
        LAB_PORTS,
        state_dir=tmp_path_factory.mktemp("asterisk-state"),
    )
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture
def asterisk(asterisk_module: AsteriskInstance) -> AsteriskInstance:
    """The lab Asterisk, running (started in the main thread: PDEATHSIG is per thread)."""
    if not asterisk_module.status().running:
        asterisk_module.start()
    return asterisk_module
