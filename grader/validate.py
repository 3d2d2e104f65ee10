"""``grader validate``: the reference solution must earn every code point.

::

    from grader.validate import validate_reference, format_validation
    report = validate_reference(assignment)
    print(format_validation(report))          # report.ok: all code points earned

The reference solution is ingested like a student's file and run through the real
pipeline (the sandbox engine, the hidden tests, the judges) with a fresh seed; every
rubric point it does not earn is listed with the judge's feedback and instructor
detail. When the assignment has public tests, the reference must pass them too. When
the rubric's written points carry example answers (``scoring: positive / negative``),
each is scored: a positive example must earn its point, a negative one must not.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.assignment import Assignment, Question, RubricPoint
from grader.errors import ConfigError
from grader.models import Answer, CodeRun, Submission


@dataclass(frozen=True)
class TaskValidation:
    task_id: str
    awarded: float
    max_points: float
    status: str
    message: str
    duration_s: float
    failures: tuple[str, ...] = ()  # "c2.saved: feedback | detail"

    @property
    def ok(self) -> bool:
        return not self.failures and self.awarded >= self.max_points


@dataclass(frozen=True)
class ExampleResult:
    point_id: str
    kind: str  # positive | negative
    text: str
    awarded: float
    ok: bool


@dataclass(frozen=True)
class ValidationReport:
    assignment_id: str
    reference: str
    seed: int
    tasks: tuple[TaskValidation, ...]
    public: tuple[TaskValidation, ...] = ()
    examples: tuple[ExampleResult, ...] = ()
    written_backend: str = ""
    problems: tuple[str, ...] = ()  # reference missing / not loading / reference errors
    duration_s: float = 0.0

    @property
    def code_awarded(self) -> float:
        return sum(t.awarded for t in self.tasks)

    @property
    def code_max(self) -> float:
        return sum(t.max_points for t in self.tasks)

    @property
    def ok(self) -> bool:
        return (not self.problems and bool(self.tasks) and all(t.ok for t in self.tasks)
                and all(t.ok for t in self.public) and all(e.ok for e in self.examples))


def reference_submission(assignment: Assignment) -> Submission:
    """The reference solution as a Submission (ingested like a student's file)."""
    from grader.ingest import ingest

    ref = assignment.reference
    if ref is None:
        raise ConfigError("the assignment has no reference solution",
                          path=assignment.root / "assignment.yaml", key="reference",
                          fix="add reference: reference/solution.py")
    return ingest(ref, ref.parent, assignment)


def _tasks(run: CodeRun) -> tuple[TaskValidation, ...]:
    out = []
    for t in run.tasks:
        failures = tuple(
            f"{p.point_id} ({p.awarded:g}/{p.max_points:g}): {p.feedback}"
            + (f"\n      detail: {p.detail}" if p.detail else "")
            for p in t.points if p.awarded < p.max_points or p.verdict != "awarded")
        out.append(TaskValidation(
            task_id=t.task_id, awarded=sum(p.awarded for p in t.points),
            max_points=sum(p.max_points for p in t.points), status=t.status,
            message=t.message, duration_s=t.duration_s, failures=failures))
    return tuple(out)


def validate_reference(assignment: Assignment, *, seed: int | None = None,
                       jobs: int | None = None, public: bool = True,
                       written_examples: bool = True,
                       engine: Any | None = None) -> ValidationReport:
    """Run the reference through the real pipeline; see the module docstring.

    ``engine``: an already started ``grader.sandbox.Engine`` for ``assignment`` (hidden
    tests) to reuse; by default one is started here with ``jobs`` workers.
    """
    t0 = time.monotonic()
    seed = secrets.randbelow(2**31) if seed is None else seed
    ref = str(assignment.reference) if assignment.reference else ""
    problems: list[str] = []
    examples: tuple[ExampleResult, ...] = ()
    backend = ""
    if written_examples and _has_examples(assignment):
        examples, backend = _written_examples(assignment)
    if not assignment.tasks:
        return ValidationReport(assignment.id, ref, seed, (), examples=examples,
                                written_backend=backend, duration_s=time.monotonic() - t0)
    if assignment.reference is None:
        return ValidationReport(assignment.id, ref, seed, (), examples=examples,
                                written_backend=backend,
                                problems=("the assignment names no reference solution "
                                          "(reference: in assignment.yaml)",),
                                duration_s=time.monotonic() - t0)
    submission = reference_submission(assignment)
    root = Path(assignment.reference).parent
    from grader.sandbox import Engine

    if engine is not None:
        run = engine.run(submission, root)
        problems += [f"{k}: {v}" for k, v in sorted(engine.reference_problems.items())]
        seed = engine.seed
    else:
        with Engine(assignment, jobs=jobs or 1, seed=seed) as eng:
            eng.reference()
            problems += [f"{k}: {v}" for k, v in sorted(eng.reference_problems.items())]
            run = eng.run(submission, root)
    if run.load_status != "ok":
        problems.append(f"the reference solution did not load: {run.load_message}")
    problems += [f"{c.file}, cell {c.index}: {c.message}" for c in run.cells
                 if c.status == "error"]
    public_tasks: tuple[TaskValidation, ...] = ()
    if public and assignment.public_tests is not None and any(t.public for t in assignment.tasks):
        pub = dataclasses.replace(assignment, reference=None)
        with Engine(pub, jobs=1, seed=seed, public_only=True) as eng:
            public_tasks = _tasks(eng.run(submission, root))
    return ValidationReport(
        assignment_id=assignment.id, reference=ref, seed=seed, tasks=_tasks(run),
        public=public_tasks, examples=examples, written_backend=backend,
        problems=tuple(problems), duration_s=time.monotonic() - t0)


# --------------------------------------------------------------------------- written examples
def _examples(point: RubricPoint) -> list[tuple[str, str]]:
    out = []
    for kind in ("positive", "negative"):
        raw = point.scoring.get(kind) if point.scoring else None
        items = [raw] if isinstance(raw, str) else list(raw or [])
        out += [(kind, str(x)) for x in items if str(x).strip()]
    return out


def _has_examples(assignment: Assignment) -> bool:
    return any(_examples(p) for q in assignment.questions for p in q.points)


def _written_examples(assignment: Assignment) -> tuple[tuple[ExampleResult, ...], str]:
    """Score each example answer of each written point on its own."""
    from grader.written import load_scorer

    scorer = load_scorer("auto")
    results = []
    for q in assignment.questions:
        for p in q.points:
            for kind, text in _examples(p):
                awarded = _score_one(scorer, assignment, q, p, text)
                ok = awarded > 0 if kind == "positive" else awarded == 0
                results.append(ExampleResult(p.id, kind, text, awarded, ok))
    return tuple(results), str(getattr(scorer, "backend_name", ""))


def _score_one(scorer: Any, assignment: Assignment, q: Question, p: RubricPoint,
               text: str) -> float:
    sub = Submission(student_id="example", path="example.md", content_hash="example",
                     files=(), answers=(Answer(q.id, text, "example.md", (0,), "tag"),),
                     code_cells=())
    for r in scorer.score(sub, assignment):
        if r.point_id == p.id:
            return float(r.awarded)
    return 0.0


# --------------------------------------------------------------------------- text
def format_validation(report: ValidationReport) -> str:
    lines = [f"reference solution: {report.reference or '(none)'} (seed {report.seed})"]
    for p in report.problems:
        lines.append(f"  PROBLEM  {p}")
    for t in report.tasks:
        mark = "ok  " if t.ok else "FAIL"
        lines.append(f"  {mark}  {t.task_id}  {t.awarded:g}/{t.max_points:g}  "
                     f"{t.duration_s:5.1f} s  {t.status}")
        lines += [f"        {f}" for f in t.failures]
    if report.tasks:
        lines.append(f"  code points: {report.code_awarded:g}/{report.code_max:g}")
    if report.public:
        got = sum(t.awarded for t in report.public)
        top = sum(t.max_points for t in report.public)
        bad = [t for t in report.public if not t.ok]
        lines.append(f"  public tests: {got:g}/{top:g}" + ("" if not bad else "  FAIL"))
        for t in bad:
            lines += [f"        {t.task_id}: {f}" for f in t.failures]
    if report.examples:
        bad_ex = [e for e in report.examples if not e.ok]
        lines.append(f"  written examples ({report.written_backend}): "
                     f"{len(report.examples) - len(bad_ex)}/{len(report.examples)} as expected")
        for e in bad_ex:
            want = "earn" if e.kind == "positive" else "not earn"
            lines.append(f"        {e.point_id}: {e.kind} example should {want} the point "
                         f"(awarded {e.awarded:g}): {e.text[:120]!r}")
    lines.append(f"validation {'passed' if report.ok else 'FAILED'} "
                 f"({report.duration_s:.1f} s)")
    return "\n".join(lines)
