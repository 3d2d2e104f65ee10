"""What runs inside the sandbox: load the student's cells once, then observe each task.

Everything here runs in the sandboxed process, so nothing here decides a grade: it
only reports, over the result channel, what happened (cell outcomes, observations,
errors, task boundaries). The supervisor measures time and the grader's process
judges.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import sys
import threading
import time
import types
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from grader.codetest import Suite
from grader.sandbox.cells import RUN_BODY, PreparedCell, exception_value, student_traceback
from grader.sandbox.channel import NotObservable, Writer, arrays_to_npz, encode
from grader.sandbox.limits import data_size_mb, phase_rlimits


@dataclass
class TaskSpec:
    id: str
    names: tuple[str, ...]
    device: str  # "cpu" | "gpu"
    memory_mb: int = 0  # this task's limits (0: the sandbox's)
    processes: int = 0


def derived_seed(seed: int, task_id: str) -> int:
    return (seed * 1_000_003 + zlib.crc32(task_id.encode())) % (2**31 - 1)


class ObserveCtx:
    """The ``ctx`` an observe function gets (see :class:`grader.codetest.ObserveContext`)."""

    def __init__(self, task_id: str, seed: int, data_dir: Path | None, scratch: Path,
                 writer: Writer, files: dict[str, PreparedCell], device: str) -> None:
        self.task_id = task_id
        self.seed = seed
        self.rng = np.random.default_rng([seed, zlib.crc32(task_id.encode())])
        self.data_dir = data_dir
        self.scratch = scratch
        self.device = device
        self._writer = writer
        self._files = files
        self.memory_hit = False

    def _error(self, key: str, exc: BaseException) -> None:
        if isinstance(exc, MemoryError):
            self.memory_hit = True
        loc = student_traceback(exc, self._files)
        self._writer.send({"t": "err", "task": self.task_id, "key": key, "error": {
            "ename": type(exc).__name__, "evalue": exception_value(exc),
            "traceback": loc.text, "line": loc.line, "file": loc.file}})

    def record(self, key: str, value: Any) -> None:
        try:
            enc, arrays = encode(value)
            blob = arrays_to_npz(arrays)
        except NotObservable as exc:
            self._error(key, TypeError(f"the value to check is {exc}, not numbers, "
                                       "arrays or strings"))
            return
        except Exception as exc:
            self._error(key, exc)
            return
        self._writer.send({"t": "rec", "task": self.task_id, "key": key, "value": enc}, blob)

    @contextlib.contextmanager
    def section(self, key: str) -> Iterator[None]:
        try:
            yield
        except BaseException as exc:  # the student's code may raise anything, SystemExit too
            self._error(key, exc)

    def trace_count(self, fn: Any) -> int | None:
        get = getattr(fn, "experimental_get_tracing_count", None)
        if get is None:
            return None
        try:
            return int(get())
        except Exception:
            return None


class _IPythonStub:
    """``get_ipython()`` for notebooks exported to .py: magics and shell calls do nothing."""

    def __init__(self, ns: dict[str, Any]) -> None:
        self.user_ns = ns

    def run_cell_magic(self, name: str, line: str, cell: str, *a: Any, **k: Any) -> None:
        if name in RUN_BODY:
            exec(compile(cell, "<cell magic body>", "exec"), self.user_ns)

    def getoutput(self, *a: Any, **k: Any) -> list[str]:
        return []

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *a, **k: None


def _display(*objs: Any, **kw: Any) -> None:
    for o in objs:
        print(repr(o))


_BLOCKED = {
    "socket.__new__": "network access", "socket.connect": "network access",
    "socket.bind": "network access", "socket.getaddrinfo": "network access",
    "socket.gethostbyname": "network access", "subprocess.Popen": "running programs",
    "os.system": "running programs", "os.exec": "running programs",
    "os.posix_spawn": "running programs", "os.spawn": "running programs",
    "os.fork": "starting processes", "os.forkpty": "starting processes",
    "pty.spawn": "running programs", "os.killpg": "sending signals to other processes",
}


def install_audit_hook() -> None:
    """Clear messages for what the lower layers refuse anyway (they stay in force)."""
    me = os.getpid()

    def hook(event: str, args: tuple[Any, ...]) -> None:
        what = _BLOCKED.get(event)
        if what is None and event == "os.kill" and args and args[0] not in (me, os.getpid()):
            what = "sending signals to other processes"
        if what is not None:
            raise PermissionError(f"the grader's sandbox does not allow {what} ({event})")

    sys.addaudithook(hook)


def _flush() -> None:
    for s in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        with contextlib.suppress(Exception):
            if s is not None:
                s.flush()


def _set_seeds(seed: int) -> None:
    """Seed Python, NumPy and (when loaded) Keras/TensorFlow alike for every run."""
    import random

    random.seed(seed)
    np.random.seed(seed)
    keras = sys.modules.get("keras")
    tf = sys.modules.get("tensorflow")
    try:
        if keras is not None:
            keras.utils.set_random_seed(seed)
        elif tf is not None:
            tf.random.set_seed(seed)
    except Exception:
        pass


def _device_scope(device: str) -> contextlib.AbstractContextManager[Any]:
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return contextlib.nullcontext()
    return tf.device("/GPU:0" if device == "gpu" else "/CPU:0")  # type: ignore[no-any-return]


def load_cells(cells: list[PreparedCell], paths: list[str], writer: Writer,
               ns: dict[str, Any], report: bool) -> None:
    """Run the cells in order, errors allowed; report each cell's outcome."""
    files = {p: c for p, c in zip(paths, cells, strict=True)}
    for i, (cell, path) in enumerate(zip(cells, paths, strict=True)):
        if not cell.run:
            if report:
                writer.send({"t": "cell", "i": i, "status": "skipped"})
            continue
        if report:
            writer.send({"t": "cell_start", "i": i})
        msg: dict[str, Any] = {"t": "cell", "i": i, "status": "ok"}
        t0 = time.perf_counter()
        try:
            code = compile(cell.source, path, "exec", dont_inherit=True)
            exec(code, ns)
        except BaseException as exc:  # Run all with errors allowed: SystemExit too
            loc = student_traceback(exc, files)
            msg.update(status="error", ename=type(exc).__name__, evalue=exception_value(exc),
                       traceback=loc.text, memory=isinstance(exc, MemoryError))
        msg["work_s"] = time.perf_counter() - t0
        _flush()
        if report:
            writer.send(msg)


def run_tasks(tasks: list[TaskSpec], suite: Suite | None, ns: dict[str, Any],
              cells: list[PreparedCell], paths: list[str], writer: Writer, seed: int,
              data_dir: Path | None, scratch: Path, data_base_mb: int = 0) -> None:
    files = {p: c for p, c in zip(paths, cells, strict=True)}
    base_threads = threading.active_count()
    for task in tasks:
        held = 0
        if task.memory_mb and task.processes:
            # what the student's code already holds may be over this task's memory limit:
            # say so, rather than let allocations fail somewhere in C code
            held = data_size_mb() - data_base_mb
            phase_rlimits(task.memory_mb, task.processes, data_base_mb)
        writer.send({"t": "task_start", "task": task.id})
        end: dict[str, Any] = {"t": "task_end", "task": task.id, "status": "ok"}
        missing = [n for n in task.names if n not in ns]
        tests = suite.tasks.get(task.id) if suite else None
        observe = tests.observe if tests else None
        t0 = time.perf_counter()
        if held > task.memory_mb > 0:
            end.update(status="error", memory=True, error={
                "ename": "MemoryError", "evalue": f"your code already holds {held} MB when "
                f"this task starts (limit {task.memory_mb} MB)", "traceback": ""})
        elif missing:
            end.update(status="missing", missing=missing)
        elif observe is None:
            end.update(status="no_tests")
        else:
            ctx = ObserveCtx(task.id, seed, data_dir, scratch, writer, files, task.device)
            _set_seeds(derived_seed(seed, task.id))
            try:
                with _device_scope(task.device):
                    observe(ns, ctx)
            except BaseException as exc:
                if isinstance(exc, MemoryError):
                    ctx.memory_hit = True
                loc = student_traceback(exc, files)
                end.update(status="error", error={
                    "ename": type(exc).__name__, "evalue": exception_value(exc),
                    "traceback": loc.text, "line": loc.line, "file": loc.file})
            if ctx.memory_hit:
                end["memory"] = True
        end["work_s"] = time.perf_counter() - t0
        _flush()
        extra = threading.active_count() - base_threads
        if extra > 0:
            end["threads_left"] = extra
        writer.send(end)


def main_module(ns_name: str = "__main__") -> types.ModuleType:
    mod = types.ModuleType(ns_name)
    mod.__dict__["__builtins__"] = builtins
    sys.modules[ns_name] = mod
    return mod


def student_namespace() -> dict[str, Any]:
    mod = main_module()
    ns = mod.__dict__
    ns["get_ipython"] = lambda: _IPythonStub(ns)
    ns["display"] = _display
    return ns


def load_tests(source: str | None, filename: str, code: types.CodeType | None = None
               ) -> Suite | None:
    """Run the observe side of a tests file (see :mod:`.observe_source`).

    ``source`` is the cut-down text; it is registered in ``linecache`` under the
    tests file's name so that AutoGraph can read observe functions' source.
    """
    if not source:
        return None
    import linecache

    mod = types.ModuleType("grader_observe")
    mod.__file__ = filename
    sys.modules[mod.__name__] = mod
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    if code is None:
        code = compile(source, filename, "exec", dont_inherit=True)
    exec(code, mod.__dict__)
    suite = mod.__dict__.get("suite")
    if not isinstance(suite, Suite):
        raise RuntimeError(f"{filename} defines no `suite = Suite()`")
    for t in suite.tasks.values():
        t.judge = None
    return suite
