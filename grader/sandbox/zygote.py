"""A worker: imports TensorFlow once, then forks one sandbox per submission.

Started by the grader as ``python -m grader.sandbox.zygote FD`` with a clean
environment (thread pools capped, ``MALLOC_ARENA_MAX`` set, ``CUDA_VISIBLE_DEVICES``
naming its GPU or none). It imports TensorFlow and Keras but runs no TensorFlow op
(so no thread pool and no CUDA context exist to be broken by ``fork``), then serves
requests on the socket ``FD``, one at a time.

For each submission it forks a sandbox (see :mod:`grader.sandbox.isolation`) that
loads the student's cells once, then runs the tasks in order. This process is the
supervisor: it owns the clock (the load limit from the fork, each task's limit from
the end of the previous one), reads the result channel and the output pipe, kills
the sandbox's process group and cgroup when a limit is hit, and, when a task ended
the sandbox (timeout, crash, ``os._exit``, memory), forks a fresh one that loads the
code again (not charged to any task) to go on with the next task. It only reports
facts; the grader's process turns them into results.
"""

from __future__ import annotations

import contextlib
import fcntl
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
MAX_TASK_BYTES = 512 * 1024 * 1024
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


class Sandbox:
    """One forked sandbox (keeper + student process) and its pipes."""

    def __init__(self, req: dict[str, Any], run_dir: Path, start: int, report_cells: bool,
                 paths: list[str], limits: RunLimits) -> None:
        global _RUNS
        _RUNS += 1
        self.token = secrets.token_bytes(16)
        self.cgroup: Cgroup | None = None
        if _CGROUP_BASE is not None and (_CGROUP_BASE.memory or _CGROUP_BASE.pids):
            self.cgroup = Cgroup(_CGROUP_BASE, f"grader-{os.getpid()}-{_RUNS}",
                                 limits.memory_mb, limits.processes)
            self.cgroup.create()
        from grader.sandbox.isolation import Plan

        scratch = run_dir / f"scratch{_RUNS}"
        scratch.mkdir(mode=0o777)
        os.chmod(scratch, 0o777)
        self.scratch = scratch
        sw = req.get("switches", {})
        plan = Plan(scratch=str(scratch), code_dir=str(run_dir / "code"),
                    read_paths=list(req.get("read_paths", [])), limits=limits,
                    zygote_pid=os.getpid(), cgroup=self.cgroup,
                    devices=list(req.get("devices", [])), env=dict(req.get("env", {})),
                    namespaces=sw.get("namespaces", True), landlock=sw.get("landlock", True),
                    seccomp=sw.get("seccomp", True))
        plan.env.update(HOME=str(scratch), TMPDIR=str(scratch), MPLCONFIGDIR=str(scratch),
                        KERAS_HOME=str(scratch / ".keras"))
        chan_r, chan_w = os.pipe()
        out_r, out_w = os.pipe()
        st_r, st_w = os.pipe()
        self.started = time.monotonic()
        pid = os.fork()
        if pid == 0:  # keeper
            code = 71
            try:
                os.close(chan_r)
                os.close(out_r)
                os.close(st_r)
                _keeper(plan, req, start, report_cells, paths, chan_w, out_w, st_w, self.token)
                code = 0
            except BaseException:
                with contextlib.suppress(Exception):
                    os.write(st_w, (json.dumps({"keeper_error": traceback.format_exc()})
                                    + "\n").encode())
            finally:
                os._exit(code)
        self.pid = pid
        os.close(chan_w)
        os.close(out_w)
        os.close(st_w)
        for fd in (chan_r, out_r, st_r):
            _set_nonblock(fd)
        self.chan_r, self.out_r, self.st_r = chan_r, out_r, st_r
        self.reader = Reader(self.token)
        self.status_buf = b""
        self.layers: list[list[Any]] = []
        self.exit: dict[str, Any] | None = None
        self.keeper_error: str | None = None
        self.chan_eof = False

    def read_status(self) -> None:
        while True:
            try:
                data = os.read(self.st_r, 65536)
            except BlockingIOError:
                return
            if not data:
                if self.exit is None:
                    self.exit = {"lost": True}
                return
            self.status_buf += data
            while b"\n" in self.status_buf:
                line, self.status_buf = self.status_buf.split(b"\n", 1)
                msg = json.loads(line)
                if "layers" in msg:
                    self.layers += msg["layers"]
                if "status" in msg:
                    self.exit = msg
                if "keeper_error" in msg:
                    self.keeper_error = msg["keeper_error"]

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGKILL)
        if self.cgroup is not None:
            self.cgroup.kill_all()

    def close(self) -> None:
        self.kill()
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
        with contextlib.suppress(OSError):
            self.read_status()
        for fd in (self.chan_r, self.out_r, self.st_r):
            with contextlib.suppress(OSError):
                os.close(fd)
        if self.cgroup is not None:
            self.cgroup.remove()
        shutil.rmtree(self.scratch, ignore_errors=True)


def _keeper(plan: Any, req: dict[str, Any], start: int, report_cells: bool,
            paths: list[str], chan_w: int, out_w: int, st_w: int, token: bytes) -> None:
    from grader.sandbox import isolation

    layers = isolation.outer(plan)
    os.write(st_w, (json.dumps({"layers": [x.as_list() for x in layers]}) + "\n").encode())
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(st_w)
            _student(plan, req, start, report_cells, paths, chan_w, out_w, token)
        except BaseException:
            code = 72
            with contextlib.suppress(Exception):
                os.write(2, traceback.format_exc().encode())
        finally:
            os._exit(code)
    os.close(chan_w)
    os.close(out_w)
    while True:
        try:
            _, status, ru = os.wait4(pid, 0)
            break
        except InterruptedError:
            continue
    os.write(st_w, (json.dumps({"status": status, "maxrss_kb": ru.ru_maxrss,
                                "cpu_s": ru.ru_utime + ru.ru_stime}) + "\n").encode())


def _configure_tf(threads: dict[str, int]) -> None:
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return
    with contextlib.suppress(Exception):
        tf.config.threading.set_intra_op_parallelism_threads(threads.get("intra", 1))
        tf.config.threading.set_inter_op_parallelism_threads(threads.get("inter", 1))


def _student(plan: Any, req: dict[str, Any], start: int, report_cells: bool,
             paths: list[str], chan_w: int, out_w: int, token: bytes) -> None:
    from grader.sandbox import child, isolation
    from grader.sandbox.cells import PreparedCell

    layers, chan = isolation.inner_early(plan, out_w, chan_w)
    writer = Writer(chan, token)
    _configure_tf(req.get("threads", {}))
    try:
        suite = child.load_tests(req.get("tests_source"), str(req.get("tests") or "tests.py"))
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
    child.load_cells(cells, paths, writer, ns, report_cells)
    writer.send({"t": "loaded"})
    tasks = [child.TaskSpec(t["id"], tuple(t["names"]), t["device"]) for t in req["tasks"]]
    data_dir = Path(req["data_dir"]) if req.get("data_dir") else None
    child.run_tasks(tasks[start:], suite, ns, cells, paths, writer, int(req["seed"]), data_dir,
                    Path(plan.scratch))
    writer.send({"t": "done"})


# --------------------------------------------------------------------------- supervision
def _describe_exit(sb: Sandbox) -> dict[str, Any]:
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
    if sb.keeper_error:
        info["keeper_error"] = sb.keeper_error
    if sb.cgroup is not None:
        info["oom_kills"] = sb.cgroup.oom_kills()
        info["pids_hit"] = sb.cgroup.pids_hit()
        peak = sb.cgroup.peak_memory_mb()
        if peak is not None:
            info["peak_mb"] = round(peak, 1)
    return info


def run_request(req: dict[str, Any], ctl: socket.socket) -> tuple[dict[str, Any], list[bytes]]:
    tasks: list[dict[str, Any]] = req["tasks"]
    ll = req["load_limits"]
    mem = max([ll["memory_mb"]] + [t["limits"]["memory_mb"] for t in tasks])
    procs = max([ll["processes"]] + [t["limits"]["processes"] for t in tasks])
    disk = max([ll["disk_mb"]] + [t["limits"]["disk_mb"] for t in tasks])
    cpu = (ll["wall_s"] + sum(t["limits"]["wall_s"] for t in tasks)) * max(
        1, int(req.get("threads", {}).get("intra", 1))) + 30
    limits = RunLimits(memory_mb=int(mem), processes=int(procs), disk_mb=int(disk), cpu_s=cpu)
    run_dir = Path(req["run_dir"])
    blobs: list[bytes] = []
    resp: dict[str, Any] = {"cells": {}, "tasks": {}, "load": {}, "layers": [], "restarts": 0}
    try:
        paths = [str(c.get("path") or "") for c in req["cells"]]
        next_task = 0
        first = True
        while first or next_task < len(tasks):
            sb = Sandbox(req, run_dir, next_task, first, paths, limits)
            try:
                next_task, stop = _supervise(sb, req, tasks, next_task, first, resp, blobs, ctl)
            finally:
                sb.close()
            if first:
                resp["layers"] = sb.layers + resp.pop("inner_layers", [])
            else:
                resp["restarts"] += 1
                resp.pop("inner_layers", None)
            first = False
            if stop:
                break
    finally:
        for p in run_dir.glob("scratch*"):
            shutil.rmtree(p, ignore_errors=True)
    return resp, blobs


def _supervise(sb: Sandbox, req: dict[str, Any], tasks: list[dict[str, Any]], next_task: int,
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
    while True:
        now = time.monotonic()
        if stage == "finishing":
            deadline = phase.started + 10.0
        elif stage == "done":
            deadline = phase.started + 5.0
        else:
            deadline = phase.started + phase.wall_s
        fds = [sb.st_r, ctl]
        if not sb.chan_eof:
            fds.append(sb.chan_r)
        if not out_eof:
            fds.append(sb.out_r)
        try:
            readable, _, _ = select.select(fds, [], [], max(0.0, deadline - now))
        except InterruptedError:
            continue
        if ctl in readable:
            # the grader is gone (EOF) or wants us to stop: kill and leave
            with contextlib.suppress(OSError):
                if not ctl.recv(1, socket.MSG_PEEK):
                    sb.kill()
                    os._exit(0)
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
                    t = msg["t"]
                    now = time.monotonic()
                    if t == "hello" and stage == "load":
                        resp["inner_layers"] = msg.get("layers", [])
                    elif t == "fatal":
                        fatal = str(msg.get("detail", ""))
                    elif t == "cell_start" and stage == "load":
                        current_cell = int(msg["i"])
                    elif t == "cell" and stage == "load":
                        if first:
                            resp["cells"][str(int(msg["i"]))] = {
                                k: msg.get(k) for k in ("status", "ename", "evalue", "traceback",
                                                        "memory")}
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
                        stage = "done"
                        phase = Phase("done", 5.0, started=now)
                    else:
                        tamper = f"an unexpected {t!r} message"
                    if tamper:
                        break
                if sb.reader.broken and not tamper:
                    tamper = sb.reader.broken
        if sb.st_r in readable:
            sb.read_status()
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
            if stage in ("finishing", "done"):
                return task_idx, True
            return _ended_early(sb, "died", "", stage, phase, load, current_cell, first, tasks,
                                task_idx, resp)
        if time.monotonic() >= deadline:
            drain_output()
            sb.kill()
            if stage in ("finishing", "done"):
                return task_idx, True
            return _ended_early(sb, "timeout", "", stage, phase, load, current_cell, first,
                                tasks, task_idx, resp)


def _ended_early(sb: Sandbox, why: str, detail: str, stage: str, phase: Phase, load: Phase,
                 current_cell: int | None, first: bool, tasks: list[dict[str, Any]],
                 task_idx: int, resp: dict[str, Any]) -> tuple[int, bool]:
    # wait for the keeper's report (it is killed or exits at once)
    sb.kill()
    with contextlib.suppress(ChildProcessError):
        os.waitpid(sb.pid, 0)
    with contextlib.suppress(OSError):
        sb.read_status()
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
    import grader.codetest  # noqa: F401
    import grader.sandbox.cells  # noqa: F401
    import grader.sandbox.child  # noqa: F401
    import grader.sandbox.isolation  # noqa: F401

    _CGROUP_BASE = CgroupBase.find()
    _CGROUP_BASE.clean_stale()
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
                resp, blobs = run_request(msg, ctl)
                resp["t"] = "result"
            except Exception:
                resp, blobs = {"t": "result", "error": traceback.format_exc()}, []
            send_msg(ctl, resp, blobs)
    os._exit(0)


if __name__ == "__main__":
    main()
