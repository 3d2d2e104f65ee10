"""Landlock: the file-system allow-list (and, from ABI 4/6, TCP and signal scoping).

Unprivileged and stackable (Linux 5.13+). After :func:`restrict`, the process and
everything it starts can only open what a rule allows: read-only rules for the
Python installation, the student's own files and the assignment's data folder,
read-write for the scratch folder. ABI 4+ also refuses every TCP ``bind``/``connect``
(no rule allows any port); ABI 6+ scopes abstract Unix sockets and signals to the
sandbox itself.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
from collections.abc import Iterable
from pathlib import Path

SYS_CREATE_RULESET = 444
SYS_ADD_RULE = 445
SYS_RESTRICT_SELF = 446
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1

EXECUTE = 1 << 0
WRITE_FILE = 1 << 1
READ_FILE = 1 << 2
READ_DIR = 1 << 3
REMOVE_DIR = 1 << 4
REMOVE_FILE = 1 << 5
MAKE_CHAR = 1 << 6
MAKE_DIR = 1 << 7
MAKE_REG = 1 << 8
MAKE_SOCK = 1 << 9
MAKE_FIFO = 1 << 10
MAKE_BLOCK = 1 << 11
MAKE_SYM = 1 << 12
REFER = 1 << 13  # ABI 2
TRUNCATE = 1 << 14  # ABI 3
IOCTL_DEV = 1 << 15  # ABI 5

NET_BIND_TCP = 1 << 0
NET_CONNECT_TCP = 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
SCOPE_SIGNAL = 1 << 1

FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV
READ = READ_FILE | READ_DIR
WRITE = (WRITE_FILE | REMOVE_DIR | REMOVE_FILE | MAKE_DIR | MAKE_REG | MAKE_SYM | REFER
         | TRUNCATE)


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def abi_version() -> int:
    """The Landlock ABI this kernel offers (0: none)."""
    try:
        r = _libc().syscall(ctypes.c_long(SYS_CREATE_RULESET), None, ctypes.c_size_t(0),
                            ctypes.c_uint32(CREATE_RULESET_VERSION))
    except (OSError, AttributeError):
        return 0
    return int(r) if r > 0 else 0


def _handled_fs(abi: int) -> int:
    rights = (EXECUTE | WRITE_FILE | READ_FILE | READ_DIR | REMOVE_DIR | REMOVE_FILE
              | MAKE_CHAR | MAKE_DIR | MAKE_REG | MAKE_SOCK | MAKE_FIFO | MAKE_BLOCK | MAKE_SYM)
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    if abi >= 5:
        rights |= IOCTL_DEV
    return rights


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def restrict(read: Iterable[str | Path], write: Iterable[str | Path],
             devices: Iterable[str | Path] = ()) -> str:
    """Restrict this process to the given paths. Paths that do not exist are skipped.

    ``read``: read files and list folders beneath; ``write``: also create, change and
    delete beneath; ``devices``: read/write and ioctl (GPU device nodes).
    Returns a description; raises OSError when Landlock is not available.
    """
    abi = abi_version()
    if abi < 1:
        raise OSError(errno.ENOSYS, "Landlock is not available in this kernel")
    handled = _handled_fs(abi)
    net = (NET_BIND_TCP | NET_CONNECT_TCP) if abi >= 4 else 0
    scoped = (SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL) if abi >= 6 else 0
    attr = (ctypes.c_uint64 * 3)(handled, net, scoped)
    size = 8 if abi < 4 else (16 if abi < 6 else 24)
    libc = _libc()
    fd = libc.syscall(ctypes.c_long(SYS_CREATE_RULESET), ctypes.byref(attr), ctypes.c_size_t(size),
                      ctypes.c_uint32(0))
    if fd < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"landlock_create_ruleset: {os.strerror(e)}")
    rules = 0
    try:
        groups = ((read, READ), (write, READ | WRITE),
                  (devices, READ_FILE | WRITE_FILE | (IOCTL_DEV if abi >= 5 else 0)))
        for paths, rights in groups:
            for p in paths:
                rights_here = rights & handled
                try:
                    pfd = os.open(str(p), os.O_PATH | os.O_CLOEXEC)
                except OSError:
                    continue
                try:
                    if not stat.S_ISDIR(os.fstat(pfd).st_mode):
                        rights_here &= FILE_RIGHTS
                    rule = _PathBeneath(rights_here, pfd)
                    r = libc.syscall(ctypes.c_long(SYS_ADD_RULE), ctypes.c_int(fd),
                                     ctypes.c_int(RULE_PATH_BENEATH), ctypes.byref(rule),
                                     ctypes.c_uint32(0))
                    if r != 0:
                        e = ctypes.get_errno()
                        raise OSError(e, f"landlock_add_rule({p}): {os.strerror(e)}")
                    rules += 1
                finally:
                    os.close(pfd)
        r = libc.syscall(ctypes.c_long(SYS_RESTRICT_SELF), ctypes.c_int(fd), ctypes.c_uint32(0))
        if r != 0:
            e = ctypes.get_errno()
            raise OSError(e, f"landlock_restrict_self: {os.strerror(e)}")
    finally:
        os.close(fd)
    extra = []
    if net:
        extra.append("no TCP bind/connect")
    if scoped:
        extra.append("signals and abstract sockets scoped")
    return f"ABI {abi}, {rules} path rules" + (f"; {', '.join(extra)}" if extra else "")
