"""Assignments and rubrics: the files an instructor writes, loaded and validated.

An assignment is a folder ``assignments/NAME/`` holding ``assignment.yaml``::

    id: dl_assignment_4
    title: DL Assignment 4
    rubric: ../../rubrics/dl_assignment_4.yaml   # written questions + code tasks
    reference: reference/solution.py             # instructor's solution (never shown)
    hidden_tests: tests/hidden.py                # observe/judge functions per task
    public_tests: tests/public.py                # the subset students may run
    data: data                                   # folder readable by student code
    limits: {wall_s: 60, memory_mb: 4096, processes: 64}   # per-task defaults
    load_limits: {wall_s: 60, memory_mb: 4096, processes: 64}
    tasks:                                        # per code task: names, device, limits
      c1: {names: [huber_fn]}
      c5: {names: [train_custom_loop], device: auto, limits: {wall_s: 300}}

The rubric file (``rubrics/NAME.yaml``) lists the written questions and the code
tasks with their rubric points (id, points, description as the spec writes them).
Loading checks everything and raises :class:`ConfigError` naming the file, the key
and the fix.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import yaml

from grader.errors import ConfigError

Device = Literal["cpu", "gpu", "auto"]
PointKind = Literal["all", "k_of_n"]


@dataclass(frozen=True)
class Limits:
    """Resource limits of one task (or of loading the student's code)."""

    wall_s: float = 60.0
    memory_mb: int = 4096
    processes: int = 64
    output_kb: int = 256  # stdout/stderr kept per task; more is cut (not an error)
    disk_mb: int = 256  # largest file the student's code may write in scratch

    def merged(self, overrides: Mapping[str, Any]) -> Limits:
        values = {**self.__dict__, **overrides}
        return Limits(**values)


_LIMIT_KEYS = set(Limits.__dataclass_fields__)


@dataclass(frozen=True)
class RubricPoint:
    id: str
    points: float
    description: str
    kind: PointKind = "all"
    per_item: float | None = None  # k_of_n: credit per valid item
    scoring: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Question:
    """A written question. Either rubric points, or a reference answer + max."""

    id: str
    number: int
    title: str
    prompt: str
    max_points: float
    points: tuple[RubricPoint, ...]
    reference_answer: str | None = None

    @property
    def answer_point_id(self) -> str:
        """The one rubric-point id of a reference-answer question (``q12.answer``)."""
        return f"{self.id}.answer"


@dataclass(frozen=True)
class CodeTask:
    id: str
    title: str
    max_points: float
    points: tuple[RubricPoint, ...]
    names: tuple[str, ...] = ()  # names the student's code must define
    device: Device = "cpu"
    limits: Limits = Limits()
    public: bool = False  # whether `grader check` runs it for students


@dataclass(frozen=True)
class Assignment:
    id: str
    title: str
    root: Path
    rubric_path: Path
    questions: tuple[Question, ...]
    tasks: tuple[CodeTask, ...]
    total: float
    reference: Path | None = None
    hidden_tests: Path | None = None
    public_tests: Path | None = None
    data_dir: Path | None = None
    limits: Limits = Limits()
    load_limits: Limits = Limits()
    content_hash: str = ""  # over every file of the assignment and its rubric

    @property
    def written_total(self) -> float:
        return sum(q.max_points for q in self.questions)

    @property
    def code_total(self) -> float:
        return sum(t.max_points for t in self.tasks)

    def question(self, qid: str) -> Question:
        for q in self.questions:
            if q.id == qid:
                return q
        raise KeyError(qid)

    def task(self, tid: str) -> CodeTask:
        for t in self.tasks:
            if t.id == tid:
                return t
        raise KeyError(tid)

    def all_points(self) -> tuple[RubricPoint, ...]:
        """Every rubric point, a reference-answer question's implicit one included."""
        written = tuple(
            p for q in self.questions
            for p in (q.points or (RubricPoint(q.answer_point_id, q.max_points,
                                               q.reference_answer or ""),))
        )
        return written + tuple(p for t in self.tasks for p in t.points)


# --------------------------------------------------------------------------- loading
_ASSIGNMENT_KEYS = {
    "id", "title", "rubric", "reference", "hidden_tests", "public_tests", "data",
    "limits", "load_limits", "tasks",
}  # fmt: skip
_TASK_CFG_KEYS = {"names", "device", "limits", "public"}
_RUBRIC_KEYS = {"assignment", "total", "questions", "tasks"}
_QUESTION_KEYS = {"id", "number", "title", "prompt", "max_points", "points", "reference_answer"}
_CTASK_KEYS = {"id", "title", "max_points", "points"}
_POINT_KEYS = {"id", "points", "description", "kind", "per_item", "scoring"}


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError("file not found", path=path,
                          fix="create it or fix the path that names it")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", path=path, fix="fix the YAML syntax") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError("not UTF-8 text", path=path, fix="save the file as UTF-8") from exc
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping at the top level", path=path)
    return data


def _check_keys(data: Mapping[str, Any], allowed: set[str], path: Path, where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigError(
            f"unknown key {unknown[0]!r}",
            path=path,
            key=where or unknown[0],
            fix=f"use one of: {', '.join(sorted(allowed))}",
        )


def _require(data: Mapping[str, Any], key: str, typ: type | tuple[type, ...], path: Path,
             where: str) -> Any:
    if key not in data:
        raise ConfigError(f"missing key {key!r}", path=path, key=where, fix=f"add {key}: ...")
    value = data[key]
    if not isinstance(value, typ) or (isinstance(value, bool) and typ is not bool):
        raise ConfigError(
            f"{key!r} must be {_typename(typ)}, not {type(value).__name__}", path=path, key=where
        )
    return value


def _typename(typ: type | tuple[type, ...]) -> str:
    if isinstance(typ, tuple):
        return " or ".join(t.__name__ for t in typ)
    return typ.__name__


def _limits(raw: Any, base: Limits, path: Path, where: str) -> Limits:
    if raw is None:
        return base
    if not isinstance(raw, dict):
        raise ConfigError("limits must be a mapping", path=path, key=where)
    _check_keys(raw, _LIMIT_KEYS, path, where)
    for k, v in raw.items():
        if not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0:
            raise ConfigError(f"{k} must be a positive number", path=path, key=f"{where}.{k}")
    return base.merged(raw)


def _point(raw: Any, path: Path, where: str) -> RubricPoint:
    if not isinstance(raw, dict):
        raise ConfigError("a rubric point must be a mapping", path=path, key=where)
    _check_keys(raw, _POINT_KEYS, path, where)
    pid = _require(raw, "id", str, path, where)
    where = f"{where} ({pid})"
    pts = _require(raw, "points", (int, float), path, where)
    if pts <= 0:
        raise ConfigError("points must be positive", path=path, key=where)
    desc = _require(raw, "description", str, path, where)
    kind = raw.get("kind", "all")
    if kind not in ("all", "k_of_n"):
        raise ConfigError(f"kind {kind!r} is not known", path=path, key=where,
                          fix="use kind: all or kind: k_of_n")
    per_item = raw.get("per_item")
    if kind == "k_of_n":
        if not isinstance(per_item, (int, float)) or per_item <= 0:
            raise ConfigError("a k_of_n point needs per_item (credit per valid item)",
                              path=path, key=where, fix="add per_item: 0.5 (for example)")
        if per_item > pts:
            raise ConfigError(f"per_item {per_item} exceeds the point's {pts}", path=path,
                              key=where)
    elif per_item is not None:
        raise ConfigError("per_item only applies to kind: k_of_n", path=path, key=where)
    scoring = raw.get("scoring") or {}
    if not isinstance(scoring, dict):
        raise ConfigError("scoring must be a mapping", path=path, key=where)
    return RubricPoint(
        id=pid, points=float(pts), description=desc, kind=kind,
        per_item=float(per_item) if per_item is not None else None,
        scoring=MappingProxyType(scoring),
    )


def _points_sum(points: tuple[RubricPoint, ...], declared: Any, path: Path, where: str) -> float:
    total = sum(p.points for p in points)
    if declared is not None and (not isinstance(declared, (int, float))
                                 or isinstance(declared, bool)):
        raise ConfigError("max_points must be a number", path=path, key=where)
    if declared is not None and abs(float(declared) - total) > 1e-9:
        raise ConfigError(
            f"max_points is {declared} but its rubric points add up to {total:g}",
            path=path, key=where, fix="make max_points equal the sum of the points' points",
        )
    return total


def load_rubric(path: Path) -> tuple[str, tuple[Question, ...], tuple[CodeTask, ...], float]:
    """Parse and validate a rubric file. Returns (assignment id, questions, tasks, total)."""
    data = _read_yaml(path)
    _check_keys(data, _RUBRIC_KEYS, path, "")
    aid = _require(data, "assignment", str, path, "assignment")
    seen: set[str] = set()
    questions: list[Question] = []
    for i, rq in enumerate(data.get("questions") or []):
        where = f"questions[{i}]"
        if not isinstance(rq, dict):
            raise ConfigError("a question must be a mapping", path=path, key=where)
        _check_keys(rq, _QUESTION_KEYS, path, where)
        qid = _require(rq, "id", str, path, where)
        where = f"questions[{i}] ({qid})"
        number = _require(rq, "number", int, path, where)
        ref = rq.get("reference_answer")
        pts = tuple(_point(p, path, f"{where}.points[{j}]") for j, p in
                    enumerate(rq.get("points") or []))
        if ref is None and not pts:
            raise ConfigError("a question needs rubric points or a reference_answer",
                              path=path, key=where,
                              fix="add points: [...] or reference_answer: + max_points:")
        if pts:
            max_points = _points_sum(pts, rq.get("max_points"), path, where)
        else:
            max_points = float(_require(rq, "max_points", (int, float), path, where))
        questions.append(Question(
            id=qid, number=number, title=str(rq.get("title", "")),
            prompt=str(rq.get("prompt", rq.get("title", ""))),
            max_points=max_points, points=pts,
            reference_answer=str(ref) if ref is not None else None,
        ))
    tasks: list[CodeTask] = []
    for i, rt in enumerate(data.get("tasks") or []):
        where = f"tasks[{i}]"
        if not isinstance(rt, dict):
            raise ConfigError("a task must be a mapping", path=path, key=where)
        _check_keys(rt, _CTASK_KEYS, path, where)
        tid = _require(rt, "id", str, path, where)
        where = f"tasks[{i}] ({tid})"
        pts = tuple(_point(p, path, f"{where}.points[{j}]") for j, p in
                    enumerate(_require(rt, "points", list, path, where)))
        if not pts:
            raise ConfigError("a task needs at least one rubric point", path=path, key=where)
        tasks.append(CodeTask(id=tid, title=str(rt.get("title", "")),
                              max_points=_points_sum(pts, rt.get("max_points"), path, where),
                              points=pts))
    ids = [q.id for q in questions] + [t.id for t in tasks]
    ids += [p.id for q in questions for p in q.points] + [p.id for t in tasks for p in t.points]
    for x in ids:
        if x in seen:
            raise ConfigError(f"duplicate id {x!r}", path=path, key=x,
                              fix="give every question, task and rubric point its own id")
        seen.add(x)
    numbers = [q.number for q in questions]
    if len(set(numbers)) != len(numbers):
        raise ConfigError("two questions share a number", path=path, key="questions",
                          fix="number the questions 1, 2, 3, ...")
    total = sum(q.max_points for q in questions) + sum(t.max_points for t in tasks)
    if "total" in data:
        _require(data, "total", (int, float), path, "total")
    if "total" in data and abs(float(data["total"]) - total) > 1e-9:
        raise ConfigError(f"total is {data['total']} but the questions and tasks add up to "
                          f"{total:g}", path=path, key="total",
                          fix=f"set total: {total:g} or fix the points")
    return aid, tuple(questions), tuple(tasks), total


def _hash_tree(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for base in paths:
        files = sorted(p for p in base.rglob("*") if p.is_file()) if base.is_dir() else [base]
        for f in files:
            if "__pycache__" in f.parts:
                continue
            h.update(str(f.name).encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def load_assignment(root: Path | str, *, private: bool = True) -> Assignment:
    """Load ``root/assignment.yaml`` and its rubric, validating both.

    ``private=False`` is a student's copy (for ``grader check``): the reference solution
    and the hidden tests may be missing.
    """
    root = Path(root).resolve()
    path = root / "assignment.yaml"
    if root.is_file() and root.suffix in (".yaml", ".yml"):
        path, root = root, root.parent
    data = _read_yaml(path)
    _check_keys(data, _ASSIGNMENT_KEYS, path, "")
    aid = _require(data, "id", str, path, "id")
    rubric_path = (root / _require(data, "rubric", str, path, "rubric")).resolve()
    rid, questions, rtasks, total = load_rubric(rubric_path)
    if rid != aid:
        raise ConfigError(f"rubric is for assignment {rid!r}, not {aid!r}", path=rubric_path,
                          key="assignment", fix=f"set assignment: {aid}")

    def opt_path(key: str) -> Path | None:
        if data.get(key) is None:
            return None
        p = (root / str(data[key])).resolve()
        if not p.exists() and not private and key in ("reference", "hidden_tests"):
            return None
        if not p.exists():
            raise ConfigError(f"{key} points to {p}, which does not exist", path=path, key=key,
                              fix="create the file or fix the path")
        return p

    limits = _limits(data.get("limits"), Limits(), path, "limits")
    load_limits = _limits(data.get("load_limits"), Limits(), path, "load_limits")
    cfg = data.get("tasks") or {}
    if not isinstance(cfg, dict):
        raise ConfigError("tasks must be a mapping of task id to settings", path=path, key="tasks")
    known = {t.id for t in rtasks}
    for tid in cfg:
        if tid not in known:
            raise ConfigError(f"task {tid!r} is not in the rubric {rubric_path.name}", path=path,
                              key=f"tasks.{tid}", fix=f"use one of: {', '.join(sorted(known))}")
    tasks = []
    for t in rtasks:
        c = cfg.get(t.id) or {}
        where = f"tasks.{t.id}"
        _check_keys(c, _TASK_CFG_KEYS, path, where)
        names = c.get("names", [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ConfigError("names must be a list of names", path=path, key=where)
        device = c.get("device", "cpu")
        if device not in ("cpu", "gpu", "auto"):
            raise ConfigError(f"device {device!r} is not known", path=path, key=where,
                              fix="use cpu, gpu or auto")
        tasks.append(CodeTask(
            id=t.id, title=t.title, max_points=t.max_points, points=t.points,
            names=tuple(names), device=device,
            limits=_limits(c.get("limits"), limits, path, f"{where}.limits"),
            public=bool(c.get("public", False)),
        ))
    hidden = opt_path("hidden_tests")
    if tasks and hidden is None and private:
        raise ConfigError("the rubric has code tasks but no hidden_tests file", path=path,
                          key="hidden_tests", fix="add hidden_tests: tests/hidden.py")
    _check_scoring(questions, rubric_path)
    return Assignment(
        id=aid, title=str(data.get("title", aid)), root=root, rubric_path=rubric_path,
        questions=questions, tasks=tuple(tasks), total=total,
        reference=opt_path("reference"), hidden_tests=hidden,
        public_tests=opt_path("public_tests"), data_dir=opt_path("data"),
        limits=limits, load_limits=load_limits,
        content_hash=_hash_tree([root, rubric_path]),
    )


def _check_scoring(questions: tuple[Question, ...], rubric_path: Path) -> None:
    """Let the written scorer validate its own hints (``scoring:``) in the rubric."""
    from grader.written.hints import check_hints

    for q in questions:
        for p in q.points:
            for problem in check_hints(p):
                raise ConfigError(problem, path=rubric_path, key=f"{p.id}.scoring",
                                  fix="see README, section 'Rubric format'")


def find_assignment(start: Path, name: str | None = None) -> Path:
    """Find the assignment folder: NAME, or the only one under ``assignments/``."""
    if name:
        p = Path(name)
        if (p / "assignment.yaml").is_file() or p.suffix in (".yaml", ".yml"):
            return p
        cand = start / "assignments" / name
        if (cand / "assignment.yaml").is_file():
            return cand
        raise ConfigError(f"no assignment.yaml in {p} or {cand}", path=p,
                          fix="pass --assignment assignments/NAME")
    found = sorted(p.parent for p in (start / "assignments").glob("*/assignment.yaml"))
    if len(found) == 1:
        return found[0]
    if not found:
        raise ConfigError("no assignment found", path=start / "assignments",
                          fix="pass --assignment DIR (a folder holding assignment.yaml)")
    raise ConfigError(
        f"{len(found)} assignments found: {', '.join(p.name for p in found)}",
        path=start / "assignments", fix="pass --assignment DIR to pick one",
    )
