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

* the *keeper* (:func:`grader.sandbox.keeper.run_keeper`) applies the outer layers,
  forks the student process, and then supervises it (:mod:`grader.sandbox.supervisor`):
  it owns the clock (the load limit from the start, each task's limit from the end of
  the previous one), reads the result channel and the output pipe, kills the student
  process and its cgroup at a limit, and sends what it saw to the grader;
* the *student process* (:mod:`grader.sandbox.keeper`) applies the inner layers, loads
  the student's cells once, then observes the tasks in order.

Both are forked ahead of time (a *spare*), up to the point where they need the
submission, so that a request pays for neither fork. When a task ends the sandbox
(timeout, crash, ``os._exit``, memory), a fresh sandbox loads the code again (not
charged to any task) and goes on with the next task. Only facts are reported; the
grader's process turns them into results.

Modules: this one (the worker: its start and its request loop),
:mod:`.sandboxes` (forking sandboxes, the spare, tidying up), :mod:`.keeper`
(the keeper and the student process), :mod:`.supervisor` (the keeper's watch).
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import socket
import sys
import traceback
from pathlib import Path
from typing import Any

from grader.sandbox import sandboxes
from grader.sandbox.channel import recv_msg, send_msg
from grader.sandbox.keeper import CODE_CACHE, EXIT_CHANNEL_LOST, EXIT_INTERNAL
from grader.sandbox.limits import CgroupBase, RunLimits
from grader.sandbox.sandboxes import Sandbox, cleanup_pending, make_spare, retire, take_sandbox
from grader.sandbox.supervisor import MAX_TASK_BYTES, Child, Phase

__all__ = ["EXIT_CHANNEL_LOST", "EXIT_INTERNAL", "MAX_TASK_BYTES", "Child", "Phase", "Sandbox",
           "cleanup_pending", "main", "make_spare", "run_request", "take_sandbox"]


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
    if src and src not in CODE_CACHE:
        with contextlib.suppress(SyntaxError):  # the sandbox reports it when loading
            CODE_CACHE[src] = compile(src, str(req.get("tests") or "tests.py"), "exec",
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
            retire(sb)  # reaped and removed while the next submission runs
        restarts += 0 if first else 1
        first = False
        next_task = int(summary["next_task"])
        if summary.get("stop"):
            break
    return restarts, layers


# --------------------------------------------------------------------------- main
def main() -> None:
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

    cgroup_base = CgroupBase.find()
    sandboxes.set_cgroup_base(cgroup_base)
    cgroup_base.clean_stale()
    # Everything imported so far is shared with every sandbox: keep the garbage collector
    # of the sandboxes off it, or a collection would touch (and so copy) every page.
    gc.collect()
    gc.freeze()
    ready["cgroup"] = cgroup_base.detail
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
    sandboxes.shutdown()
    os._exit(0)


if __name__ == "__main__":
    main()
