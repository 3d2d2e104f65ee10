"""A worker: imports TensorFlow once, then forks one sandbox per submission.

Started by the grader as ``python -m grader.sandbox.zygote FD`` with a clean
environment (thread pools capped, ``MALLOC_ARENA_MAX`` set, ``CUDA_VISIBLE_DEVICES``
naming its GPU or none). It imports TensorFlow and Keras but runs no TensorFlow op
(so no thread pool and no CUDA context exist to be broken by ``fork``), then serves
requests on the socket ``FD``, one at a time.

Three processes per sandbox, all forked from this one, whose memory therefore never
holds a student's code or any observation (the cells are read from files by the
sandbox itself, and observations go from the sandbox's keeper straight to the
grader), so no sandbox can find another student's values in what it inherited:

* the *keeper* (:func:`_keeper`) applies the outer layers, forks the student
  process, and then supervises it: it owns the clock (the load limit from the start,
  each task's limit from the end of the previous one), reads the result channel and
  the output pipe, kills the student process and its cgroup at a limit, and sends
  what it saw to the grader;
* the *student process* (:func:`_student`) applies the inner layers, loads the
  student's cells once, then observes the tasks in order.

Both are forked ahead of time (a *spare*), up to the point where they need the
submission, so that a request pays for neither fork. When a task ends the sandbox
(timeout, crash, ``os._exit``, memory), a fresh sandbox loads the code again (not
charged to any task) and goes on with the next task. Only facts are reported; the
grader's process turns them into results.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import gc
import json
import os
import secrets
import select
import shutil
import signal
import socket
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.sandbox.channel import Reader, Writer, recv_msg, send_msg
from grader.sandbox.limits import Cgroup, CgroupBase, RunLimits

_CGROUP_BASE: CgroupBase | None = None
EXIT_INTERNAL = 72  # the sandbox's own code failed (not the student's)
EXIT_CHANNEL_LOST = 73  # the student's code closed or broke the result channel
MAX_TASK_BYTES = 128 * 1024 * 1024
_PENDING: list[Any] = []  # finished sandboxes whose cgroup/scratch still need removing
_CODE_CACHE: dict[str, Any] = {}  # compiled observe side of a tests file, by its text
_SPARE: Sandbox | None = None  # a sandbox forked ahead of the next request
_RUNS = 0


@dataclass
class Phase:
    """What the supervisor collects for the load or one task."""

    name: str  # "load" or a task id
    wall_s: float
    started: float = 0.0
    ended: float | None = None
    out: bytearray = field(default_factory=bytearray)
    out_total: int = 0
    out_cap: int = 256 * 1024
    result: dict[str, Any] = field(default_factory=dict)

    def add_output(self, data: bytes) -> None:
        self.out_total += len(data)
        self.out += data
        if len(self.out) > self.out_cap:
            del self.out[: len(self.out) - self.out_cap]

    def output(self) -> str:
        text = self.out.decode("utf-8", "replace")
        cut = self.out_total - len(self.out)
        return (f"[... {cut} bytes of output not shown ...]\n" if cut > 0 else "") + text


def _set_nonblock(fd: int) -> None:
    fl = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, fl | os.O_NONBLOCK)


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
                _keeper(plan, threads, go_r, st_w, ctl)
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
        _set_nonblock(st_r)
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


# --------------------------------------------------------------------------- the keeper
class Child:
    """The student process, as its keeper sees it."""

    def __init__(self, pid: int, chan_r: int, out_r: int, go_w: int, token: bytes,
                 cgroup: Cgroup | None) -> None:
        self.pid = pid
        self.chan_r, self.out_r, self.go_w = chan_r, out_r, go_w
        self.reader = Reader(token)
        self.cgroup = cgroup
        self.chan_eof = False
        self.exit: dict[str, Any] | None = None
        self.started = time.monotonic()
        try:
            self.pidfd: int | None = os.pidfd_open(pid)
        except (AttributeError, OSError):
            self.pidfd = None

    def poll(self) -> None:
        """Collect the exit status once the student process has ended."""
        if self.exit is not None:
            return
        try:
            pid, status, ru = os.wait4(self.pid, os.WNOHANG)
        except ChildProcessError:
            self.exit = {"lost": True}
            return
        if pid:
            self.exit = {"status": status, "maxrss_kb": ru.ru_maxrss,
                         "cpu_s": ru.ru_utime + ru.ru_stime}

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGKILL)
        if self.cgroup is not None:
            self.cgroup.kill_all()

    def reap(self) -> None:
        self.kill()
        if self.exit is None:
            with contextlib.suppress(ChildProcessError):
                _, status, ru = os.wait4(self.pid, 0)
                self.exit = {"status": status, "maxrss_kb": ru.ru_maxrss,
                             "cpu_s": ru.ru_utime + ru.ru_stime}


def _keeper(plan: Any, threads: dict[str, int], go_r: int, st_w: int,
            ctl: socket.socket) -> None:
    from grader.sandbox import isolation

    layers = isolation.outer(plan)
    token = secrets.token_bytes(16)
    chan_r, chan_w = os.pipe()
    out_r, out_w = os.pipe()
    sgo_r, sgo_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            for fd in (chan_r, out_r, sgo_w, go_r, st_w):
                os.close(fd)
            _student(plan, threads, chan_w, out_w, sgo_r, token)
        except OSError as exc:
            # the student's code closed the result channel (EBADF) or broke it (EPIPE)
            code = EXIT_CHANNEL_LOST if exc.errno in (errno.EBADF, errno.EPIPE) else EXIT_INTERNAL
        except BaseException:
            code = EXIT_INTERNAL
        finally:
            os._exit(code)
    for fd in (chan_w, out_w, sgo_r):
        os.close(fd)
    # the worker moves the student process (never its keeper) into the cgroup; /sys is
    # read-only in here
    os.write(st_w, (json.dumps({"student_pid": pid}) + "\n").encode())
    data = _read_all(go_r)  # the submission (all of the request, as JSON)
    os.close(go_r)
    if not data:
        os.kill(pid, signal.SIGKILL)
        return
    req = json.loads(data)
    msg = {k: req.get(k) for k in ("cells", "tasks", "seed", "data_dir", "read_paths",
                                   "devices", "tests_source", "tests", "start", "first",
                                   "paths", "code_dir")}
    child = Child(pid, chan_r, out_r, sgo_w, token, plan.cgroup)
    try:
        view = memoryview(json.dumps(msg).encode())
        while view:
            view = view[os.write(sgo_w, view):]
    except OSError:
        pass  # it died while waiting: seen at once
    os.close(sgo_w)
    child.started = time.monotonic()
    for fd in (chan_r, out_r):
        _set_nonblock(fd)
    resp: dict[str, Any] = {"t": "partial", "first": bool(req["first"]), "cells": {},
                            "tasks": {}, "load": {},
                            "layers": [x.as_list() for x in layers]}
    blobs: list[bytes] = []
    next_task, stop = _supervise(child, req, req["tasks"], int(req["start"]),
                                 bool(req["first"]), resp, blobs, ctl)
    child.kill()
    resp["layers"] += resp.pop("inner_layers", [])
    send_msg(ctl, resp, blobs)
    os.write(st_w, (json.dumps({"next_task": next_task, "stop": stop}) + "\n").encode())
    child.reap()  # the kernel tears the student process down while the grader goes on


def _configure_tf(threads: dict[str, int]) -> None:
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return
    with contextlib.suppress(Exception):
        tf.config.threading.set_intra_op_parallelism_threads(threads.get("intra", 1))
        tf.config.threading.set_inter_op_parallelism_threads(threads.get("inter", 1))


def _read_all(fd: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        try:
            c = os.read(fd, 1 << 20)
        except InterruptedError:
            continue
        if not c:
            return b"".join(chunks)
        chunks.append(c)


def _student(plan: Any, threads: dict[str, int], chan_w: int, out_w: int, go_r: int,
             token: bytes) -> None:
    from grader.sandbox import child, isolation
    from grader.sandbox.cells import PreparedCell

    layers, chan = isolation.inner_early(plan, out_w, chan_w, keep=(go_r,))
    writer = Writer(chan, token)
    _configure_tf(threads)
    data = _read_all(go_r)  # blocks until the supervisor hands over a submission
    os.close(go_r)
    if not data:
        return
    req = json.loads(data)
    plan.code_dir = req["code_dir"]
    plan.read_paths = list(req.get("read_paths") or [])
    plan.devices = list(req.get("devices") or [])
    paths: list[str] = req["paths"]
    try:
        src = req.get("tests_source")
        suite = child.load_tests(src, str(req.get("tests") or "tests.py"),
                                 _CODE_CACHE.get(src or ""))
    except BaseException:
        writer.send({"t": "fatal", "detail": "the tests file could not be loaded:\n"
                     + traceback.format_exc()})
        return
    ns = child.student_namespace()
    layers += isolation.inner_lockdown(plan)
    child.install_audit_hook()
    writer.send({"t": "hello", "layers": [x.as_list() for x in layers]})
    cells = [PreparedCell(c["file"], c["index"], c["line"],
                          Path(p).read_text(encoding="utf-8") if p else "", c["run"], (),
                          c["notebook"]) for c, p in zip(req["cells"], paths, strict=True)]
    child.load_cells(cells, paths, writer, ns, bool(req["first"]))
    writer.send({"t": "loaded"})
    tasks = [child.TaskSpec(t["id"], tuple(t["names"]), t["device"]) for t in req["tasks"]]
    data_dir = Path(req["data_dir"]) if req.get("data_dir") else None
    child.run_tasks(tasks[int(req["start"]):], suite, ns, cells, paths, writer,
                    int(req["seed"]), data_dir, Path(plan.scratch))
    writer.send({"t": "done"})


# --------------------------------------------------------------------------- supervision
def _describe_exit(sb: Child) -> dict[str, Any]:
    info: dict[str, Any] = {}
    ex = sb.exit or {}
    st = ex.get("status")
    if isinstance(st, int):
        if os.WIFSIGNALED(st):
            info["signal"] = os.WTERMSIG(st)
        elif os.WIFEXITED(st):
            info["code"] = os.WEXITSTATUS(st)
    if "cpu_s" in ex:
        info["cpu_s"] = ex["cpu_s"]
    if "maxrss_kb" in ex:
        info["maxrss_mb"] = ex["maxrss_kb"] / 1024
    if sb.cgroup is not None:
        info["oom_kills"] = sb.cgroup.oom_kills()
        info["pids_hit"] = sb.cgroup.pids_hit()
        peak = sb.cgroup.peak_memory_mb()
        if peak is not None:
            info["peak_mb"] = round(peak, 1)
    return info


def _supervise(sb: Child, req: dict[str, Any], tasks: list[dict[str, Any]], next_task: int,
               first: bool, resp: dict[str, Any], blobs: list[bytes],
               ctl: socket.socket) -> tuple[int, bool]:
    """Watch one sandbox. Returns (index of the next task to run, stop)."""
    ll = req["load_limits"]
    load = Phase("load", float(ll["wall_s"]), started=sb.started,
                 out_cap=int(ll.get("output_kb", 256)) * 1024)
    phase: Phase = load
    stage = "load"  # load | task | finishing | done
    current_cell: int | None = None
    task_idx = next_task
    pids_before = 0
    fatal: str | None = None
    hello = False

    def start_task(now: float) -> Phase:
        nonlocal pids_before
        t = tasks[task_idx]
        pids_before = sb.cgroup.pids_hit() if sb.cgroup else 0
        return Phase(t["id"], float(t["limits"]["wall_s"]), started=now,
                     out_cap=int(t["limits"].get("output_kb", 256)) * 1024,
                     result={"records": [], "errors": {}})

    def drain_output() -> bool:
        """Read what the sandbox printed so far; True at end of file."""
        while True:
            try:
                data = os.read(sb.out_r, 1 << 20)
            except (BlockingIOError, InterruptedError):
                return False
            except OSError:
                return True
            if not data:
                return True
            phase.add_output(data)

    tamper: str | None = None
    out_eof = False
    ctl_busy = False
    while True:
        now = time.monotonic()
        deadline = phase.started + (10.0 if stage == "finishing" else phase.wall_s)
        fds: list[Any] = [] if ctl_busy else [ctl]
        if sb.pidfd is not None and sb.exit is None:
            fds.append(sb.pidfd)
        if not sb.chan_eof:
            fds.append(sb.chan_r)
        if not out_eof:
            fds.append(sb.out_r)
        wait = max(0.0, deadline - now)
        if sb.pidfd is None:
            wait = min(wait, 0.05)  # no pidfd: poll for the exit
        try:
            readable, _, _ = select.select(fds, [], [], wait)
        except InterruptedError:
            continue
        if ctl in readable:
            # the grader is gone (EOF): kill and leave; anything else waits for the worker
            with contextlib.suppress(OSError):
                if not ctl.recv(1, socket.MSG_PEEK):
                    sb.kill()
                    os._exit(0)
                ctl_busy = True
        if sb.out_r in readable and drain_output():
            out_eof = True
        if sb.chan_r in readable:
            drain_output()
            try:
                data = os.read(sb.chan_r, 1 << 22)
            except BlockingIOError:
                data = None
            if data == b"":
                sb.chan_eof = True
            elif data:
                for msg, blob in sb.reader.feed(data):
                    try:
                        t = msg["t"]
                        now = time.monotonic()
                        if t == "hello" and stage == "load" and not hello:
                            hello = True
                            resp["inner_layers"] = msg.get("layers", [])
                            if first:
                                resp["setup_s"] = now - load.started
                        elif t == "fatal" and not hello:  # before any student code ran
                            fatal = str(msg.get("detail", ""))
                        elif t == "cell_start" and stage == "load" and hello:
                            current_cell = int(msg["i"])
                        elif t == "cell" and stage == "load" and hello:
                            if first and isinstance(msg.get("work_s"), (int, float)):
                                resp["load_work_s"] = resp.get("load_work_s", 0.0) + msg["work_s"]
                            if first:
                                keys = ("status", "ename", "evalue", "traceback", "memory")
                                resp["cells"][str(int(msg["i"]))] = {k: msg.get(k) for k in keys}
                            current_cell = None
                        elif t == "loaded" and stage == "load":
                            load.ended = now
                            if first:
                                resp["load"] = {"status": "ok", "duration": now - load.started,
                                                "stdout": load.output()}
                            if task_idx < len(tasks):
                                stage = "task"
                                phase = start_task(now)
                            else:
                                stage = "finishing"
                                phase = Phase("finishing", 10.0, started=now)
                        elif t == "task_start" and stage == "task":
                            if msg.get("task") != phase.name:
                                tamper = "a task started out of order"
                        elif t in ("rec", "err") and stage == "task":
                            if msg.get("task") != phase.name or not isinstance(msg.get("key"), str):
                                tamper = "an observation for another task"
                            elif phase.result.setdefault("bytes", 0) > MAX_TASK_BYTES:
                                tamper = "more observation data than any test records"
                            elif t == "rec":
                                phase.result["bytes"] += len(blob) + len(str(msg.get("value")))
                                idx = len(blobs) if blob else None
                                if blob:
                                    blobs.append(blob)
                                phase.result["records"].append([msg["key"], msg.get("value"), idx])
                            else:
                                phase.result["errors"][msg["key"]] = msg.get("error")
                        elif t == "task_end" and stage == "task":
                            if msg.get("task") != phase.name:
                                tamper = "a task ended out of order"
                            else:
                                drain_output()
                                r = phase.result
                                r.update({k: v for k, v in msg.items() if k not in ("t", "task")})
                                r["outcome"] = "ended"
                                r["duration"] = now - phase.started
                                r["stdout"] = phase.output()
                                if sb.cgroup is not None and sb.cgroup.pids_hit() > pids_before:
                                    r["pids_hit"] = True
                                resp["tasks"][phase.name] = r
                                task_idx += 1
                                if task_idx < len(tasks):
                                    phase = start_task(now)
                                else:
                                    stage = "finishing"
                                    phase = Phase("finishing", 10.0, started=now)
                        elif t == "done" and stage == "finishing":
                            return task_idx, True  # close() kills and reaps it
                        else:
                            tamper = f"an unexpected {t!r} message"
                    except (KeyError, TypeError, ValueError) as exc:
                        tamper = f"a malformed {msg.get('t')!r} message ({exc})"
                    if tamper:
                        break
                if sb.reader.broken and not tamper:
                    tamper = sb.reader.broken
        sb.poll()
        if tamper:
            drain_output()
            sb.kill()
            return _ended_early(sb, "tamper", tamper, stage, phase, load, current_cell, first,
                                tasks, task_idx, resp)
        if fatal is not None:
            sb.kill()
            resp["fatal"] = fatal
            return len(tasks), True
        if sb.exit is not None and sb.chan_eof:
            drain_output()
            if stage == "finishing":
                return task_idx, True
            return _ended_early(sb, "died", "", stage, phase, load, current_cell, first, tasks,
                                task_idx, resp)
        if time.monotonic() >= deadline:
            drain_output()
            sb.kill()
            if stage == "finishing":
                return task_idx, True
            return _ended_early(sb, "timeout", "", stage, phase, load, current_cell, first,
                                tasks, task_idx, resp)


def _ended_early(sb: Child, why: str, detail: str, stage: str, phase: Phase, load: Phase,
                 current_cell: int | None, first: bool, tasks: list[dict[str, Any]],
                 task_idx: int, resp: dict[str, Any]) -> tuple[int, bool]:
    sb.reap()
    info = _describe_exit(sb)
    info.update(outcome=why, detail=detail)
    now = time.monotonic()
    if stage == "load":
        info.update(duration=now - load.started, stdout=load.output(), cell=current_cell)
        if first:
            resp["load"] = {"status": "failed", **info}
            return len(tasks), True
        # reloading after a task ended the sandbox failed: the rest cannot run
        for t in tasks[task_idx:]:
            resp["tasks"][t["id"]] = {"outcome": "reload_failed", "reload": info,
                                      "records": [], "errors": {}, "duration": 0.0}
        return len(tasks), True
    r = phase.result
    r.update(info)
    r["duration"] = now - phase.started
    r["stdout"] = phase.output()
    if sb.cgroup is not None and sb.cgroup.pids_hit() > 0:
        r["pids_hit"] = True
    resp["tasks"][phase.name] = r
    return task_idx + 1, False


# --------------------------------------------------------------------------- the worker
def run_request(req: dict[str, Any], ctl: socket.socket) -> tuple[int, list[list[Any]]]:
    """Run one submission: sandboxes until every task ran. The keepers send what they
    saw to the grader themselves; returns (number of extra sandboxes, the worker's own
    layer rows)."""
    tasks: list[dict[str, Any]] = req["tasks"]
    ll = req["load_limits"]
    mem = max([ll["memory_mb"]] + [t["limits"]["memory_mb"] for t in tasks])
    procs = max([ll["processes"]] + [t["limits"]["processes"] for t in tasks])
    disk = max([ll["disk_mb"]] + [t["limits"]["disk_mb"] for t in tasks])
    src = req.get("tests_source")
    if src and src not in _CODE_CACHE:
        with contextlib.suppress(SyntaxError):  # the sandbox reports it when loading
            _CODE_CACHE[src] = compile(src, str(req.get("tests") or "tests.py"), "exec",
                                       dont_inherit=True)
    cpu = (ll["wall_s"] + sum(t["limits"]["wall_s"] for t in tasks)) * max(
        1, int(req.get("threads", {}).get("intra", 1))) + 30
    limits = RunLimits(memory_mb=int(mem), processes=int(procs), disk_mb=int(disk), cpu_s=cpu)
    run_dir = Path(req["run_dir"])
    paths = [str(c.get("path") or "") for c in req["cells"]]
    next_task, first, restarts = 0, True, 0
    layers: list[list[Any]] = []
    while first or next_task < len(tasks):
        sb = take_sandbox(req, limits, ctl)
        if first:
            layers = sb.layers
        try:
            sb.go(req, next_task, first, run_dir, paths)
            # while it runs: fork the next spare, and tidy up after the previous runs
            make_spare(req, limits, ctl)
            cleanup_pending()
            summary = sb.wait()
        finally:
            _PENDING.append(sb)  # reaped and removed while the next submission runs
        restarts += 0 if first else 1
        first = False
        next_task = int(summary["next_task"])
        if summary.get("stop"):
            break
    return restarts, layers


def cleanup_pending() -> None:
    while _PENDING:
        _PENDING.pop().cleanup()


# --------------------------------------------------------------------------- main
def main() -> None:
    global _CGROUP_BASE
    fd = int(sys.argv[1])
    ctl = socket.socket(fileno=fd)
    ready: dict[str, Any] = {"t": "ready", "pid": os.getpid()}
    preload = [m for m in os.environ.get("GRADER_PRELOAD", "").split(",") if m]
    for mod in preload:
        try:
            __import__(mod)
        except Exception as exc:
            ready.setdefault("preload_errors", []).append(f"{mod}: {exc}")
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        ready["tensorflow"] = getattr(tf, "__version__", "?")
        with contextlib.suppress(Exception):
            ready["cuda_built"] = bool(tf.test.is_built_with_cuda())
    # everything the sandbox needs, imported before any fork
    import grader.codetest
    import grader.sandbox.cells
    import grader.sandbox.child
    import grader.sandbox.isolation  # noqa: F401

    _CGROUP_BASE = CgroupBase.find()
    _CGROUP_BASE.clean_stale()
    # Everything imported so far is shared with every sandbox: keep the garbage collector
    # of the sandboxes off it, or a collection would touch (and so copy) every page.
    gc.collect()
    gc.freeze()
    ready["cgroup"] = _CGROUP_BASE.detail
    ready["cuda_visible_devices"] = os.environ.get("CUDA_VISIBLE_DEVICES")
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    send_msg(ctl, ready)
    while True:
        try:
            msg, _ = recv_msg(ctl)
        except (EOFError, OSError):
            break
        if msg.get("op") == "exit":
            break
        if msg.get("op") == "run":
            try:
                restarts, layers = run_request(msg, ctl)
                resp: dict[str, Any] = {"t": "result", "restarts": restarts,
                                        "worker_layers": layers}
            except Exception:
                resp = {"t": "result", "error": traceback.format_exc()}
            send_msg(ctl, resp)
    if _SPARE is not None:
        _PENDING.append(_SPARE)
    cleanup_pending()
    os._exit(0)


if __name__ == "__main__":
    main()
