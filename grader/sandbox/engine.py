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

The pieces: :mod:`.workers` (the worker processes and the socket to each),
:mod:`.reference` (the tests file, the reference's cells and its cache),
:mod:`.judging` (observations into results).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from grader.assignment import Assignment, CodeTask, Limits
from grader.codetest import Observation, Suite
from grader.errors import SandboxError
from grader.models import NO_CODE_MESSAGE, CodeRun, Submission, TaskResult
from grader.sandbox import cells as cellmod
from grader.sandbox import gpus as gpumod
from grader.sandbox import reference as refmod
from grader.sandbox.judging import Judging, build_run, no_points
from grader.sandbox.observe_source import child_source
from grader.sandbox.reference import load_suite, reference_cells
from grader.sandbox.workers import READY_TIMEOUT_S, Worker, child_env, thread_caps, worker_env

__all__ = ["LAYER_ORDER", "READY_TIMEOUT_S", "Engine", "Worker", "child_env", "load_suite",
           "reference_cells", "thread_caps", "worker_env"]

LAYER_ORDER = ("session", "pdeathsig", "user-ns", "net-ns", "pid-ns", "ipc-ns", "mount-ns",
               "read-only-fs", "landlock", "seccomp", "rlimits", "cgroup-memory",
               "cgroup-pids", "fds", "capabilities", "no-new-privs")


def _limits_dict(lim: Limits) -> dict[str, Any]:
    return {k: getattr(lim, k) for k in ("wall_s", "memory_mb", "processes", "output_kb",
                                         "disk_mb")}


WORKDIR_PREFIX = "grader-sb-"
OWNER_FILE = "owner"  # in an engine's own working folder: the grader process that owns it


def _process_identity(pid: int) -> str | None:
    """``pid`` and its start time (so a reused pid is not taken for the old process);
    None if no such process runs."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return f"{pid} {stat.rsplit(')', 1)[1].split()[19]}"
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return str(pid)


def sweep_stale_workdirs(tmp: Path) -> list[Path]:
    """Remove the working folders of engines whose grader process is gone (killed with
    SIGKILL, say, so it could not tidy up). Only folders with an owner file, owned by
    this user; returns what was removed."""
    removed = []
    for d in tmp.glob(WORKDIR_PREFIX + "*"):
        try:
            if not d.is_dir() or d.is_symlink() or d.stat().st_uid != os.getuid():
                continue
            owner = (d / OWNER_FILE).read_text().strip()
        except OSError:
            continue
        pid = owner.split()[0] if owner else ""
        if pid.isdigit() and _process_identity(int(pid)) != owner:
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    return removed


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
        if workdir is None:
            sweep_stale_workdirs(Path(tempfile.gettempdir()))
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX))
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self._own_workdir:
            (self.workdir / OWNER_FILE).write_text(_process_identity(os.getpid()) or "")
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
        return refmod.cache_path(self.cache_dir, self.assignment, self.seed, self.public_only,
                                 (t.id for t in self.tasks), self._tf_version())

    @staticmethod
    def _tf_version() -> str:
        return refmod.tf_version()

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
        obs, raw = refmod.reference_observations(resp, blobs, self.tasks,
                                                 self.reference_problems)
        if cache is not None and not self.reference_problems:
            self._save_cache(cache, raw, blobs)
        return obs

    def _save_cache(self, cache: Path, raw: dict[str, Any], blobs: list[bytes]) -> None:
        refmod.save_cache(cache, raw, blobs)

    def _load_cache(self, cache: Path) -> dict[str, Observation]:
        return refmod.load_cache(cache, self.tasks)

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
                TaskResult(task_id=t.id, status="missing", message=msg, points=no_points(t, msg))
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
                                 points=no_points(t, msg, "error", detail, True), detail=detail)
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
        ctx = Judging(tasks=self.tasks, load_limits=self.assignment.load_limits,
                      suite=self.suite, seed=self.seed,
                      reference_problems=self.reference_problems)
        return build_run(ctx, resp, blobs, prepared, ref, devices, duration, active)
