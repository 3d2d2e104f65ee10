"""The worker's side of its sandboxes: forking them, the spare, and tidying up.

A :class:`Sandbox` is a keeper (and, through it, a student process) as the worker sees
it: the pipes to hand it a submission and to hear its status, its cgroup and its
scratch folder. One sandbox is forked ahead of the next request (the *spare*), so
that a request pays for no fork; finished sandboxes are removed while the next
submission runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import socket
import time
import traceback
from pathlib import Path
from typing import Any

from grader.sandbox.keeper import run_keeper, set_nonblock
from grader.sandbox.limits import Cgroup, CgroupBase, RunLimits

_CGROUP_BASE: CgroupBase | None = None  # set once by the worker (set_cgroup_base)
_PENDING: list[Any] = []  # finished sandboxes whose cgroup/scratch still need removing
_SPARE: Sandbox | None = None  # a sandbox forked ahead of the next request
_RUNS = 0


def set_cgroup_base(base: CgroupBase | None) -> None:
    """Where this worker's sandboxes get their cgroups (None: no cgroups)."""
    global _CGROUP_BASE
    _CGROUP_BASE = base


def _base_key(req: dict[str, Any], limits: RunLimits) -> str:
    """What a sandbox is forked with before it knows its submission."""
    return json.dumps([limits.__dict__, req.get("switches", {}), req.get("env", {}),
                       req.get("threads", {}), req.get("workdir")], sort_keys=True)


class Sandbox:
    """A keeper and its student process, as the worker sees them."""

    def __init__(self, req: dict[str, Any], limits: RunLimits, ctl: socket.socket) -> None:
        global _RUNS
        _RUNS += 1
        self.key = _base_key(req, limits)
        self.cgroup: Cgroup | None = None
        if _CGROUP_BASE is not None and (_CGROUP_BASE.memory or _CGROUP_BASE.pids):
            self.cgroup = Cgroup(_CGROUP_BASE, f"grader-{os.getpid()}-{_RUNS}",
                                 limits.memory_mb, limits.processes)
            self.cgroup.create()
        from grader.sandbox.isolation import Plan

        base = Path(req["workdir"]) / f"zygote-{os.getpid()}"
        base.mkdir(mode=0o755, exist_ok=True)
        scratch = base / f"scratch{_RUNS}"
        scratch.mkdir(mode=0o777)
        os.chmod(scratch, 0o777)
        self.scratch = scratch
        sw = req.get("switches", {})
        plan = Plan(scratch=str(scratch), code_dir="", read_paths=[], limits=limits,
                    zygote_pid=os.getpid(), cgroup=self.cgroup, devices=[],
                    env=dict(req.get("env", {})), namespaces=sw.get("namespaces", True),
                    landlock=sw.get("landlock", True), seccomp=sw.get("seccomp", True))
        plan.env.update(HOME=str(scratch), TMPDIR=str(scratch), MPLCONFIGDIR=str(scratch),
                        KERAS_HOME=str(scratch / ".keras"))
        threads = dict(req.get("threads", {}))
        go_r, go_w = os.pipe()
        st_r, st_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # keeper
            code = 71
            try:
                os.close(go_w)
                os.close(st_r)
                run_keeper(plan, threads, go_r, st_w, ctl)
                code = 0
            except BaseException:
                with contextlib.suppress(Exception):
                    os.write(st_w, (json.dumps({"keeper_error": traceback.format_exc()})
                                    + "\n").encode())
            finally:
                os._exit(code)
        self.pid = pid
        os.close(go_r)
        os.close(st_w)
        self.go_w, self.st_r = go_w, st_r
        set_nonblock(st_r)
        self.status_buf = b""
        self.summary: dict[str, Any] | None = None
        self.keeper_error: str | None = None
        self.student_pid: int | None = None
        self.eof = False
        self.reaped = False
        self.attached = False
        self.layers: list[list[Any]] = []
        self.limits = limits

    def _wait_line(self, until: Any, timeout: float) -> None:
        """Read status lines until ``until()`` holds, EOF, or the timeout."""
        deadline = time.monotonic() + timeout
        while not until() and not self.eof and not self.keeper_error:
            r, _, _ = select.select([self.st_r], [], [], max(0.0, deadline - time.monotonic()))
            if not r:
                return
            try:
                data = os.read(self.st_r, 65536)
            except BlockingIOError:
                continue
            self._read_lines(data)

    def ready(self) -> bool:
        """Wait for the student process to exist, then put it (never its keeper) into the
        cgroup, before it is handed any submission. False if the sandbox broke."""
        if self.student_pid is None:
            self._wait_line(lambda: self.student_pid is not None, 60)
        if self.student_pid is None or self.attached:
            return self.student_pid is not None
        self.attached = True
        if self.cgroup is not None:
            self.cgroup.attach(self.student_pid)
            for ctrl in ("memory", "pids"):
                ok = ctrl in self.cgroup.dirs
                what = (f"{self.limits.memory_mb} MB resident" if ctrl == "memory"
                        else f"{self.limits.processes} processes/threads")
                self.layers.append([f"cgroup-{ctrl}", ok, what if ok else "; ".join(
                    self.cgroup.problems) or "not available"])
        return True

    def _read_lines(self, data: bytes) -> None:
        if not data:
            self.eof = True
            return
        self.status_buf += data
        while b"\n" in self.status_buf:
            line, self.status_buf = self.status_buf.split(b"\n", 1)
            msg = json.loads(line)
            if "keeper_error" in msg:
                self.keeper_error = msg["keeper_error"]
            if "next_task" in msg:
                self.summary = msg
            if "student_pid" in msg:
                self.student_pid = int(msg["student_pid"])
            if "phase_limits" in msg and self.cgroup is not None:
                lim = msg["phase_limits"]
                # False: it already holds more than the phase allows; the student process
                # reports that as the task's limit itself (no kill racing the next task)
                self.cgroup.set_limits(int(lim["memory_mb"]), int(lim["processes"]))

    def read_status(self) -> None:
        while not self.eof:
            try:
                data = os.read(self.st_r, 65536)
            except BlockingIOError:
                return
            self._read_lines(data)

    def usable(self) -> bool:
        """Still waiting for its submission (nothing went wrong while it waited)."""
        with contextlib.suppress(OSError, ValueError):
            self.read_status()
        if self.eof or self.keeper_error or self.go_w < 0:
            return False
        if os.waitpid(self.pid, os.WNOHANG) != (0, 0):
            self.reaped = True
            return False
        return self.ready()

    def go(self, req: dict[str, Any], start: int, first: bool, run_dir: Path,
           paths: list[str]) -> None:
        """Hand over the submission: the keeper starts its clock now."""
        msg = dict(req, start=start, first=first, paths=paths, code_dir=str(run_dir / "code"))
        data = json.dumps(msg).encode()
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self.go_w, view):]
        except OSError:
            pass  # it died while waiting: seen below
        finally:
            os.close(self.go_w)
            self.go_w = -1

    def wait(self) -> dict[str, Any]:
        """Wait for the keeper to finish with the submission. Returns its summary: the
        next task to run and whether to stop."""
        with contextlib.suppress(OSError, ValueError):
            self._wait_line(lambda: self.summary is not None, 1e9)
        if self.summary is None:
            raise RuntimeError("the sandbox's keeper ended without a report:\n"
                               + (self.keeper_error or "(no details)"))
        return self.summary

    def close(self) -> None:
        if not self.reaped:
            with contextlib.suppress(OSError):
                os.killpg(self.pid, signal.SIGKILL)
        if self.cgroup is not None:
            self.cgroup.kill_all()
        if not self.reaped:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
            self.reaped = True
        for fd in (self.st_r, self.go_w):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.go_w = self.st_r = -1

    def cleanup(self) -> None:
        self.close()
        if self.cgroup is not None:
            self.cgroup.remove()
        shutil.rmtree(self.scratch, ignore_errors=True)


def take_sandbox(req: dict[str, Any], limits: RunLimits, ctl: socket.socket) -> Sandbox:
    """The spare sandbox if it fits this request, else a new one."""
    global _SPARE
    sb, _SPARE = _SPARE, None
    if sb is not None:
        if sb.key == _base_key(req, limits) and sb.usable():
            return sb
        _PENDING.append(sb)
    sb = Sandbox(req, limits, ctl)
    sb.ready()
    return sb


def make_spare(req: dict[str, Any], limits: RunLimits, ctl: socket.socket) -> None:
    global _SPARE
    if _SPARE is None:
        try:
            _SPARE = Sandbox(req, limits, ctl)
        except OSError:
            _SPARE = None


def cleanup_pending() -> None:
    while _PENDING:
        _PENDING.pop().cleanup()


def retire(sb: Sandbox) -> None:
    """A sandbox done with: reaped and removed by the next :func:`cleanup_pending`."""
    _PENDING.append(sb)


def shutdown() -> None:
    """Remove every sandbox, the spare included (the worker is leaving)."""
    if _SPARE is not None:
        _PENDING.append(_SPARE)
    cleanup_pending()
