"""Private network namespaces: nothing inside can reach past loopback.

Two tools:

* :class:`PrivateNetns` moves the *calling thread* (use the main thread, before the event
  loop starts threads) into a new network namespace that has only ``lo``, and can move it
  back. Processes started from that thread (Asterisk, ``ss``) inherit the namespace; the
  sockets the thread opens (asyncio's, in the main thread) live there too. The pytest
  fixtures use this: provision first (network needed), then isolate, then start Asterisk.
* :func:`netns_exec` replaces the current process by a command that runs in a new network
  *and* mount namespace (``unshare --net --mount --propagation private`` + ``lo`` up):
  ``hotline asterisk netns -- python -m pytest -m asterisk`` runs a whole test session
  inside one.

Linux only, root only (CAP_SYS_ADMIN).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import os
import socket
import struct
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from cti.asterisk.errors import NamespaceError

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MS_BIND = 0x1000
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
PR_SET_PDEATHSIG = 1

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        remedy = "run as root (CAP_SYS_ADMIN)" if code in (errno.EPERM, errno.EACCES) else ""
        raise NamespaceError(f"{what}: {os.strerror(code)}", remedy)


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def setns(fd: int, nstype: int) -> None:
    _check(_libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns")


def make_mounts_private() -> None:
    """``mount --make-rprivate /`` for the current mount namespace."""
    _check(
        _libc.mount(None, b"/", None, ctypes.c_ulong(MS_REC | MS_PRIVATE), None),
        "mount --make-rprivate /",
    )


def bind_mount(source: Path, target: Path) -> None:
    _check(
        _libc.mount(bytes(source), bytes(target), None, ctypes.c_ulong(MS_BIND), None),
        f"mount --bind {source} {target}",
    )


def set_pdeathsig(sig: int) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent thread exits."""
    _libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)


def loopback_up() -> None:
    """``ip link set lo up`` in the calling thread's network namespace (an ioctl, so no
    dependency on iproute2)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(sock, SIOCGIFFLAGS, request))[1]
        if not flags & IFF_UP:
            fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | IFF_UP))


def interfaces() -> list[str]:
    """Network interfaces of the calling thread's namespace."""
    return sorted(name for _, name in socket.if_nameindex())


def is_isolated() -> bool:
    """True when the calling thread's network namespace has nothing but ``lo``."""
    return interfaces() == ["lo"]


def _thread_ns_path() -> str:
    return f"/proc/self/task/{threading.get_native_id()}/ns/net"


def current_netns_id() -> str:
    """An identifier of the calling thread's network namespace, like ``net:[4026531840]``."""
    return os.readlink(_thread_ns_path())


class PrivateNetns:
    """Move the calling thread into a fresh network namespace (only ``lo``, up).

    ``restore()`` moves it back. If the thread already is in a namespace with only ``lo``
    (e.g. the whole pytest run was started by ``netns_exec``), nothing is changed.
    """

    def __init__(self) -> None:
        self.entered = False
        self.thread_id = threading.get_native_id()
        self._original_fd: int | None = None

    @classmethod
    def enter(cls) -> PrivateNetns:
        ns = cls()
        if is_isolated():
            loopback_up()
            return ns
        fd = os.open(_thread_ns_path(), os.O_RDONLY | os.O_CLOEXEC)
        try:
            unshare(CLONE_NEWNET)
        except NamespaceError:
            os.close(fd)
            raise
        ns._original_fd = fd
        ns.entered = True
        loopback_up()
        return ns

    @classmethod
    def join(cls, pid: int) -> PrivateNetns:
        """Move the calling thread into the network namespace of process ``pid`` (an
        Asterisk started with ``netns="private"``); ``restore()`` moves it back.

        The demo pattern: open the HTTP listening socket first (it stays in the host's
        namespace, where the browser is), then join Asterisk's namespace, so AMI, FastAGI
        and softphone sockets made afterwards are beside Asterisk, behind loopback."""
        ns = cls()
        target = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        fd = os.open(_thread_ns_path(), os.O_RDONLY | os.O_CLOEXEC)
        try:
            setns(target, CLONE_NEWNET)
        except NamespaceError:
            os.close(fd)
            raise
        finally:
            os.close(target)
        ns._original_fd = fd
        ns.entered = True
        return ns

    @contextlib.contextmanager
    def outside(self) -> Iterator[None]:
        """Run the block back in the original namespace (sockets made there stay there)."""
        if self._original_fd is None:
            yield
            return
        inside = os.open(_thread_ns_path(), os.O_RDONLY | os.O_CLOEXEC)
        try:
            setns(self._original_fd, CLONE_NEWNET)
            try:
                yield
            finally:
                setns(inside, CLONE_NEWNET)
        finally:
            os.close(inside)

    def restore(self) -> None:
        if self._original_fd is None:
            return
        if threading.get_native_id() != self.thread_id:
            raise NamespaceError("PrivateNetns.restore() called from another thread")
        try:
            setns(self._original_fd, CLONE_NEWNET)
        finally:
            os.close(self._original_fd)
            self._original_fd = None
            self.entered = False


@contextlib.contextmanager
def in_netns_of(pid: int) -> Iterator[None]:
    """Run the block with the calling thread in the network namespace of process ``pid``.

    Sockets keep the namespace they were made in, so a socket opened in the block can be
    used after it (that is how the AMI port of an isolated Asterisk is polled)."""
    target = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    original = os.open(_thread_ns_path(), os.O_RDONLY | os.O_CLOEXEC)
    try:
        if os.readlink(f"/proc/{pid}/ns/net") == os.readlink(_thread_ns_path()):
            yield
            return
        setns(target, CLONE_NEWNET)
        try:
            yield
        finally:
            setns(original, CLONE_NEWNET)
    finally:
        os.close(target)
        os.close(original)


def netns_exec(argv: Sequence[str]) -> None:
    """Replace this process by ``argv`` running in a new network and mount namespace.

    Equivalent to ``unshare --net --mount --propagation private sh -c 'ip link set lo up
    && exec ARGV'``, done with syscalls. Call it from a single-threaded process (a CLI).
    Provision Asterisk *before* (it needs the network). Does not return.
    """
    if not argv:
        raise NamespaceError("netns_exec: no command given")
    if threading.active_count() > 1:
        raise NamespaceError("netns_exec must be called from a single-threaded process")
    unshare(CLONE_NEWNET | CLONE_NEWNS)
    make_mounts_private()
    loopback_up()
    os.environ["HOTLINE_NETNS"] = "private"
    try:
        os.execvp(argv[0], list(argv))
    except OSError as exc:
        raise NamespaceError(f"cannot run {argv[0]}: {exc.strerror}") from exc
