"""The isolation layers, applied in the forked child before any student code runs.

Two processes per sandbox (both forked from the zygote, which has imported
TensorFlow but run no op, so neither inherits a thread pool):

``outer`` (in the keeper, which then supervises the student process): a new session
and process group, ``PR_SET_PDEATHSIG``, new mount/net/pid/ipc/uts namespaces, the
mounts (every mount read-only, the scratch folder a fresh size-capped tmpfs). The
worker moves the student process (not the keeper) into the cgroup that caps its
memory and processes.

``inner`` (the student process, pid 1 of its pid namespace): a fresh ``/proc``, a user
namespace (so it holds no capability outside it), then no capabilities at all, a
clean environment, every inherited descriptor closed but stdin (``/dev/null``),
stdout/stderr (a pipe to the supervisor) and the result channel (moved to a random
high number), rlimits, ``PR_SET_NO_NEW_PRIVS``, Landlock and seccomp.

Each layer that cannot be applied here (older kernel, no privileges, macOS) is
skipped and recorded, and the others still apply.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import random
import signal
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

from grader.sandbox import landlock, seccomp
from grader.sandbox.limits import Cgroup, RunLimits, apply_rlimits

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4

IS_LINUX = sys.platform.startswith("linux")


@dataclass(frozen=True)
class Layer:
    name: str
    active: bool
    detail: str = ""

    def as_list(self) -> list[object]:
        return [self.name, self.active, self.detail]


@dataclass
class Plan:
    """Everything the sandbox processes need, decided by the supervisor before fork."""

    scratch: str
    code_dir: str
    read_paths: list[str]
    limits: RunLimits
    zygote_pid: int
    cgroup: Cgroup | None = None
    devices: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    namespaces: bool = True
    landlock: bool = True
    seccomp: bool = True


# --------------------------------------------------------------------------- libc helpers
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(r: int, what: str) -> None:
    if r != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


def prctl(option: int, arg2: int = 0) -> None:
    lib = _libc()
    lib.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                          ctypes.c_ulong]
    _check(lib.prctl(option, arg2, 0, 0, 0), f"prctl({option})")


def unshare(flags: int) -> None:
    _check(_libc().unshare(ctypes.c_int(flags)), "unshare")


def mount(src: str | None, target: str, fstype: str | None, flags: int,
          data: str | None = None) -> None:
    lib = _libc()
    lib.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                          ctypes.c_char_p]
    def enc(s: str | None) -> bytes | None:
        return s.encode() if s is not None else None

    _check(lib.mount(enc(src), enc(target), enc(fstype), flags, enc(data)), f"mount {target}")


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


_OPT_FLAGS = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC,
              "noatime": MS_NOATIME, "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME,
              "strictatime": MS_STRICTATIME}


def _mountpoints() -> list[tuple[str, int]]:
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        parts = line.split(" - ")[0].split()
        mp = parts[4].replace("\\040", " ")
        flags = 0
        for o in parts[5].split(","):
            flags |= _OPT_FLAGS.get(o, 0)
        out.append((mp, flags))
    return out


# --------------------------------------------------------------------------- outer
def outer(plan: Plan) -> list[Layer]:
    """In the keeper, right after fork (single-threaded). Never raises."""
    layers: list[Layer] = []
    if not IS_LINUX:
        os.setsid()
        return [Layer("session", True, "own session and process group")]
    os.setsid()
    layers.append(Layer("session", True, "own session and process group (killed as a group)"))
    try:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != plan.zygote_pid:
            os._exit(70)
        layers.append(Layer("pdeathsig", True, "killed if the grader's worker dies"))
    except OSError as exc:
        layers.append(Layer("pdeathsig", False, str(exc)))
    if plan.namespaces:
        layers += _namespaces(plan)
    return layers


def _namespaces(plan: Plan) -> list[Layer]:
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
    userns_early = False
    try:
        unshare(flags)
    except OSError as exc:
        if exc.errno != errno.EPERM:
            return [Layer("namespaces", False, str(exc))]
        # not root: a user namespace first gives the rights for the others
        try:
            uid, gid = os.geteuid(), os.getegid()
            unshare(CLONE_NEWUSER | flags)
            _map_ids(uid, gid)
            userns_early = True
        except OSError as exc2:
            return [Layer("namespaces", False, f"unshare: {exc2}")]
    layers = [Layer("net-ns", True, "no network interfaces"),
              Layer("pid-ns", True, "sees only its own process"),
              Layer("ipc-ns", True, "own System V IPC"),
              Layer("mount-ns", True, "own mount table")]
    if userns_early:
        layers.append(Layer("user-ns", True, "unprivileged user namespace"))
    try:
        mount(None, "/", None, MS_REC | MS_PRIVATE)
        mount("tmpfs", plan.scratch, "tmpfs", MS_NOSUID | MS_NODEV,
              f"size={plan.limits.disk_mb}m,mode=0777")
        bad = []
        for mp, mflags in _mountpoints():
            if mp == plan.scratch or mp.startswith(plan.scratch + "/"):
                continue
            try:
                mount(None, mp, None, MS_REMOUNT | MS_BIND | MS_RDONLY | mflags)
            except OSError as exc:
                bad.append(f"{mp}: {exc.strerror}")
        if bad:
            layers.append(Layer("read-only-fs", False, "; ".join(bad[:3])))
        else:
            layers.append(Layer("read-only-fs", True,
                                f"every mount read-only; scratch: tmpfs of "
                                f"{plan.limits.disk_mb} MB"))
    except OSError as exc:
        layers.append(Layer("read-only-fs", False, str(exc)))
    return layers


def _map_ids(uid: int, gid: int) -> None:
    _write("/proc/self/uid_map", f"{uid} {uid} 1\n")
    with contextlib.suppress(OSError):
        _write("/proc/self/setgroups", "deny")
    _write("/proc/self/gid_map", f"{gid} {gid} 1\n")


# --------------------------------------------------------------------------- inner
def inner_early(plan: Plan, out_w: int, chan_w: int, keep: tuple[int, ...] = ()
                ) -> tuple[list[Layer], int]:
    """In the student process before it knows its submission: pdeathsig, /proc, user
    namespace, fds (``keep``: the supervisor's pipe, closed later), environment.
    Returns (layers, channel fd)."""
    layers: list[Layer] = []
    if IS_LINUX:
        with contextlib.suppress(OSError):
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if plan.namespaces and os.getpid() == 1:
            # a fresh /proc for the pid namespace (writable: uid_map is written below;
            # Landlock never allows writing there)
            with contextlib.suppress(OSError):
                mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
            if os.geteuid() == 0 and _in_init_userns():
                try:
                    unshare(CLONE_NEWUSER)
                    _map_ids(0, 0)
                    layers.append(Layer("user-ns", True,
                                        "no capability outside its own user namespace"))
                except OSError as exc:
                    layers.append(Layer("user-ns", False, str(exc)))
    # file descriptors
    devnull = os.open("/dev/null", os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(out_w, 1)
    os.dup2(out_w, 2)
    chan = os.dup2(chan_w, channel_fd(plan.limits.nofile), inheritable=False)
    closed = _close_fds({0, 1, 2, chan, *keep})
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    layers.append(Layer("fds", True, f"{closed} inherited descriptors closed; result channel "
                        "at a random high number"))
    # environment
    os.environ.clear()
    os.environ.update(plan.env)
    os.chdir(plan.scratch)
    import tempfile

    tempfile.tempdir = plan.scratch
    return layers, chan


def channel_fd(nofile: int, spread: int = 3000) -> int:
    """A random descriptor number for the result channel above the student's file
    limit ``nofile`` (so the student's own files never land on it), raising this
    process's soft limit as far as needed: ``dup2`` refuses numbers at or above it, and
    the usual soft limit is 1,024. Where the hard limit leaves no room above ``nofile``
    it picks a random number below the soft limit instead."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    ceiling = hard if hard != resource.RLIM_INFINITY else nofile + 64 + spread
    lo, hi = nofile + 64, min(ceiling, nofile + 64 + spread)
    pick = random.SystemRandom()
    if hi <= lo:  # no room above the student's limit: stay below the soft limit
        return pick.randrange(max(3, soft // 2), max(4, soft))
    fd = pick.randrange(lo, hi)
    if fd >= soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (fd + 1, hard))
    return fd


def _in_init_userns() -> bool:
    try:
        return Path("/proc/self/uid_map").read_text().split() == ["0", "0", "4294967295"]
    except OSError:
        return False


def _close_fds(keep: set[int]) -> int:
    try:
        fds = [int(x) for x in os.listdir("/proc/self/fd")]
    except OSError:
        fds = list(range(3, 1024))
    n = 0
    for fd in fds:
        if fd in keep:
            continue
        try:
            os.close(fd)
            n += 1
        except OSError:
            pass
    return n


def _drop_caps() -> None:
    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    lib = _libc()
    with contextlib.suppress(OSError):
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    hdr = Header(0x20080522, 0)
    data = (Data * 2)()
    _check(lib.capset(ctypes.byref(hdr), ctypes.byref(data)), "capset")


def read_allow_list(plan: Plan) -> list[str]:
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        with contextlib.suppress(KeyError):
            paths.add(sysconfig.get_paths()[key])
    paths |= {"/usr", "/lib", "/lib64", "/lib32", "/etc/ld.so.cache", "/etc/localtime",
              "/proc/self", "/proc/cpuinfo", "/proc/meminfo", "/proc/stat",
              "/sys/devices/system/cpu", "/sys/devices/system/node",
              "/sys/fs/cgroup/cpuset", "/sys/fs/cgroup/cpu", "/sys/kernel/mm"}
    paths.add(plan.code_dir)
    paths |= set(plan.read_paths)
    return sorted(p for p in paths if p and os.path.exists(p))


def inner_lockdown(plan: Plan) -> list[Layer]:
    """Right before the student's code: rlimits, capabilities, Landlock, seccomp."""
    layers: list[Layer] = []
    try:
        layers.append(Layer("rlimits", True, apply_rlimits(plan.limits)))
    except (OSError, ValueError) as exc:
        layers.append(Layer("rlimits", False, str(exc)))
    if not IS_LINUX:
        return layers
    with contextlib.suppress(OSError):
        prctl(PR_SET_DUMPABLE, 0)
    try:
        _drop_caps()
        layers.append(Layer("capabilities", True, "none"))
    except OSError as exc:
        layers.append(Layer("capabilities", False, str(exc)))
    try:
        seccomp.no_new_privs()
        layers.append(Layer("no-new-privs", True, "cannot gain privileges"))
    except OSError as exc:
        layers.append(Layer("no-new-privs", False, str(exc)))
    if plan.landlock:
        try:
            devs = ["/dev/null", "/dev/zero", "/dev/full", "/dev/urandom", "/dev/random",
                    *plan.devices]
            detail = landlock.restrict(read_allow_list(plan), [plan.scratch], devs)
            layers.append(Layer("landlock", True, detail))
        except OSError as exc:
            layers.append(Layer("landlock", False, str(exc)))
    else:
        layers.append(Layer("landlock", False, "disabled"))
    if plan.seccomp:
        try:
            layers.append(Layer("seccomp", True, seccomp.install(os.getpid())))
        except OSError as exc:
            layers.append(Layer("seccomp", False, str(exc)))
    else:
        layers.append(Layer("seccomp", False, "disabled"))
    return layers
