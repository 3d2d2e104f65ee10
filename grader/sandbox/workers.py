"""Worker processes, as the grader sees them: their environment and the socket to each.

A :class:`Worker` starts one zygote (``python -m grader.sandbox.zygote FD``) with a
clean environment (:func:`worker_env`), waits for its ``ready`` message, and sends it
requests, gathering the partial reports of its sandboxes into one response.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from grader.errors import SandboxError
from grader.sandbox.channel import recv_msg, send_msg

READY_TIMEOUT_S = 300.0


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
