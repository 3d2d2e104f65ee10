"""Small builders of pipeline dataclasses for tests (no TensorFlow)."""

from __future__ import annotations

from grader.models import (
    Answer,
    CellReport,
    CodeRun,
    Grade,
    PointResult,
    Problem,
    SourceFile,
    Submission,
    TaskResult,
)


def submission(sid: str = "alice", text: str = "TensorFlow is a library", *,
               chash: str = "h1", fatal: bool = False) -> Submission:
    problems = (Problem(file=f"{sid}.md", message="cannot decode", fix="save as UTF-8",
                        fatal=True),) if fatal else ()
    return Submission(
        student_id=sid, path=f"{sid}.md", content_hash=chash,
        files=(SourceFile(path=f"{sid}.md", kind="md", sha256=chash, size=10),),
        answers=() if fatal else (Answer("q1", text, f"{sid}.md", (0,), "heading"),),
        code_cells=(), problems=problems,
    )


def grade(sid: str = "alice", *, awarded: float = 1.0, review: bool = False,
          chash: str = "h1", fatal: bool = False) -> Grade:
    sub = submission(sid, chash=chash, fatal=fatal)
    written = (
        PointResult("q1.definition", "q1", awarded, 1.0,
                    "awarded" if awarded else "not_awarded", feedback="ok",
                    evidence="a library", confidence=0.6 if review else 0.95,
                    needs_review=review),
    )
    task = TaskResult("c1", "timeout", "time limit of 60 s hit",
                      (PointResult("c1.values", "c1", 0.0, 1.0, "not_awarded",
                                   feedback="time limit", detail="expected [1,2]"),),
                      duration_s=60.0, stdout="hi")
    code = CodeRun("ok", "", (CellReport(f"{sid}.py", 0, "skipped", "line magic %timeit"),),
                   (task,), layers=("seccomp", "rlimits"), duration_s=61.0)
    total = awarded
    status = "error" if fatal else ("needs_review" if review else "graded")
    return Grade(sid, "dl_assignment_4", sub, written, code, total, 48.0, status,  # type: ignore[arg-type]
                 errors=("alice.md: cannot decode",) if fatal else ())
