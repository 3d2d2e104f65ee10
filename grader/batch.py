"""Grading a folder of submissions: ingest -> score + run -> grade -> store -> render.

:func:`run_batch` is what ``grader batch`` calls. Each stage is a plain function and
every student's outcome is data; only a failure of the grader itself (the database,
the sandbox engine, a broken assignment) raises a :class:`GraderError`.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from grader.assignment import Assignment
from grader.models import NO_CODE_MESSAGE, CodeRun, Grade, PointResult, Submission, TaskResult
from grader.review import apply_overrides


class Scorer(Protocol):
    @property
    def backend_name(self) -> str: ...

    def score(self, submission: Submission, assignment: Assignment) -> tuple[PointResult, ...]:
        ...


class CodeEngine(Protocol):
    def run(self, submission: Submission, root: Path | None = None) -> CodeRun: ...


@dataclass(frozen=True)
class BatchOptions:
    out_dir: Path = Path("grader-out")
    db_url: str | None = None  # default: sqlite file in out_dir
    jobs: int = 0  # 0: number of cores
    regrade: bool = False
    seed: int | None = None  # hidden-test seed; fresh per batch unless given
    backend: str = "auto"  # written scorer backend
    templates_dir: Path | None = None
    run_code: bool = True


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    student_id: str
    elapsed_s: float

    @property
    def eta_s(self) -> float | None:
        if self.done == 0:
            return None
        return self.elapsed_s / self.done * (self.total - self.done)


@dataclass(frozen=True)
class BatchSummary:
    assignment_id: str
    found: int
    graded: int
    skipped: int
    failed: int  # submissions whose grade is an error (unreadable, ...)
    needs_review: int
    duration_s: float
    out_dir: Path
    db_url: str
    written_backend: str
    files: tuple[Path, ...] = field(default=())


def grade_submission(
    submission: Submission,
    assignment: Assignment,
    written: Sequence[PointResult],
    code: CodeRun | None,
) -> Grade:
    """Combine the written points and the code run of one submission into a Grade."""
    errors: list[str] = [
        p.describe() for p in submission.problems if p.fatal
    ]
    if code is not None and code.load_status in ("error", "timeout", "limit"):
        errors.append(f"code: {code.load_message}")
    total = sum(p.awarded for p in written)
    if code is not None:
        total += sum(p.awarded for t in code.tasks for p in t.points)
    if not submission.ok:
        status = "error"
    elif any(p.needs_review for p in written) or (
        code is not None and any(p.needs_review for t in code.tasks for p in t.points)
    ):
        status = "needs_review"
    else:
        status = "graded"
    return Grade(
        student_id=submission.student_id, assignment_id=assignment.id, submission=submission,
        written=tuple(written), code=code, total=round(total, 4),
        max_total=assignment.total, status=status, errors=tuple(errors),  # type: ignore[arg-type]
    )


def zero_code_run(assignment: Assignment, message: str, status: str = "missing") -> CodeRun:
    """A code run where no task could run (no code, unreadable submission, ...)."""
    tasks = tuple(
        TaskResult(
            task_id=t.id, status=status, message=message,  # type: ignore[arg-type]
            points=tuple(PointResult(point_id=p.id, owner_id=t.id, awarded=0.0,
                                     max_points=p.points, verdict="not_awarded",
                                     feedback=message) for p in t.points),
        )
        for t in assignment.tasks
    )
    return CodeRun(load_status="no_code", load_message=message, cells=(), tasks=tasks)


def load_written_scorer(backend: str) -> Scorer:
    from grader.written import load_scorer

    return load_scorer(backend=backend)


def open_code_engine(assignment: Assignment, jobs: int, seed: int) -> Any:
    """The sandbox engine as a context manager (see grader.sandbox.Engine)."""
    from grader.sandbox import Engine

    return Engine(assignment, jobs=jobs, seed=seed)


def run_batch(
    submissions_dir: Path,
    assignment: Assignment,
    options: BatchOptions = BatchOptions(),
    progress: Callable[[Progress], None] | None = None,
) -> BatchSummary:
    """Grade every submission under ``submissions_dir``; write DB, exports and reports."""
    import os

    from grader import export, store
    from grader.ingest import ingest_all
    from grader.report import check_templates

    t0 = time.monotonic()
    check_templates(options.templates_dir)
    out_dir = options.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    db_url = options.db_url or store.default_url(out_dir)
    db = store.open_db(db_url)
    jobs = options.jobs or os.cpu_count() or 1
    seed = options.seed if options.seed is not None else secrets.randbelow(2**31)

    store.upsert_assignment(db, assignment.id, assignment.title, assignment.content_hash)
    stored = {} if options.regrade else store.stored_hashes(db, assignment.id)
    submissions = ingest_all(submissions_dir, assignment)
    todo = [s for s in submissions
            if stored.get(s.student_id) != (s.content_hash, assignment.content_hash)]
    skipped = len(submissions) - len(todo)
    run_id = store.start_run(db, assignment.id, assignment.content_hash, {
        "jobs": jobs, "seed": seed, "backend": options.backend, "regrade": options.regrade,
        "submissions": str(submissions_dir),
    })
    backend_name = "none"
    done = 0
    lock = threading.Lock()

    def save(grade: Grade) -> None:
        nonlocal done
        with lock:
            store.save_grade(db, run_id, grade, assignment.content_hash)
            done += 1
            if progress:
                progress(Progress(done, len(todo), grade.student_id, time.monotonic() - t0))

    try:
        if todo:
            scorer = load_written_scorer(options.backend) if assignment.questions else None
            backend_name = scorer.backend_name if scorer else "none"

            def written(s: Submission) -> tuple[PointResult, ...]:
                if scorer is None:
                    return ()
                if not s.ok:
                    return _unscored(assignment, s)
                try:
                    return scorer.score(s, assignment)
                except Exception as exc:  # a scorer bug must not stop the batch
                    return _unscored(assignment, s, f"the written scorer failed on this "
                                     f"submission ({type(exc).__name__}: {exc}); grade it by "
                                     "hand or report the bug", review=True)

            code_on = bool(assignment.tasks) and options.run_code
            runnable = [s for s in todo if code_on and s.ok and s.code_cells]
            for s in todo:
                if s in runnable:
                    continue
                code = (zero_code_run(assignment, _no_code_message(s, options.run_code))
                        if assignment.tasks else None)
                save(grade_submission(s, assignment, written(s), code))
            if runnable:
                _run_code(runnable, submissions_dir, assignment, jobs, seed, written, save)
        status = "finished"
    except BaseException:
        status = "failed"
        raise
    finally:
        store.finish_run(db, run_id, graded=done, skipped=skipped, failed=0, status=status)

    grades = store.load_grades(db, assignment.id, students=[s.student_id for s in submissions])
    grades = apply_overrides(grades, store.load_overrides(db, assignment.id))
    files = export.write_all(grades, assignment, out_dir, templates_dir=options.templates_dir)
    return BatchSummary(
        assignment_id=assignment.id, found=len(submissions), graded=done, skipped=skipped,
        failed=sum(1 for g in grades if g.status == "error"),
        needs_review=sum(1 for g in grades if g.status == "needs_review"),
        duration_s=time.monotonic() - t0, out_dir=out_dir, db_url=db_url,
        written_backend=backend_name, files=tuple(files),
    )


def _run_code(runnable: Sequence[Submission], root: Path, assignment: Assignment, jobs: int,
              seed: int,
              written: Callable[[Submission], tuple[PointResult, ...]],
              save: Callable[[Grade], None]) -> None:
    with open_code_engine(assignment, jobs, seed) as engine, \
            ThreadPoolExecutor(max_workers=jobs) as pool:
        futures: dict[Future[CodeRun], Submission] = {
            pool.submit(engine.run, s, root): s for s in runnable
        }
        for fut in as_completed(futures):
            s = futures[fut]
            try:
                code = fut.result()  # engine.run never raises for student behaviour
            except Exception as exc:  # ... and a grader bug on one submission stays there
                code = zero_code_run(assignment, f"the grader's sandbox failed on this "
                                     f"submission ({type(exc).__name__}: {exc}); not your "
                                     "code — the instructor will look at it", status="error")
            save(grade_submission(s, assignment, written(s), code))


def _no_code_message(s: Submission, run_code: bool) -> str:
    if not run_code:
        return "code was not run in this batch (--no-code)"
    if not s.ok:
        return "the submission could not be read, so no code ran"
    return NO_CODE_MESSAGE


def _unscored(assignment: Assignment, s: Submission, message: str = "",
              review: bool = False) -> tuple[PointResult, ...]:
    msg = message or "the submission could not be read"
    return tuple(
        PointResult(point_id=pid, owner_id=q.id, awarded=0.0, max_points=pts,
                    verdict="error", feedback=msg, needs_review=review)
        for q in assignment.questions
        for pid, pts in ([(p.id, p.points) for p in q.points] or [(q.answer_point_id,
                                                                   q.max_points)])
    )
