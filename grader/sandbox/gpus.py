"""GPU inventory and assignment: which worker owns which GPU, which device a task gets.

Workers own GPUs through ``CUDA_VISIBLE_DEVICES`` (set before TensorFlow is imported,
so CUDA is never initialised before ``fork``). With ``n`` GPUs and ``jobs`` workers,
worker ``i`` gets GPU ``i mod n`` (several workers may share one GPU; TensorFlow is
told to grow its memory use rather than take the whole card). A task declares
``device: cpu | gpu | auto``: ``cpu`` runs on the CPU, ``auto`` on the worker's GPU
when it has one (else the CPU), ``gpu`` only on a GPU, and is "not runnable here"
without one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

Resolved = Literal["cpu", "gpu"]


def detect() -> list[str]:
    """GPU ids this process may use: ``CUDA_VISIBLE_DEVICES`` if set, else the driver's."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        ids = [x.strip() for x in env.split(",") if x.strip()]
        return [] if ids[:1] in (["-1"], ["none"], ["NoDevFiles"]) else ids
    nv = Path("/proc/driver/nvidia/gpus")
    try:
        n = len([p for p in nv.iterdir() if p.is_dir()])
    except OSError:
        n = 0
    return [str(i) for i in range(n)]


def assign(jobs: int, gpus: Sequence[str]) -> list[str | None]:
    """The GPU of each worker (None: CPU only)."""
    if not gpus:
        return [None] * jobs
    return [gpus[i % len(gpus)] for i in range(jobs)]


def resolve(device: str, worker_gpu: str | None, cuda: bool = True) -> Resolved | None:
    """Where a task runs on a worker; None when it cannot run there."""
    has_gpu = worker_gpu is not None and cuda
    if device == "cpu":
        return "cpu"
    if device == "gpu":
        return "gpu" if has_gpu else None
    return "gpu" if has_gpu else "cpu"


def device_nodes() -> list[str]:
    """Device files a GPU task needs to open (Landlock rules)."""
    dev = Path("/dev")
    try:
        return sorted(str(p) for p in dev.iterdir() if p.name.startswith("nvidia"))
    except OSError:
        return []


GPU_READ_PATHS = ("/proc/driver/nvidia", "/sys/bus/pci", "/sys/devices", "/etc/nvidia",
                  "/usr/share/nvidia")
