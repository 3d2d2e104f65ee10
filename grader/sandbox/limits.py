"""Resource limits: rlimits (per process) and cgroups (per task's process tree).

rlimits are set in the sandbox before any student code runs: CPU seconds (a
backstop behind the wall-clock timeout), ``RLIMIT_DATA`` for memory (not
``RLIMIT_AS``, which breaks TensorFlow's address-space reservations), ``FSIZE``,
``NOFILE``, ``CORE=0`` and ``NPROC``.

cgroups (v1 or v2, wherever this process may create a child group of its own) cap
the resident memory and the number of processes/threads of the whole sandbox and
tell, afterwards, whether the OOM killer or the pids cap struck.
"""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

MB = 1024 * 1024


@dataclass(frozen=True)
class RunLimits:
    """The limits one sandboxed process runs under (merged over load and tasks)."""

    memory_mb: int
    processes: int
    disk_mb: int
    cpu_s: float
    nofile: int = 512
    data_base_mb: int = 0  # the process's data size before the student's code (TensorFlow)

    def rlimits(self) -> dict[str, tuple[int, int]]:
        cpu = max(1, int(self.cpu_s))
        data = (self.memory_mb + self.data_base_mb) * MB
        return {
            "RLIMIT_CPU": (cpu, cpu + 5),
            "RLIMIT_DATA": (data, data),
            "RLIMIT_FSIZE": (self.disk_mb * MB, self.disk_mb * MB),
            "RLIMIT_NOFILE": (self.nofile, self.nofile),
            "RLIMIT_CORE": (0, 0),
            "RLIMIT_NPROC": (self.processes, self.processes),
            "RLIMIT_MSGQUEUE": (0, 0),
        }


def apply_rlimits(limits: RunLimits) -> str:
    done = []
    for name, (soft, hard) in limits.rlimits().items():
        res = getattr(resource, name, None)
        if res is None:
            continue
        _, cur_hard = resource.getrlimit(res)
        if cur_hard != resource.RLIM_INFINITY and hard > cur_hard:
            hard = cur_hard
        soft = min(soft, hard)
        resource.setrlimit(res, (soft, hard))
        done.append(name[7:].lower())
    return ", ".join(done)


# --------------------------------------------------------------------------- cgroups
def _own_cgroups() -> dict[str, str]:
    """controller (or '' for v2) -> this process's cgroup path."""
    out: dict[str, str] = {}
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, ctrls, path = line.split(":", 2)
            if not ctrls:
                out[""] = path
            for c in ctrls.split(","):
                out[c] = path
    except (OSError, ValueError):
        pass
    return out


def _mounts() -> list[tuple[str, str, set[str]]]:
    """(mount point, fstype, super options) of cgroup file systems."""
    res = []
    try:
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            pre, _, post = line.partition(" - ")
            parts = pre.split()
            fstype, _src, sopts = post.split()[:3]
            if fstype in ("cgroup", "cgroup2"):
                res.append((parts[4], fstype, set(sopts.split(","))))
    except (OSError, ValueError):
        pass
    return res


@dataclass
class CgroupBase:
    """Where this process may create child cgroups: per controller, a folder."""

    memory: Path | None = None
    pids: Path | None = None
    version: int = 0
    detail: str = ""

    @classmethod
    def find(cls) -> CgroupBase:
        own = _own_cgroups()
        mounts = _mounts()
        base = cls()
        for mp, fstype, sopts in mounts:
            if fstype != "cgroup":
                continue
            for ctrl in ("memory", "pids"):
                if ctrl in sopts and ctrl in own:
                    p = Path(mp) / own[ctrl].lstrip("/")
                    if _writable_dir(p):
                        setattr(base, ctrl, p)
                        base.version = 1
        if base.memory is None and base.pids is None:
            for mp, fstype, _ in mounts:
                if fstype != "cgroup2" or "" not in own:
                    continue
                p = Path(mp) / own[""].lstrip("/")
                try:
                    enabled = (p / "cgroup.subtree_control").read_text().split()
                except OSError:
                    continue
                if _writable_dir(p):
                    if "memory" in enabled:
                        base.memory = p
                    if "pids" in enabled:
                        base.pids = p
                    if base.memory or base.pids:
                        base.version = 2
        found = [c for c in ("memory", "pids") if getattr(base, c)]
        if found:
            base.detail = f"cgroup v{base.version} ({', '.join(found)}) under " + str(
                base.memory or base.pids)
        else:
            base.detail = "no cgroup (v1 memory/pids or v2 with those controllers) writable here"
        return base

    def clean_stale(self) -> None:
        """Remove empty ``grader-*`` groups left by engines that died."""
        for d in {self.memory, self.pids} - {None}:
            assert d is not None
            for child in d.glob("grader-*"):
                try:
                    pid = int(child.name.split("-")[1])
                except (IndexError, ValueError):
                    continue
                if not _alive(pid):
                    with contextlib.suppress(OSError):
                        child.rmdir()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _writable_dir(p: Path) -> bool:
    return p.is_dir() and os.access(p, os.W_OK)


def data_size_mb() -> int:
    """This process's data size (``VmData``, what ``RLIMIT_DATA`` counts) in MB; 0 where
    it cannot be read."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmData:"):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def phase_rlimits(memory_mb: int, processes: int, data_base_mb: int) -> None:
    """Lower (or raise, up to the sandbox's hard limits) the soft memory and process
    limits for the next phase (the load or one task): the sandbox's hard limits are the
    largest over its phases, each phase gets its own. The student's code could raise a
    soft limit back to the hard one; the cgroup, switched per phase by the worker, is the
    limit it cannot move."""
    for res, want in ((resource.RLIMIT_DATA, (memory_mb + data_base_mb) * MB),
                      (resource.RLIMIT_NPROC, processes)):
        with contextlib.suppress(OSError, ValueError):
            _, hard = resource.getrlimit(res)
            resource.setrlimit(res, (want if hard == resource.RLIM_INFINITY
                                     else min(want, hard), hard))


@dataclass
class Cgroup:
    """The cgroup(s) of one sandboxed process tree."""

    base: CgroupBase
    name: str
    memory_mb: int
    processes: int
    dirs: dict[str, Path] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def create(self) -> None:
        for ctrl in ("memory", "pids"):
            parent = getattr(self.base, ctrl)
            if parent is None:
                continue
            d = parent / self.name
            try:
                if d not in self.dirs.values():
                    d.mkdir(exist_ok=True)
                self.dirs[ctrl] = d
                if ctrl == "memory":
                    self._write_memory_cap(d, self.memory_mb)
                    if self.base.version != 1:
                        with contextlib.suppress(OSError):
                            (d / "memory.swap.max").write_text("0")
                else:
                    (d / "pids.max").write_text(str(self.processes))
            except OSError as exc:
                self.problems.append(f"{ctrl}: {exc}")
                self.dirs.pop(ctrl, None)

    def set_limits(self, memory_mb: int, processes: int) -> bool:
        """Switch the caps to the next phase's, and restart the peak-memory count. False,
        with the memory cap left as it was, when the memory in use is already above the
        new cap (v1 refuses; v2 would kill at once, in whichever phase the sandbox has
        reached by then): the student process finds that itself as the task starts and
        reports it as the task's memory limit (:func:`grader.sandbox.child.run_tasks`)."""
        ok = True
        if "memory" in self.dirs:
            d = self.dirs["memory"]
            try:
                if self.base.version != 1:
                    used = (d / "memory.current").read_text().strip()
                    if used.isdigit() and int(used) > memory_mb * MB:
                        raise OSError(errno.EBUSY, "memory in use is above the new cap")
                self._write_memory_cap(d, memory_mb)
                with contextlib.suppress(OSError):  # the peak count starts again
                    (d / ("memory.max_usage_in_bytes" if self.base.version == 1
                          else "memory.peak")).write_text("0")
                self.memory_mb = memory_mb
            except OSError as exc:
                ok = exc.errno != errno.EBUSY
        if "pids" in self.dirs:
            with contextlib.suppress(OSError):
                (self.dirs["pids"] / "pids.max").write_text(str(processes))
                self.processes = processes
        return ok

    def _write_memory_cap(self, d: Path, memory_mb: int) -> None:
        """Set the memory cap (and, v1, memory+swap to the same: no swapping around it).
        Raises OSError when the kernel refuses (v1: EBUSY, usage above the cap)."""
        limit = str(memory_mb * MB)
        if self.base.version != 1:
            (d / "memory.max").write_text(limit)
            return
        with contextlib.suppress(OSError):  # memory+swap must stay >= the memory cap
            (d / "memory.memsw.limit_in_bytes").write_text(
                str(max(memory_mb, self.memory_mb) * MB))
        (d / "memory.limit_in_bytes").write_text(limit)
        with contextlib.suppress(OSError):
            (d / "memory.memsw.limit_in_bytes").write_text(limit)

    @property
    def active(self) -> list[str]:
        return sorted(self.dirs)

    def attach(self, pid: int) -> None:
        """Move ``pid`` into every group (call from the process itself, before it forks)."""
        for ctrl, d in list(self.dirs.items()):
            try:
                (d / "cgroup.procs").write_text(str(pid))
            except OSError as exc:
                self.problems.append(f"attach {ctrl}: {exc}")
                self.dirs.pop(ctrl, None)

    def _read(self, ctrl: str, fname: str) -> str:
        d = self.dirs.get(ctrl)
        if d is None:
            return ""
        try:
            return (d / fname).read_text()
        except OSError:
            return ""

    def oom_kills(self) -> int:
        text = self._read("memory", "memory.oom_control" if self.base.version == 1
                          else "memory.events")
        for line in text.splitlines():
            k, _, v = line.partition(" ")
            if k == "oom_kill":
                return int(v)
        return 0

    def memory_failcnt(self) -> int:
        if self.base.version == 1:
            t = self._read("memory", "memory.failcnt").strip()
            return int(t) if t.isdigit() else 0
        for line in self._read("memory", "memory.events").splitlines():
            k, _, v = line.partition(" ")
            if k == "max":
                return int(v)
        return 0

    def peak_memory_mb(self) -> float | None:
        t = self._read("memory", "memory.max_usage_in_bytes" if self.base.version == 1
                       else "memory.peak").strip()
        return int(t) / MB if t.isdigit() else None

    def pids_hit(self) -> int:
        for line in self._read("pids", "pids.events").splitlines():
            k, _, v = line.partition(" ")
            if k == "max":
                return int(v)
        return 0

    def pids(self) -> list[int]:
        out: set[int] = set()
        for ctrl in self.dirs:
            for x in self._read(ctrl, "cgroup.procs").split():
                if x.isdigit():
                    out.add(int(x))
        return sorted(out)

    def kill_all(self) -> None:
        for _ in range(50):
            pids = self.pids()
            if not pids:
                return
            for p in pids:
                with contextlib.suppress(OSError):
                    os.kill(p, signal.SIGKILL)
            time.sleep(0.002)

    def remove(self) -> None:
        self.kill_all()
        for ctrl, d in list(self.dirs.items()):
            for _ in range(100):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.005)
            else:
                self.problems.append(f"could not remove {d}")
            self.dirs.pop(ctrl, None)
