"""The reference side of judging: the tests file, the reference solution's cells, and
the on-disk cache of the reference's observations.

The reference runs through the same sandbox path as the students (see
:meth:`grader.sandbox.engine.Engine.reference`); what comes back is turned into one
:class:`~grader.codetest.Observation` per task here, and cached by assignment content,
seed, task set and TensorFlow version.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from grader.assignment import Assignment, CodeTask
from grader.codetest import Observation, Suite
from grader.errors import SandboxError
from grader.models import CodeCell
from grader.sandbox.judging import observation


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


def tf_version() -> str:
    from importlib import metadata

    for dist in ("tensorflow", "tensorflow-cpu"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            return metadata.version(dist)
    return ""


def cache_path(cache_dir: Path, assignment: Assignment, seed: int, public_only: bool,
               task_ids: Iterable[str], tf: str) -> Path:
    """The cache folder of one reference run (its key: everything its result depends on,
    ``tf`` the TensorFlow version, see :func:`tf_version`)."""
    key = hashlib.sha256(json.dumps([
        assignment.content_hash, seed, public_only,
        sorted(task_ids), tf]).encode()).hexdigest()[:24]
    return cache_dir / f"reference-{assignment.id}-{key}"


def save_cache(cache: Path, raw: dict[str, Any], blobs: list[bytes]) -> None:
    tmp = cache.with_name(cache.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for i, b in enumerate(blobs):
        (tmp / f"{i}.npz").write_bytes(b)
    (tmp / "obs.json").write_text(json.dumps({"tasks": raw, "nblobs": len(blobs)}))
    shutil.rmtree(cache, ignore_errors=True)
    tmp.rename(cache)


def load_cache(cache: Path, tasks: Sequence[CodeTask]) -> dict[str, Observation]:
    data = json.loads((cache / "obs.json").read_text())
    blobs = [(cache / f"{i}.npz").read_bytes() for i in range(int(data["nblobs"]))]
    out = {}
    for t in tasks:
        out[t.id] = observation(data["tasks"][t.id], blobs)[0]
    return out


def reference_observations(resp: Mapping[str, Any], blobs: list[bytes],
                           tasks: Sequence[CodeTask], problems: dict[str, str]
                           ) -> tuple[dict[str, Observation], dict[str, Any]]:
    """The reference's observation per task, and the raw records to cache; what went
    wrong with a task is written into ``problems``."""
    obs: dict[str, Observation] = {}
    raw: dict[str, Any] = {}
    load = resp.get("load", {})
    for t in tasks:
        r = resp.get("tasks", {}).get(t.id)
        if load.get("status") != "ok" or r is None:
            problems[t.id] = (
                "the reference solution did not load: " + json.dumps(load)[:2000])
            obs[t.id] = Observation(status="error")
            continue
        o, problem = observation(r, blobs)
        if problem:
            problems[t.id] = problem
        obs[t.id] = o
        raw[t.id] = r
    return obs, raw
