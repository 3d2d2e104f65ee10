"""``grader check``: a student's local run of the public tests, like ``otter check``.

::

    from grader.check import check, format_check
    report = check(Path("my_notebook.ipynb"), assignment)
    print(format_check(report))

Only the public tasks (``public: true`` in ``assignment.yaml``) run, with the public
tests file, in the same sandbox the grader uses. Public tests are self-contained
(they recompute their expected values from fixed inputs), so the reference solution
is not needed and not run: a student's copy of the assignment may lack it.
Passing the public tests is no promise: the hidden tests grade every task, on other
inputs.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from grader.assignment import Assignment
from grader.models import NO_CODE_MESSAGE, CodeRun, Submission


@dataclass(frozen=True)
class CheckedPoint:
    point_id: str
    passed: bool
    awarded: float
    max_points: float
    feedback: str


@dataclass(frozen=True)
class CheckedTask:
    task_id: str
    title: str
    status: str  # TaskResult.status
    message: str
    points: tuple[CheckedPoint, ...]
    duration_s: float = 0.0

    @property
    def awarded(self) -> float:
        return sum(p.awarded for p in self.points)

    @property
    def max_points(self) -> float:
        return sum(p.max_points for p in self.points)


@dataclass(frozen=True)
class CheckReport:
    """What ``grader check`` found for one notebook, script or folder."""

    path: str
    assignment_id: str
    load_status: str  # CodeRun.load_status, or "no_code" / "no_public_tests"
    load_message: str
    tasks: tuple[CheckedTask, ...]
    cell_errors: tuple[str, ...] = ()  # "file, cell N: NameError: ..." (errors allowed)
    problems: tuple[str, ...] = ()  # ingest problems (unreadable file, ...)
    not_checked: tuple[str, ...] = ()  # task ids only the hidden tests grade
    duration_s: float = 0.0

    @property
    def awarded(self) -> float:
        return sum(t.awarded for t in self.tasks)

    @property
    def max_points(self) -> float:
        return sum(t.max_points for t in self.tasks)

    @property
    def passed(self) -> int:
        return sum(1 for t in self.tasks for p in t.points if p.passed)

    @property
    def total(self) -> int:
        return sum(len(t.points) for t in self.tasks)

    @property
    def ok(self) -> bool:
        """True when the code loaded and every public check passed."""
        return self.load_status == "ok" and bool(self.tasks) and self.passed == self.total


def _public_assignment(assignment: Assignment) -> Assignment:
    # public tests need no reference: do not spend a sandbox run on it
    return dataclasses.replace(assignment, reference=None)


def check(path: Path, assignment: Assignment, *, seed: int = 0, jobs: int = 1,
          engine: object | None = None) -> CheckReport:
    """Run the public tests on ``path`` (a notebook, a script, or a folder).

    ``engine``: an already started ``grader.sandbox.Engine`` with ``public_only=True``
    (tests pass one to share it); by default one is started and closed here.
    """
    from grader.ingest import ingest

    t0 = time.monotonic()
    path = Path(path)
    public = tuple(t for t in assignment.tasks if t.public)
    hidden_only = tuple(t.id for t in assignment.tasks if not t.public)
    submission = ingest(path, path.parent, assignment)
    problems = tuple(p.describe() for p in submission.problems if p.fatal)
    base = CheckReport(path=str(path), assignment_id=assignment.id, load_status="",
                       load_message="", tasks=(), problems=problems, not_checked=hidden_only)
    if not public or assignment.public_tests is None:
        return dataclasses.replace(base, load_status="no_public_tests",
                                   load_message="this assignment has no public tests")
    if not submission.code_cells:
        return dataclasses.replace(base, load_status="no_code",
                                   duration_s=time.monotonic() - t0,
                                   load_message=NO_CODE_MESSAGE)
    run = _run(submission, path.parent, assignment, seed, jobs, engine)
    return _report(run, assignment, base, time.monotonic() - t0)


def _run(submission: Submission, root: Path, assignment: Assignment, seed: int, jobs: int,
         engine: object | None) -> CodeRun:
    if engine is not None:
        return engine.run(submission, root)  # type: ignore[attr-defined, no-any-return]
    from grader.sandbox import Engine

    with Engine(_public_assignment(assignment), jobs=jobs, seed=seed, public_only=True) as eng:
        return eng.run(submission, root)


def _report(run: CodeRun, assignment: Assignment, base: CheckReport,
            duration: float) -> CheckReport:
    titles = {t.id: t.title for t in assignment.tasks}
    tasks = tuple(
        CheckedTask(
            task_id=t.task_id, title=titles.get(t.task_id, ""), status=t.status,
            message=t.message, duration_s=t.duration_s,
            points=tuple(CheckedPoint(p.point_id, p.awarded >= p.max_points and
                                      p.verdict == "awarded", p.awarded, p.max_points,
                                      p.feedback) for p in t.points),
        )
        for t in run.tasks
    )
    cell_errors = tuple(f"{c.file}, cell {c.index}: {c.message}" if c.file.endswith(".ipynb")
                        else f"{c.file}: {c.message}"
                        for c in run.cells if c.status == "error")
    return dataclasses.replace(base, load_status=run.load_status,
                               load_message=run.load_message, tasks=tasks,
                               cell_errors=cell_errors, duration_s=duration)


# --------------------------------------------------------------------------- text
def _short(title: str, n: int = 60) -> str:
    title = " ".join(title.replace("`", "").split())
    return title if len(title) <= n else title[: n - 3] + "..."


def format_check(report: CheckReport) -> str:
    """The report as plain text for a terminal."""
    lines = [f"grader check: {report.path} (public tests of {report.assignment_id})", ""]
    lines += [f"problem: {prob}" for prob in report.problems]
    if report.load_status in ("no_public_tests", "no_code"):
        lines.append(report.load_message)
        return "\n".join(lines) + "\n"
    if report.load_status != "ok":
        lines.append(f"Your code could not be loaded: {report.load_message}")
    elif report.load_message:
        lines.append(f"Note: {report.load_message}")
    if report.cell_errors:
        lines.append("Cells that raised an error (the next cells still ran):")
        lines += [f"  {e}" for e in _clip(report.cell_errors)]
    if len(lines) > 2:
        lines.append("")
    for t in report.tasks:
        head = f"{t.task_id}  {_short(t.title)}"
        lines.append(f"{head:<70} {t.awarded:g}/{t.max_points:g}")
        if t.status not in ("ok", "error"):
            lines.append(f"  ({t.message})")
        width = max((len(cp.point_id) for cp in t.points), default=0)
        for cp in t.points:
            mark = "PASS" if cp.passed else "FAIL"
            lines.append(f"  {mark}  {cp.point_id:<{width}}  {cp.feedback}")
        lines.append("")
    lines.append(f"Public tests: {report.passed} of {report.total} checks passed "
                 f"({report.awarded:g}/{report.max_points:g} points).")
    if report.not_checked:
        lines.append(f"Not checked here: {', '.join(report.not_checked)} (graded by the "
                     "hidden tests only).")
    lines.append("The hidden tests grade every task on other inputs: passing here is a good "
                 "sign, not a guarantee.")
    return "\n".join(lines) + "\n"


def _clip(items: Sequence[str], n: int = 10) -> list[str]:
    out = [i if len(i) <= 300 else i[:297] + "..." for i in items[:n]]
    if len(items) > n:
        out.append(f"(and {len(items) - n} more)")
    return out
