"""The two processes of a sandbox, both forked from the worker (the zygote).

* the *keeper* (:func:`run_keeper`) applies the outer layers, forks the student
  process, hands it the submission, and then supervises it
  (:func:`grader.sandbox.supervisor.supervise`), sending what it saw to the grader;
* the *student process* (:func:`_student`) applies the inner layers, loads the
  student's cells once, then observes the tasks in order.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import json
import os
import secrets
import signal
import socket
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from grader.sandbox.channel import Writer, send_msg
from grader.sandbox.limits import data_size_mb, phase_rlimits
from grader.sandbox.supervisor import Child, supervise

EXIT_INTERNAL = 72  # the sandbox's own code failed (not the student's)
EXIT_CHANNEL_LOST = 73  # the student's code closed or broke the result channel
CODE_CACHE: dict[str, Any] = {}  # compiled observe side of a tests file, by its text


def set_nonblock(fd: int) -> None:
    fl = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, fl | os.O_NONBLOCK)


def run_keeper(plan: Any, threads: dict[str, int], go_r: int, st_w: int,
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
                                   "paths", "code_dir", "load_limits")}
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
        set_nonblock(fd)
    resp: dict[str, Any] = {"t": "partial", "first": bool(req["first"]), "cells": {},
                            "tasks": {}, "load": {},
                            "layers": [x.as_list() for x in layers]}
    blobs: list[bytes] = []

    def on_phase(lim: dict[str, Any]) -> None:
        # the worker switches the cgroup's caps to this phase's (/sys is read-only here)
        with contextlib.suppress(OSError):
            os.write(st_w, (json.dumps({"phase_limits": {
                "memory_mb": int(lim["memory_mb"]), "processes": int(lim["processes"])}})
                + "\n").encode())

    next_task, stop = supervise(child, req, req["tasks"], int(req["start"]),
                                bool(req["first"]), resp, blobs, ctl, on_phase)
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
                                 CODE_CACHE.get(src or ""))
    except BaseException:
        writer.send({"t": "fatal", "detail": "the tests file could not be loaded:\n"
                     + traceback.format_exc()})
        return
    ns = child.student_namespace()
    # RLIMIT_DATA counts what the process held before the student's code, TensorFlow
    # included: the limits are on top of that
    base_mb = data_size_mb()
    plan.limits = dataclasses.replace(plan.limits, data_base_mb=base_mb)
    layers += isolation.inner_lockdown(plan)
    child.install_audit_hook()
    writer.send({"t": "hello", "layers": [x.as_list() for x in layers]})
    cells = [PreparedCell(c["file"], c["index"], c["line"],
                          Path(p).read_text(encoding="utf-8") if p else "", c["run"], (),
                          c["notebook"]) for c, p in zip(req["cells"], paths, strict=True)]
    ll = req["load_limits"]
    phase_rlimits(int(ll["memory_mb"]), int(ll["processes"]), base_mb)
    child.load_cells(cells, paths, writer, ns, bool(req["first"]))
    writer.send({"t": "loaded"})
    tasks = [child.TaskSpec(t["id"], tuple(t["names"]), t["device"],
                            int(t["limits"]["memory_mb"]), int(t["limits"]["processes"]))
             for t in req["tasks"]]
    data_dir = Path(req["data_dir"]) if req.get("data_dir") else None
    child.run_tasks(tasks[int(req["start"]):], suite, ns, cells, paths, writer,
                    int(req["seed"]), data_dir, Path(plan.scratch), base_mb)
    writer.send({"t": "done"})

