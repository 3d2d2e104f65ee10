"""Seccomp: a hand-assembled BPF filter, installed through the ``seccomp`` syscall.

No libseccomp needed. The filter is a deny-list on top of "allow": it refuses (with
``EPERM``, so Python raises a clear ``PermissionError``) what student code never needs
and what could reach beyond its own process:

* sockets of any family (``socket``, ``socketpair``): no network, no Unix sockets;
* running programs (``execve``, ``execveat``);
* new processes: ``fork``/``vfork``, ``clone`` without ``CLONE_THREAD`` (threads are
  fine), ``clone3`` (answered ``ENOSYS`` so that glibc falls back to ``clone``, whose
  flags the filter can read);
* signals to any process but itself (``kill``/``tgkill`` only with its own pid;
  ``tkill``, ``rt_sigqueueinfo``, ``pidfd_*``);
* ``ptrace`` and cross-process memory access, new namespaces, mounts, kernel
  modules, keyrings, BPF, io_uring (which would bypass this filter), ``setsid`` and
  ``setpgid`` (leaving the process group that the grader kills), and the like.

A syscall from another ABI (x32, a foreign audit arch) kills the process.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct
from collections.abc import Iterable

# BPF instruction classes / fields
_LD, _W, _ABS = 0x00, 0x00, 0x20
_JMP, _JEQ, _JGE, _JSET, _K = 0x05, 0x10, 0x30, 0x40, 0x00
_RET = 0x06

SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000

AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_AARCH64 = 0xC00000B7

CLONE_THREAD = 0x00010000
TIOCSTI = 0x5412

# syscall numbers: name -> (x86_64, aarch64); None where the ABI has no such call
_NR: dict[str, tuple[int | None, int | None]] = {
    "socket": (41, 198), "socketpair": (53, 199),
    "execve": (59, 221), "execveat": (322, 281),
    "fork": (57, None), "vfork": (58, None), "clone": (56, 220), "clone3": (435, 435),
    "kill": (62, 129), "tkill": (200, 130), "tgkill": (234, 131),
    "rt_sigqueueinfo": (129, 138), "rt_tgsigqueueinfo": (297, 240),
    "pidfd_open": (434, 434), "pidfd_send_signal": (424, 424), "pidfd_getfd": (438, 438),
    "ptrace": (101, 117), "process_vm_readv": (310, 270), "process_vm_writev": (311, 271),
    "kcmp": (312, 272), "setsid": (112, 157), "setpgid": (109, 154),
    "unshare": (272, 97), "setns": (308, 268),
    "mount": (165, 40), "umount2": (166, 39), "pivot_root": (155, 41), "chroot": (161, 51),
    "open_tree": (428, 428), "move_mount": (429, 429), "fsopen": (430, 430),
    "fsconfig": (431, 431), "fsmount": (432, 432), "fspick": (433, 433),
    "mount_setattr": (442, 442),
    "init_module": (175, 105), "finit_module": (313, 273), "delete_module": (176, 106),
    "kexec_load": (246, 104), "kexec_file_load": (320, 294), "reboot": (169, 142),
    "swapon": (167, 224), "swapoff": (168, 225), "acct": (163, 89), "quotactl": (179, 60),
    "settimeofday": (164, 170), "clock_settime": (227, 112), "adjtimex": (159, 171),
    "clock_adjtime": (305, 266), "sethostname": (170, 161), "setdomainname": (171, 162),
    "syslog": (103, 116), "vhangup": (153, 58), "personality": (135, 92),
    "iopl": (172, None), "ioperm": (173, None),
    "bpf": (321, 280), "perf_event_open": (298, 241), "userfaultfd": (323, 282),
    "open_by_handle_at": (304, 265), "name_to_handle_at": (303, 264),
    "add_key": (248, 217), "request_key": (249, 218), "keyctl": (250, 219),
    "io_uring_setup": (425, 425), "io_uring_enter": (426, 426),
    "io_uring_register": (427, 427), "fanotify_init": (300, 262),
    "move_pages": (279, 239), "migrate_pages": (256, 238),
    "setuid": (105, 146), "setgid": (106, 144), "setreuid": (113, 145),
    "setregid": (114, 143), "setresuid": (117, 147), "setresgid": (119, 149),
    "setgroups": (116, 159), "setfsuid": (122, 151), "setfsgid": (123, 152),
    "capset": (126, 91), "ioctl": (16, 29), "prlimit64": (302, 261),
    "seccomp": (317, 277),
}

# refused outright with EPERM
DENIED = (
    "socket", "socketpair", "execve", "execveat", "fork", "vfork", "tkill",
    "rt_sigqueueinfo", "rt_tgsigqueueinfo", "pidfd_open", "pidfd_send_signal",
    "pidfd_getfd", "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "setsid",
    "setpgid", "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "open_tree",
    "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
    "reboot", "swapon", "swapoff", "acct", "quotactl", "settimeofday", "clock_settime",
    "adjtimex", "clock_adjtime", "sethostname", "setdomainname", "syslog", "vhangup",
    "personality", "iopl", "ioperm", "bpf", "perf_event_open", "userfaultfd",
    "open_by_handle_at", "name_to_handle_at", "add_key", "request_key", "keyctl",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "fanotify_init",
    "move_pages", "migrate_pages", "setuid", "setgid", "setreuid", "setregid",
    "setresuid", "setresgid", "setgroups", "setfsuid", "setfsgid", "capset",
)


def arch() -> tuple[int, int] | None:
    """(audit arch, index into _NR tuples) for this machine, or None if unsupported."""
    m = platform.machine().lower()
    if m in ("x86_64", "amd64") and struct.calcsize("P") == 8:
        return AUDIT_ARCH_X86_64, 0
    if m in ("aarch64", "arm64"):
        return AUDIT_ARCH_AARCH64, 1
    return None


class _Asm:
    """A tiny BPF assembler with forward labels."""

    def __init__(self) -> None:
        self.ins: list[tuple[int, int | str, int | str, int]] = []
        self.labels: dict[str, int] = {}

    def op(self, code: int, k: int, jt: int | str = 0, jf: int | str = 0) -> None:
        self.ins.append((code, jt, jf, k & 0xFFFFFFFF))

    def label(self, name: str) -> None:
        self.labels[name] = len(self.ins)

    def assemble(self) -> bytes:
        out = bytearray()
        for i, (code, jt, jf, k) in enumerate(self.ins):
            offs = []
            for j in (jt, jf):
                if isinstance(j, str):
                    d = self.labels[j] - i - 1
                    if not 0 <= d <= 255:
                        raise ValueError(f"seccomp jump to {j} out of range ({d})")
                    offs.append(d)
                else:
                    offs.append(j)
            out += struct.pack("=HBBI", code, offs[0], offs[1], k)
        return bytes(out)


def build_filter(own_pid: int, deny: Iterable[str] = DENIED) -> bytes:
    """The BPF program (raw ``sock_filter`` array) for this machine's ABI."""
    a = arch()
    if a is None:
        raise OSError(errno.ENOSYS, f"no seccomp syscall table for {platform.machine()}")
    audit, col = a
    nr: dict[str, int] = {}
    for name, v in _NR.items():
        n = v[col]
        if n is not None:
            nr[name] = n
    s = _Asm()
    s.op(_LD | _W | _ABS, 4)  # arch
    s.op(_JMP | _JEQ | _K, audit, 0, "kill")
    s.op(_LD | _W | _ABS, 0)  # syscall nr
    if audit == AUDIT_ARCH_X86_64:
        s.op(_JMP | _JGE | _K, 0x40000000, "kill", 0)  # x32 ABI
    for name in deny:
        if name in nr:
            s.op(_JMP | _JEQ | _K, nr[name], "eperm", 0)
    s.op(_JMP | _JEQ | _K, nr["clone3"], "enosys", 0)
    s.op(_JMP | _JEQ | _K, nr["clone"], "clone", 0)
    s.op(_JMP | _JEQ | _K, nr["kill"], "own_pid", 0)
    s.op(_JMP | _JEQ | _K, nr["tgkill"], "own_pid", 0)
    s.op(_JMP | _JEQ | _K, nr["prlimit64"], "self_only", 0)
    s.op(_JMP | _JEQ | _K, nr["ioctl"], "ioctl", 0)
    s.op(_RET | _K, SECCOMP_RET_ALLOW)
    # clone: only threads
    s.label("clone")
    s.op(_LD | _W | _ABS, 16)  # args[0] low 32 bits (flags)
    s.op(_JMP | _JSET | _K, CLONE_THREAD, "allow", "eperm")
    # kill/tgkill: first argument must be our own pid
    s.label("own_pid")
    s.op(_LD | _W | _ABS, 16)
    s.op(_JMP | _JEQ | _K, own_pid, 0, "eperm")
    s.op(_LD | _W | _ABS, 20)  # high half must be 0
    s.op(_JMP | _JEQ | _K, 0, "allow", "eperm")
    # prlimit64: pid 0 (self) or own pid only
    s.label("self_only")
    s.op(_LD | _W | _ABS, 16)
    s.op(_JMP | _JEQ | _K, 0, "allow", 0)
    s.op(_JMP | _JEQ | _K, own_pid, "allow", "eperm")
    # ioctl: no TIOCSTI (typing into a terminal)
    s.label("ioctl")
    s.op(_LD | _W | _ABS, 24)  # args[1] low
    s.op(_JMP | _JEQ | _K, TIOCSTI, "eperm", "allow")
    s.label("allow")
    s.op(_RET | _K, SECCOMP_RET_ALLOW)
    s.label("eperm")
    s.op(_RET | _K, SECCOMP_RET_ERRNO | errno.EPERM)
    s.label("enosys")
    s.op(_RET | _K, SECCOMP_RET_ERRNO | errno.ENOSYS)
    s.label("kill")
    s.op(_RET | _K, SECCOMP_RET_KILL_PROCESS)
    return s.assemble()


PR_SET_NO_NEW_PRIVS = 38
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1
_SYS_SECCOMP = {AUDIT_ARCH_X86_64: 317, AUDIT_ARCH_AARCH64: 277}


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def no_new_privs() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"prctl(PR_SET_NO_NEW_PRIVS): {os.strerror(e)}")


def install(own_pid: int | None = None) -> str:
    """Install the filter on this process (all its threads). Returns a description."""
    a = arch()
    if a is None:
        raise OSError(errno.ENOSYS, f"no seccomp syscall table for {platform.machine()}")
    prog = build_filter(os.getpid() if own_pid is None else own_pid)
    buf = ctypes.create_string_buffer(prog, len(prog))
    fprog = _SockFprog(len(prog) // 8, ctypes.cast(buf, ctypes.c_void_p))
    no_new_privs()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    r = libc.syscall(ctypes.c_long(_SYS_SECCOMP[a[0]]), ctypes.c_long(SECCOMP_SET_MODE_FILTER),
                     ctypes.c_long(SECCOMP_FILTER_FLAG_TSYNC), ctypes.byref(fprog))
    if r != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"seccomp(SET_MODE_FILTER): {os.strerror(e)}")
    return f"{len(prog) // 8} BPF instructions: no sockets, exec, fork, signals to others"
