"""Shared helpers and engines for the sandbox tests (tests/test_sandbox_*.py).

The engines are started once per test session (TensorFlow is imported once per
worker) and shared by every module that asks for them.
"""

from __future__ import annotations

import atexit
import dataclasses
import hashlib
import os
import re
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from grader.assignment import Assignment, Limits, load_assignment
from grader.models import CodeCell, CodeRun, Submission

DATA = Path(__file__).resolve().parent / "data" / "sandbox"
ASSIGNMENT = DATA / "assignment"

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the sandbox's isolation layers are Linux-only")


def split_cells(text: str) -> list[str]:
    """Cells of a .py file with `# %%` markers (the header before the first one too)."""
    parts = re.split(r"^# %%.*$", text, flags=re.M)
    cells = [p.strip("\n") for p in parts if p.strip()]
    return cells or [text]


def submission(student: str, cells: Sequence[str] | str, file: str = "solution.py",
               line_numbers: bool = False) -> Submission:
    if isinstance(cells, str):
        cells = [cells]
    code = []
    line = 1
    for i, src in enumerate(cells):
        code.append(CodeCell(source=src, file=file, index=i, line=line if line_numbers else 1))
        line += src.count("\n") + 2
    return Submission(student_id=student, path=file, content_hash=student, files=(),
                      answers=(), code_cells=tuple(code))


class GraderFiles:
    """A copy of the test assignment plus a results database, as a grader would have."""

    def __init__(self, root: Path) -> None:
        self.root = root
        shutil.copytree(ASSIGNMENT, root / "assignment")
        (root / "out").mkdir()
        self.db = root / "out" / "grades.db"
        con = sqlite3.connect(self.db)
        con.execute("create table grades (student text, total real)")
        con.execute("insert into grades values ('alice', 7.5)")
        con.commit()
        con.close()
        self.outside = root / "out" / "pwned.txt"
        self.assignment = load_assignment(root / "assignment")
        self.before = self.digest()

    def digest(self) -> dict[str, str]:
        out = {}
        for p in sorted(self.root.rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts:
                out[str(p.relative_to(self.root))] = hashlib.sha256(p.read_bytes()).hexdigest()
        return out

    def paths(self) -> dict[str, str]:
        a = self.assignment
        return {"REFERENCE": str(a.reference), "HIDDEN": str(a.hidden_tests),
                "RUBRIC": str(a.rubric_path), "DB": str(self.db), "GRADER_DIR": str(self.root),
                "OUTSIDE": str(self.outside)}

    def attack(self, name: str) -> list[str]:
        text = (DATA / "attacks" / name).read_text()
        for k, v in self.paths().items():
            text = text.replace("{{" + k + "}}", v)
        return split_cells(text)

    def intact(self) -> bool:
        con = sqlite3.connect(self.db)
        rows = con.execute("select * from grades").fetchall()
        con.close()
        return self.digest() == self.before and rows == [("alice", 7.5)] \
            and not self.outside.exists()


def with_limits(a: Assignment, wall_s: float, load_wall_s: float, memory_mb: int = 1024,
                slow_tasks: dict[str, float] | None = None) -> Assignment:
    lim = Limits(wall_s=wall_s, memory_mb=memory_mb, processes=64, output_kb=64, disk_mb=64)
    slow_tasks = slow_tasks or {}
    tasks = tuple(dataclasses.replace(t, limits=dataclasses.replace(
        lim, wall_s=slow_tasks.get(t.id, wall_s))) for t in a.tasks)
    return dataclasses.replace(a, tasks=tasks,
                               load_limits=dataclasses.replace(lim, wall_s=load_wall_s))


# --------------------------------------------------------------------------- shared engines
_LOCK = threading.Lock()
_SHARED: dict[str, Any] = {}


def _tmp() -> Path:
    d = Path(tempfile.mkdtemp(prefix="grader-sandbox-tests-"))
    atexit.register(shutil.rmtree, d, True)
    return d


def shared(name: str) -> tuple[Any, GraderFiles]:
    """(engine, grader files) by name: 'fast' (short limits) or 'slow' (longer ones)."""
    from grader.sandbox import Engine

    with _LOCK:
        if name not in _SHARED:
            files = GraderFiles(_tmp())
            if name == "fast":
                a = with_limits(files.assignment, 5, 8, slow_tasks={"t3": 60})
            else:
                a = with_limits(files.assignment, 25, 10, slow_tasks={"t3": 60})
            engine = Engine(a, jobs=2, seed=7)
            engine.start()
            atexit.register(engine.close)
            _SHARED[name] = (engine, files)
        return _SHARED[name]  # type: ignore[no-any-return]


def task(run: CodeRun, task_id: str) -> Any:
    return next(t for t in run.tasks if t.task_id == task_id)


def score(run: CodeRun) -> dict[str, float]:
    return {t.task_id: sum(p.awarded for p in t.points) for t in run.tasks}


def _stray_now(engine: Any) -> list[int]:
    roots = {w.proc.pid for w in engine.workers if w.proc is not None}
    parents: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] not in ("Z", "X"):  # zombies are dead, waiting to be reaped
            parents[int(d)] = int(fields[1])
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    stray = []
    for root in roots:
        keepers = children.get(root, [])
        stray += keepers[1:]
        for k in keepers[:1]:
            students = children.get(k, [])
            stray += students[1:]
            for st in students[:1]:
                todo = list(children.get(st, []))
                while todo:
                    p = todo.pop()
                    stray.append(p)
                    todo += children.get(p, [])
    return stray


def stray_processes(engine: Any, grace_s: float = 3.0) -> list[int]:
    """Processes below the engine's workers beyond the one spare sandbox each worker
    keeps forked ahead (a keeper and its waiting student process), once the sandboxes
    of finished runs had ``grace_s`` to die: anything else outlived its run."""
    deadline = time.monotonic() + grace_s
    while True:
        stray = _stray_now(engine)
        if not stray or time.monotonic() > deadline:
            return stray
        time.sleep(0.05)
