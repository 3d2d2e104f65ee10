"""The keeper's watch over one student process (see :mod:`grader.sandbox.keeper`).

:func:`supervise` owns the clock (the load limit from the start, each task's limit
from the end of the previous one), reads the result channel and the output pipe,
checks that the messages come in the order the protocol allows (anything else is
tampering), and kills the student process and its cgroup at a limit. It reports only
facts; the grader's process turns them into results.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from grader.sandbox.channel import Reader
from grader.sandbox.limits import Cgroup

MAX_TASK_BYTES = 128 * 1024 * 1024


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


def supervise(sb: Child, req: dict[str, Any], tasks: list[dict[str, Any]], next_task: int,
              first: bool, resp: dict[str, Any], blobs: list[bytes],
              ctl: socket.socket, on_phase: Callable[[dict[str, Any]], None] | None = None
              ) -> tuple[int, bool]:
    """Watch one sandbox. Returns (index of the next task to run, stop). ``on_phase`` is
    told each phase's limits as it starts (the load's, then each task's)."""
    ll = req["load_limits"]
    if on_phase is not None:
        on_phase(ll)
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
        if on_phase is not None:
            on_phase(t["limits"])
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

