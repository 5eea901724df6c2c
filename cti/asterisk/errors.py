"""Typed errors of the Asterisk provisioning: one clear line, then what to do about it."""

from __future__ import annotations


class AsteriskError(Exception):
    """Base class. ``str(error)`` is one line: what failed, then the remedy."""

    def __init__(self, message: str, remedy: str = "", detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.remedy = remedy
        self.detail = detail  # e.g. the tail of Asterisk's log, shown after the line

    def line(self) -> str:
        """What failed and what to do, on one line."""
        return f"{self.message} (fix: {self.remedy})" if self.remedy else self.message

    def __str__(self) -> str:
        return f"{self.line()}\n{self.detail}" if self.detail else self.line()


class NotRootError(AsteriskError):
    """Chroot, namespaces and bind mounts need root."""


class ProvisionError(AsteriskError):
    """The chroot could not be built."""


class DebootstrapError(ProvisionError):
    """debootstrap could not be installed or failed (most often: no network)."""


class AptError(ProvisionError):
    """apt-get failed on the host or inside the chroot."""


class NamespaceError(AsteriskError):
    """A network or mount namespace could not be made or joined."""


class ConfigError(AsteriskError):
    """The Asterisk configuration is unsafe or inconsistent (e.g. a bind off loopback)."""


class StartError(AsteriskError):
    """Asterisk did not start or its AMI port did not open in time."""


class NotRunningError(AsteriskError):
    """An operation needs a running Asterisk and there is none."""
