"""The public face of the sandbox: :class:`Engine` runs submissions and judges them.

::

    with Engine(assignment, jobs=N, seed=SEED) as engine:
        engine.reference()            # task id -> Observation, computed once
        run = engine.run(submission)  # CodeRun; thread-safe, blocking

``jobs`` worker processes (zygotes, :mod:`grader.sandbox.zygote`) import TensorFlow
once and fork a hardened sandbox per submission. The reference solution runs
through the same path with the same seed, in a worker of its own that is shut
down afterwards (so no student sandbox is ever forked from a process that held
the reference's code or values). Judge functions run here, in the grader's
process, on observations that came back as JSON + ``.npz``.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from grader.assignment import Assignment, CodeTask, Limits
from grader.codetest import Check, ErrorInfo, JudgeContext, Observation, Suite
from grader.errors import SandboxError
from grader.models import (
    NO_CODE_MESSAGE,
    CellReport,
    CodeCell,
    CodeRun,
    PointResult,
    Submission,
    TaskResult,
)
from grader.sandbox import cells as cellmod
from grader.sandbox import gpus as gpumod
from grader.sandbox.channel import decode, npz_to_arrays, recv_msg, send_msg
from grader.sandbox.observe_source import child_source

READY_TIMEOUT_S = 300.0
LAYER_ORDER = ("session", "pdeathsig", "user-ns", "net-ns", "pid-ns", "ipc-ns", "mount-ns",
               "read-only-fs", "landlock", "seccomp", "rlimits", "cgroup-memory",
               "cgroup-pids", "fds", "capabilities", "no-new-privs")
_SIGNAMES = {signal.SIGSEGV: "a segmentation fault", signal.SIGABRT: "an abort (SIGABRT)",
             signal.SIGBUS: "a bus error", signal.SIGFPE: "a floating-point exception",
             signal.SIGILL: "an illegal instruction", signal.SIGKILL: "SIGKILL",
             signal.SIGXCPU: "the CPU time limit (SIGXCPU)", signal.SIGSYS: "a forbidden syscall"}


def _package_parent() -> str:
    return str(Path(__file__).resolve().parent.parent.parent)


def thread_caps(jobs: int) -> dict[str, int]:
    cores = os.cpu_count() or 1
    intra = max(1, min(8, cores // max(1, jobs)))
    return {"intra": intra, "inter": 2}


def worker_env(gpu: str | None, threads: Mapping[str, int], preload: Sequence[str],
               home: str) -> dict[str, str]:
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
        "HOME": home, "TMPDIR": home, "PYTHONPATH": _package_parent(),
        "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1", "PYTHONHASHSEED": "0",
        "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow",
        "TF_NUM_INTRAOP_THREADS": str(threads["intra"]),
        "TF_NUM_INTEROP_THREADS": str(threads["inter"]),
        "OMP_NUM_THREADS": str(threads["intra"]), "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2",
        "CUDA_VISIBLE_DEVICES": gpu if gpu is not None else "",
        "TF_FORCE_GPU_ALLOW_GROWTH": "true", "GRADER_PRELOAD": ",".join(preload),
        "MPLBACKEND": "Agg",
    }
    for k in ("LD_LIBRARY_PATH", "CUDA_HOME", "XLA_FLAGS"):
        if k in os.environ:
            env[k] = os.environ[k]
    return env


def child_env(worker: dict[str, str]) -> dict[str, str]:
    keep = ("PATH", "LANG", "LC_ALL", "TF_CPP_MIN_LOG_LEVEL", "KERAS_BACKEND",
            "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS",
            "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MALLOC_ARENA_MAX",
            "CUDA_VISIBLE_DEVICES", "TF_FORCE_GPU_ALLOW_GROWTH", "MPLBACKEND", "PYTHONHASHSEED")
    return {k: worker[k] for k in keep if k in worker}


class Worker:
    """One zygote process and the socket to it."""

    def __init__(self, index: int, gpu: str | None, workdir: Path, threads: Mapping[str, int],
                 preload: Sequence[str], python: str) -> None:
        self.index = index
        self.gpu = gpu
        self.workdir = workdir
        self.threads = dict(threads)
        self.preload = tuple(preload)
        self.python = python
        self.env = worker_env(gpu, threads, preload, str(workdir))
        self.proc: subprocess.Popen[bytes] | None = None
        self.sock: socket.socket | None = None
        self.ready: dict[str, Any] = {}
        self.log = workdir / f"worker-{index}.log"

    def start(self) -> None:
        parent, child = socket.socketpair()
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [self.python, "-m", "grader.sandbox.zygote", str(child.fileno())],
                pass_fds=(child.fileno(),), env=self.env, cwd=str(self.workdir),
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        child.close()
        self.sock = parent

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> dict[str, Any]:
        assert self.sock is not None
        self.sock.settimeout(timeout)
        try:
            msg, _ = recv_msg(self.sock)
        except (EOFError, OSError) as exc:
            raise SandboxError(f"sandbox worker {self.index} did not start: {exc}\n"
                               f"{self.log_tail()}", fix="run `grader doctor`") from exc
        finally:
            self.sock.settimeout(None)
        self.ready = msg
        return msg

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    @property
    def cuda(self) -> bool:
        return bool(self.ready.get("cuda_built"))

    def request(self, msg: dict[str, Any]) -> tuple[dict[str, Any], list[bytes]]:
        if self.sock is None or self.proc is None or self.proc.poll() is not None:
            raise SandboxError(f"sandbox worker {self.index} is not running")
        try:
            send_msg(self.sock, msg)
            resp: dict[str, Any] = {"cells": {}, "tasks": {}, "load": {}, "layers": []}
            blobs: list[bytes] = []
            while True:
                part, pblobs = recv_msg(self.sock)
                if part.get("t") != "partial":  # the worker's own last word
                    resp.update({k: v for k, v in part.items() if k != "t"})
                    resp["layers"] = list(resp["layers"]) + list(resp.pop("worker_layers", []))
                    return resp, blobs
                # one sandbox's report (a task that ended the sandbox makes more than one)
                offset = len(blobs)
                blobs += pblobs
                for r in part.get("tasks", {}).values():
                    for rec in r.get("records", []):
                        if isinstance(rec[2], int):
                            rec[2] += offset
                resp["tasks"].update(part.get("tasks", {}))
                if part.get("first"):
                    for k in ("cells", "load", "layers", "setup_s", "load_work_s"):
                        if k in part:
                            resp[k] = part[k]
                if part.get("fatal"):
                    resp["fatal"] = part["fatal"]
        except (EOFError, OSError) as exc:
            raise SandboxError(f"sandbox worker {self.index} died: {exc}\n{self.log_tail()}"
                               ) from exc

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                send_msg(self.sock, {"op": "exit"})
            with contextlib.suppress(OSError):
                self.sock.close()
            self.sock = None
        if self.proc is not None:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            self.proc = None


def load_suite(path: Path, name: str) -> Suite:
    """Import a tests file in the grader's process (its judge functions run here)."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SandboxError(f"cannot load tests file {path}")
    mod = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(mod)
    except Exception as exc:
        raise SandboxError(f"the tests file {path} raised {type(exc).__name__}: {exc}",
                           path=path, fix="fix the tests file") from exc
    suite = getattr(mod, "suite", None)
    if not isinstance(suite, Suite):
        raise SandboxError("the tests file defines no `suite = Suite()`", path=path,
                           fix="add `suite = Suite()` and register observe/judge functions")
    return suite


def reference_cells(path: Path) -> list[CodeCell]:
    text = path.read_text(encoding="utf-8")
    rel = path.name
    try:
        if path.suffix == ".ipynb":
            from grader.notebook import parse_notebook

            return list(parse_notebook(text, rel)[1])
        from grader.pyfile import parse_py

        cells = list(parse_py(text, rel)[1])
        if cells:
            return cells
    except Exception:
        pass
    return [CodeCell(source=text, file=rel, index=0, line=1)]


def _limits_dict(lim: Limits) -> dict[str, Any]:
    return {k: getattr(lim, k) for k in ("wall_s", "memory_mb", "processes", "output_kb",
                                         "disk_mb")}


def _points(task: CodeTask, feedback: str, verdict: str = "not_awarded", detail: str = "",
            review: bool = False) -> tuple[PointResult, ...]:
    return tuple(PointResult(point_id=p.id, owner_id=task.id, awarded=0.0, max_points=p.points,
                             verdict=verdict, feedback=feedback, detail=detail,  # type: ignore[arg-type]
                             needs_review=review) for p in task.points)


def _err(d: Mapping[str, Any] | None) -> ErrorInfo | None:
    if not d:
        return None
    return ErrorInfo(ename=str(d.get("ename", "")), evalue=str(d.get("evalue", "")),
                     traceback=str(d.get("traceback", "")),
                     line=d.get("line") if isinstance(d.get("line"), int) else None,
                     file=d.get("file") if isinstance(d.get("file"), str) else None)


def _limit_word(lim: Limits, kind: str) -> str:
    return {"memory": f"memory limit of {lim.memory_mb} MB",
            "processes": f"limit of {lim.processes} processes/threads",
            "cpu": "CPU time limit",
            "disk": f"disk limit of {lim.disk_mb} MB (scratch folder)"}[kind]


class Engine:
    """Runs submissions' code in sandboxes and judges the observations."""

    def __init__(self, assignment: Assignment, jobs: int | None = None, seed: int = 0,
                 public_only: bool = False, gpus: Sequence[str] | None = None, *,
                 cache_dir: Path | str | None = None, workdir: Path | str | None = None,
                 switches: Mapping[str, bool] | None = None,
                 preload: Sequence[str] = ("tensorflow", "keras"),
                 python: str | None = None, cuda: bool | None = None) -> None:
        self.assignment = assignment
        self.jobs = int(jobs) if jobs else (os.cpu_count() or 1)
        self.seed = int(seed)
        self.public_only = public_only
        self.gpu_inventory = list(gpumod.detect() if gpus is None else gpus)
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.switches = dict(switches or {})
        self.preload = tuple(preload)
        self.python = python or sys.executable
        self.threads = thread_caps(self.jobs)
        self.cuda = cuda  # None: whether the workers' TensorFlow was built with CUDA
        tests = (assignment.public_tests or assignment.hidden_tests) if public_only else \
            assignment.hidden_tests
        self.tests_path = Path(tests) if tests else None
        self.tasks = tuple(t for t in assignment.tasks if t.public or not public_only)
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="grader-sb-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.workdir, 0o755)
        self._workers: list[Worker] = []
        self._idle: queue.Queue[Worker] = queue.Queue()
        self._ref: dict[str, Observation] | None = None
        self._ref_lock = threading.Lock()
        self.reference_problems: dict[str, str] = {}
        self.suite: Suite | None = None
        self.tests_source: str | None = None
        self._started = False
        self._closed = False
        self.last_layers: tuple[tuple[str, bool, str], ...] = ()

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> Engine:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        if self.tests_path is not None:
            name = "grader_tests_" + hashlib.sha256(str(self.tests_path).encode()).hexdigest()[:12]
            self.suite = load_suite(self.tests_path, name)
            self.tests_source = child_source(self.tests_path.read_text(encoding="utf-8"))
        assignment = gpumod.assign(self.jobs, self.gpu_inventory)
        self._workers = [Worker(i, g, self.workdir, self.threads, self.preload, self.python)
                         for i, g in enumerate(assignment)]
        for w in self._workers:
            w.start()
        try:
            for w in self._workers:
                w.wait_ready()
                self._idle.put(w)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for w in self._workers:
            w.close()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def workers(self) -> list[Worker]:
        return list(self._workers)

    # ------------------------------------------------------------------ requests
    def _stage(self, prepared: Sequence[cellmod.PreparedCell]) -> tuple[Path, list[dict[str, Any]]]:
        """Write the cells to real files in a fresh run folder (here, in the grader's
        process: the worker never holds a student's source)."""
        run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=self.workdir))
        os.chmod(run_dir, 0o755)
        code = run_dir / "code"
        code.mkdir(mode=0o755)
        meta = []
        for n, c in enumerate(prepared):
            d = {k: v for k, v in asdict(c).items() if k not in ("source", "skipped")}
            if c.run:
                p = code / cellmod.cell_filename(c, n)
                p.write_text(c.source, encoding="utf-8")
                os.chmod(p, 0o644)
                d["path"] = str(p)
            else:
                d["path"] = ""
            meta.append(d)
        return run_dir, meta

    def _request(self, staged: tuple[Path, list[dict[str, Any]]], tasks: Sequence[CodeTask],
                 devices: Mapping[str, str], worker: Worker,
                 read_paths: Sequence[str]) -> dict[str, Any]:
        a = self.assignment
        run_dir, meta = staged
        data_dir = str(a.data_dir) if a.data_dir else None
        reads = [p for p in [data_dir, *read_paths] if p]
        gpu_task = any(d == "gpu" for d in devices.values())
        devs: list[str] = []
        if gpu_task:
            devs = gpumod.device_nodes()
            reads += list(gpumod.GPU_READ_PATHS)
        return {
            "op": "run",
            "run_dir": str(run_dir), "cells": meta, "tests_source": self.tests_source,
            "tasks": [{"id": t.id, "names": list(t.names), "device": devices[t.id],
                       "limits": _limits_dict(t.limits)} for t in tasks],
            "load_limits": _limits_dict(a.load_limits),
            "tests": str(self.tests_path) if self.tests_path else None,
            "seed": self.seed, "data_dir": data_dir, "read_paths": reads,
            "workdir": str(self.workdir), "threads": self.threads,
            "env": child_env(worker.env), "switches": self.switches, "devices": devs,
        }

    def _devices(self, worker: Worker) -> dict[str, str | None]:
        cuda = worker.cuda if self.cuda is None else self.cuda
        return {t.id: gpumod.resolve(t.device, worker.gpu, cuda) for t in self.tasks}

    def _call(self, worker: Worker, build: Any) -> tuple[dict[str, Any], list[bytes]]:
        """Send a request; restart the worker once if it died (not the student's doing)."""
        for attempt in range(2):
            try:
                resp, blobs = worker.request(build(worker))
                if "error" in resp:
                    raise SandboxError("the sandbox worker failed:\n" + str(resp["error"]))
                return resp, blobs
            except SandboxError:
                if attempt:
                    raise
                worker.close()
                worker.start()
                worker.wait_ready()
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ reference
    def reference(self) -> Mapping[str, Observation]:
        """The reference solution's observations per task (computed once, cached)."""
        with self._ref_lock:
            if self._ref is None:
                cache = self._cache_file()
                if cache is not None and (cache / "obs.json").is_file():
                    with contextlib.suppress(OSError, ValueError, KeyError):
                        self._ref = self._load_cache(cache)
            if self._ref is None:
                self.start()
                self._ref = self._compute_reference()
            return self._ref

    def _cache_file(self) -> Path | None:
        if self.cache_dir is None:
            return None
        key = hashlib.sha256(json.dumps([
            self.assignment.content_hash, self.seed, self.public_only,
            sorted(t.id for t in self.tasks), self._tf_version()]).encode()).hexdigest()[:24]
        return self.cache_dir / f"reference-{self.assignment.id}-{key}"

    @staticmethod
    def _tf_version() -> str:
        from importlib import metadata

        for dist in ("tensorflow", "tensorflow-cpu"):
            with contextlib.suppress(metadata.PackageNotFoundError):
                return metadata.version(dist)
        return ""

    def _compute_reference(self) -> dict[str, Observation]:
        cache = self._cache_file()
        a = self.assignment
        if a.reference is None or not self.tasks:
            self.reference_problems = {t.id: "the assignment has no reference solution"
                                       for t in self.tasks}
            return {t.id: Observation(status="error") for t in self.tasks}
        prepared = cellmod.prepare(reference_cells(Path(a.reference)))
        # The reference runs through the same path as the students, on a pool worker: its
        # code is read from files by its own sandbox and its observations go from that
        # sandbox's keeper straight to this process, so the worker (whose memory later
        # student sandboxes inherit) never holds either.
        w = self._idle.get()
        staged = self._stage(prepared)
        try:
            cuda = w.cuda if self.cuda is None else self.cuda
            devices = {t.id: (gpumod.resolve(t.device, w.gpu, cuda) or "cpu")
                       for t in self.tasks}
            resp, blobs = self._call(w, lambda wk: self._request(
                staged, self.tasks, devices, wk, [str(Path(a.reference).parent)]))
        finally:
            shutil.rmtree(staged[0], ignore_errors=True)
            self._idle.put(w)
        if resp.get("fatal"):
            raise SandboxError(str(resp["fatal"]), path=self.tests_path,
                               fix="fix the tests file so that it loads")
        obs: dict[str, Observation] = {}
        raw: dict[str, Any] = {}
        load = resp.get("load", {})
        for t in self.tasks:
            r = resp.get("tasks", {}).get(t.id)
            if load.get("status") != "ok" or r is None:
                self.reference_problems[t.id] = (
                    "the reference solution did not load: " + json.dumps(load)[:2000])
                obs[t.id] = Observation(status="error")
                continue
            o, problem = self._observation(r, blobs)
            if problem:
                self.reference_problems[t.id] = problem
            obs[t.id] = o
            raw[t.id] = r
        if cache is not None and not self.reference_problems:
            self._save_cache(cache, raw, blobs)
        return obs

    def _save_cache(self, cache: Path, raw: dict[str, Any], blobs: list[bytes]) -> None:
        tmp = cache.with_name(cache.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for i, b in enumerate(blobs):
            (tmp / f"{i}.npz").write_bytes(b)
        (tmp / "obs.json").write_text(json.dumps({"tasks": raw, "nblobs": len(blobs)}))
        shutil.rmtree(cache, ignore_errors=True)
        tmp.rename(cache)

    def _load_cache(self, cache: Path) -> dict[str, Observation]:
        data = json.loads((cache / "obs.json").read_text())
        blobs = [(cache / f"{i}.npz").read_bytes() for i in range(int(data["nblobs"]))]
        out = {}
        for t in self.tasks:
            out[t.id] = self._observation(data["tasks"][t.id], blobs)[0]
        return out

    @staticmethod
    def _observation(r: Mapping[str, Any], blobs: list[bytes]) -> tuple[Observation, str]:
        values: dict[str, Any] = {}
        problem = ""
        for key, value, idx in r.get("records", []):
            try:
                arrays = npz_to_arrays(blobs[idx]) if idx is not None else {}
                values[key] = decode(value, arrays)
            except Exception as exc:  # a malformed observation: treat as not recorded
                problem = f"observation {key!r} could not be read: {exc}"
        errors = {k: e for k, v in (r.get("errors") or {}).items() if (e := _err(v))}
        status = "ok"
        if r.get("outcome") != "ended":
            status = "error"
            problem = problem or f"the task did not finish ({r.get('outcome')})"
        elif r.get("status") != "ok":
            status = "error"
            if r.get("status") == "missing":
                problem = f"names not defined: {', '.join(r.get('missing', []))}"
            elif r.get("status") == "no_tests":
                problem = "no observe function for this task in the tests file"
            elif r.get("error"):
                e = _err(r["error"])
                problem = f"observe raised {e.summary() if e else ''}"
                errors = {**errors, "_observe": e} if e else errors
        if errors and not problem:
            problem = "; ".join(f"{k}: {e.summary()}" for k, e in errors.items())
        return Observation(values=values, errors=errors, status=status,
                           stdout=str(r.get("stdout", ""))), problem

    # ------------------------------------------------------------------ run
    def run(self, submission: Submission, root: Path | str | None = None) -> CodeRun:
        """Run and judge one submission. Never raises for anything the student's code does.

        ``root``: the folder the submission's ``path`` is relative to; when given, the
        student's code may read its own files there.
        """
        return self.run_with_stats(submission, root)[0]

    def run_with_stats(self, submission: Submission, root: Path | str | None = None
                       ) -> tuple[CodeRun, dict[str, Any]]:
        """:meth:`run`, plus timings: wall, sandbox setup, the student's own work while
        loading and per task (for benchmarks and diagnostics)."""
        t0 = time.monotonic()
        stats: dict[str, Any] = {}
        run = self._run(submission, root, stats)
        stats["wall_s"] = time.monotonic() - t0
        return run, stats

    def _run(self, submission: Submission, root: Path | str | None,
             stats: dict[str, Any]) -> CodeRun:
        t0 = time.monotonic()
        if not submission.code_cells or not any(c.source.strip() for c in submission.code_cells):
            msg = NO_CODE_MESSAGE
            return CodeRun(load_status="no_code", load_message=msg, cells=(), tasks=tuple(
                TaskResult(task_id=t.id, status="missing", message=msg, points=_points(t, msg))
                for t in self.tasks))
        self.start()
        prepared = cellmod.prepare(submission.code_cells)
        reads: list[str] = []
        if root is not None:  # the student's own folder or file(s), several when merged
            for rel in (submission.path, *(f.path for f in submission.files)):
                own = Path(root) / rel
                if own.exists() and str(own.resolve()) not in reads:
                    reads.append(str(own.resolve()))
        staged = self._stage(prepared)
        worker = self._idle.get()
        try:
            devices = self._devices(worker)
            runnable = tuple(t for t in self.tasks if devices[t.id] is not None)
            dev = {t.id: str(devices[t.id]) for t in runnable}
            resp, blobs = self._call(worker, lambda wk: self._request(
                staged, runnable, dev, wk, reads))
        except SandboxError as exc:
            return self._engine_failure(prepared, str(exc), time.monotonic() - t0)
        finally:
            self._idle.put(worker)
            shutil.rmtree(staged[0], ignore_errors=True)
        # the reference is needed only to judge: students run while it is computed
        ref = self.reference()
        stats.update(setup_s=resp.get("setup_s"), load_work_s=resp.get("load_work_s", 0.0),
                     restarts=resp.get("restarts", 0), task_work_s={
                         tid: r.get("work_s") for tid, r in resp.get("tasks", {}).items()
                         if isinstance(r.get("work_s"), (int, float))},
                     task_wall_s={tid: r.get("duration") for tid, r in
                                  resp.get("tasks", {}).items()})
        return self._build(resp, blobs, prepared, ref, devices, time.monotonic() - t0)

    def _engine_failure(self, prepared: Sequence[cellmod.PreparedCell], detail: str,
                        duration: float) -> CodeRun:
        msg = "the grader's sandbox failed while running this submission (not your code)"
        tasks = tuple(TaskResult(task_id=t.id, status="error", message=msg,
                                 points=_points(t, msg, "error", detail, True), detail=detail)
                      for t in self.tasks)
        return CodeRun(load_status="error", load_message=msg, cells=(), tasks=tasks,
                       duration_s=duration)

    def _layers(self, resp: Mapping[str, Any]) -> tuple[tuple[str, bool, str], ...]:
        rows = [(str(n), bool(a), str(d)) for n, a, d in resp.get("layers", [])]
        rows.append(("wall-timeout", True, "the supervisor kills the process group"))
        self.last_layers = tuple(rows)
        return self.last_layers

    def _build(self, resp: dict[str, Any], blobs: list[bytes],
               prepared: Sequence[cellmod.PreparedCell], ref: Mapping[str, Observation],
               devices: Mapping[str, str | None], duration: float) -> CodeRun:
        layers = self._layers(resp)
        active = tuple(n for n, a, _ in layers if a)
        load = resp.get("load", {})
        load_status, load_message = self._load_outcome(load, prepared)
        cells = self._cells(resp, prepared, load_status, load_message)
        source = cellmod.judge_source(prepared)
        skipped = cellmod.not_executed(prepared)
        tasks = []
        for t in self.tasks:
            if devices.get(t.id) is None:
                msg = "not run: this task needs a GPU and there is none on this machine"
                tasks.append(TaskResult(task_id=t.id, status="not_runnable", message=msg,
                                        points=_points(t, msg, "error", msg, True),
                                        device="gpu"))
                continue
            if load_status != "ok":
                msg = f"not run: {load_message}"
                det = json.dumps({k: v for k, v in load.items() if k != "stdout"})[:4000]
                tasks.append(TaskResult(task_id=t.id, status=load_status,  # type: ignore[arg-type]
                                        message=msg, points=_points(t, msg), detail=det,
                                        device=str(devices[t.id])))
                continue
            r = resp.get("tasks", {}).get(t.id)
            tasks.append(self._task_result(t, r, blobs, ref.get(t.id), source,
                                           str(devices[t.id]), cells))
        if skipped:
            load_message = (load_message + "; " if load_message else "") + (
                "not executed: " + "; ".join(skipped[:10]) + (
                    f" (and {len(skipped) - 10} more)" if len(skipped) > 10 else ""))
        return CodeRun(load_status=load_status, load_message=load_message,  # type: ignore[arg-type]
                       cells=cells, tasks=tuple(tasks), layers=active, duration_s=duration)

    def _death(self, info: Mapping[str, Any], lim: Limits) -> tuple[str, str]:
        """(status, message) for a sandbox that ended before its phase did."""
        why = info.get("outcome")
        if why == "timeout":
            return "timeout", f"time limit of {lim.wall_s:g} s hit"
        if why == "tamper":
            return "error", ("the grader's result channel received data that the grader did "
                             "not write (something in your code wrote into it)")
        sig = info.get("signal")
        out = str(info.get("stdout", ""))
        if info.get("oom_kills") or "std::bad_alloc" in out or (
                sig == signal.SIGKILL and info.get("peak_mb", 0) >= lim.memory_mb * 0.95):
            return "limit", _limit_word(lim, "memory") + " hit"
        if sig == signal.SIGXCPU:
            return "limit", "CPU time limit hit"
        if sig is not None:
            name = _SIGNAMES.get(sig, f"signal {sig}")
            return "error", f"the process crashed ({name})"
        if info.get("code") == 73:
            return "error", ("your code closed the grader's result channel (a file descriptor "
                             "it did not open), so nothing more could be checked")
        if info.get("code") == 72:
            return "error", "the grader's sandbox failed (not your code)"
        if "code" in info:
            return "error", (f"your code ended the process (exit status {info['code']}): "
                             "sys.exit/os._exit stop the grader's run too")
        return "error", "the process ended unexpectedly"

    def _load_outcome(self, load: Mapping[str, Any], prepared: Sequence[cellmod.PreparedCell]
                      ) -> tuple[str, str]:
        if load.get("status") == "ok":
            return "ok", ""
        lim = self.assignment.load_limits
        status, msg = self._death(load, lim)
        where = ""
        cell = load.get("cell")
        if isinstance(cell, int) and 0 <= cell < len(prepared):
            c = prepared[cell]
            where = f" while running {c.file}, {c.where()}" if c.notebook else \
                f" while running {c.file} ({c.where()})"
        if status == "timeout":
            return "timeout", f"time limit of {lim.wall_s:g} s for loading your code hit{where}"
        return status, f"loading your code failed{where}: {msg}"

    def _cells(self, resp: Mapping[str, Any], prepared: Sequence[cellmod.PreparedCell],
               load_status: str, load_message: str) -> tuple[CellReport, ...]:
        out = []
        got = resp.get("cells", {})
        for i, c in enumerate(prepared):
            note = ("not executed: " + "; ".join(c.skipped)) if c.skipped else ""
            r = got.get(str(i))
            if not c.run:
                out.append(CellReport(file=c.file, index=c.index, status="skipped",
                                      message="; ".join(c.skipped)))
            elif r is None and i == resp.get("load", {}).get("cell") and load_message:
                out.append(CellReport(file=c.file, index=c.index, status="error",
                                      message=load_message))
            elif r is None:
                why = load_message or "loading stopped before it"
                out.append(CellReport(file=c.file, index=c.index, status="skipped",
                                      message=f"not run: {why}"))
            elif r.get("status") == "error":
                ename, evalue = str(r.get("ename", "")), str(r.get("evalue", ""))
                msg = f"{ename}: {evalue}" + (f"; {note}" if note else "")
                out.append(CellReport(file=c.file, index=c.index, status="error", message=msg,
                                      ename=ename, evalue=evalue,
                                      traceback=str(r.get("traceback", ""))))
            else:
                out.append(CellReport(file=c.file, index=c.index, status="ok", message=note))
        return tuple(out)

    def _task_result(self, t: CodeTask, r: Mapping[str, Any] | None, blobs: list[bytes],
                     ref: Observation | None, source: str, device: str,
                     cells: Sequence[CellReport]) -> TaskResult:
        lim = t.limits
        if r is None:
            msg = "not run (the sandbox stopped before this task)"
            return TaskResult(task_id=t.id, status="error", message=msg,
                              points=_points(t, msg, "error", msg, True), device=device)
        dur = float(r.get("duration", 0.0))
        stdout = str(r.get("stdout", ""))
        cap = lim.output_kb * 1024
        if len(stdout) > cap + 200:  # the worker keeps the tail already; a safety net
            stdout = f"[... {len(stdout) - cap} characters not shown ...]\n" + stdout[-cap:]
        outcome = r.get("outcome")
        detail = {k: v for k, v in r.items() if k not in ("records", "errors", "stdout")}
        det = json.dumps(detail, default=str)[:4000]
        if outcome == "reload_failed":
            info = dict(r.get("reload", {}))
            _, why = self._death(info, self.assignment.load_limits)
            msg = ("not run: an earlier task ended the process and loading your code again "
                   f"failed ({why})")
            return TaskResult(task_id=t.id, status="error", message=msg, points=_points(t, msg),
                              duration_s=dur, detail=det, stdout=stdout, device=device)
        if outcome != "ended":
            status, msg = self._death(r, lim)
            return TaskResult(task_id=t.id, status=status, message=msg,  # type: ignore[arg-type]
                              points=_points(t, msg), duration_s=dur, detail=det, stdout=stdout,
                              device=device)
        st = r.get("status")
        if st == "missing":
            names = ", ".join(f"`{n}`" for n in r.get("missing", []))
            msg = f"{names} {'is' if len(r.get('missing', [])) == 1 else 'are'} not defined " \
                  "in your code"
            if any(c.status == "error" for c in cells):
                msg += " (a cell of your code raised an error while loading: see above)"
            return TaskResult(task_id=t.id, status="missing", message=msg, points=_points(t, msg),
                              duration_s=dur, detail=det, stdout=stdout, device=device)
        if st == "no_tests":
            msg = "this task could not be checked (no tests for it)"
            return TaskResult(task_id=t.id, status="error", message=msg,
                              points=_points(t, msg, "error", "no observe function in the "
                                             "tests file for this task", True),
                              duration_s=dur, detail=det, stdout=stdout, device=device)
        obs, _ = self._observation(r, blobs)
        all_errors = list(obs.errors.values())
        err = _err(r.get("error"))
        if err:
            all_errors.append(err)
        limit_kind = None
        if r.get("memory") or any(e.ename in ("MemoryError", "ResourceExhaustedError")
                                  or "std::bad_alloc" in e.evalue for e in all_errors):
            limit_kind = "memory"
        elif any(("[Errno 28]" in e.evalue or "[Errno 27]" in e.evalue
                  or (e.ename == "OSError" and "File too large" in e.evalue)) for e in all_errors):
            limit_kind = "disk"
        elif r.get("pids_hit") and all_errors:
            limit_kind = "processes"
        if limit_kind:
            msg = _limit_word(lim, limit_kind) + " hit"
            return TaskResult(task_id=t.id, status="limit", message=msg, points=_points(t, msg),
                              duration_s=dur, detail=det, stdout=stdout, device=device)
        points = self._judge(t, obs, ref or Observation(status="error"), source)
        status = "ok" if st == "ok" else "error"
        got = sum(p.awarded for p in points)
        msg = f"{got:g} of {t.max_points:g} points"
        if err:
            msg = f"your code raised {err.summary()}; {msg}"
        elif obs.errors:
            first = next(iter(obs.errors.values()))
            msg += f"; your code raised {first.summary()}"
        if r.get("threads_left"):
            det += f"\nthreads still running after the task: {r['threads_left']}"
        return TaskResult(task_id=t.id, status=status, message=msg, points=points,  # type: ignore[arg-type]
                          duration_s=dur, detail=det, stdout=stdout, device=device)

    def _judge(self, t: CodeTask, student: Observation, reference: Observation,
               source: str) -> tuple[PointResult, ...]:
        tests = self.suite.tasks.get(t.id) if self.suite else None
        judge = tests.judge if tests else None
        ref_problem = self.reference_problems.get(t.id, "")
        if judge is None:
            msg = "this task could not be checked (no judge for it)"
            return _points(t, msg, "error", "no judge function in the tests file", True)
        checks: dict[str, Check] = {}
        judge_error = ""
        stray: list[str] = []
        try:
            for chk in judge(student, reference, JudgeContext(t.id, source, self.seed)):
                if isinstance(chk, Check):
                    checks[chk.point] = chk
                else:
                    stray.append(repr(chk)[:200])
        except Exception:
            judge_error = traceback.format_exc()
        known = {p.id for p in t.points}
        stray += [k for k in checks if k not in known]
        out = []
        for p in t.points:
            c = checks.get(p.id)
            review = bool(ref_problem)
            notes = [f"reference: {ref_problem}"] if ref_problem else []
            if stray:
                notes.append(f"judge yielded unknown checks: {', '.join(stray)}")
            if c is None:
                if judge_error:
                    out.append(PointResult(
                        point_id=p.id, owner_id=t.id, awarded=0.0, max_points=p.points,
                        verdict="error", feedback="this check could not be completed; an "
                        "instructor will review it", detail="\n".join(
                            [*notes, "judge raised:", judge_error]), needs_review=True))
                else:
                    out.append(PointResult(
                        point_id=p.id, owner_id=t.id, awarded=0.0, max_points=p.points,
                        verdict="not_awarded", feedback="not checked",
                        detail="\n".join([*notes, "the judge gave no verdict for this point"]),
                        needs_review=True))
                continue
            out.append(PointResult(
                point_id=p.id, owner_id=t.id, awarded=p.points if c.passed else 0.0,
                max_points=p.points, verdict="awarded" if c.passed else "not_awarded",
                feedback=c.feedback, detail="\n".join([*notes, c.detail]).strip(),
                needs_review=review))
        return tuple(out)
