"""Exports beside the reports: ``results.json`` and ``grades.csv`` (formats in README)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from grader.assignment import Assignment
from grader.files import write_text_atomic
from grader.models import Grade

RESULTS_VERSION = 1


def _num(x: float) -> float | int:
    return int(x) if float(x).is_integer() else round(x, 4)


def points_by_owner(g: Grade) -> dict[str, float]:
    """Points per question / code task id."""
    out: dict[str, float] = {}
    for p in g.points:
        out[p.owner_id] = out.get(p.owner_id, 0.0) + p.awarded
    return out


def results_document(grades: Sequence[Grade], assignment: Assignment) -> dict[str, Any]:
    """The content of results.json."""
    students = []
    for g in grades:
        by_owner = points_by_owner(g)
        students.append({
            "id": g.student_id,
            "total": _num(g.total),
            "max": _num(g.max_total),
            "status": g.status,
            "errors": list(g.errors),
            "points": {p.point_id: _num(p.awarded) for p in g.points},
            "needs_review": sorted(p.point_id for p in g.points if p.needs_review),
            "questions": {q.id: _num(by_owner.get(q.id, 0.0)) for q in assignment.questions},
            "tasks": {
                t.task_id: {"points": _num(sum(p.awarded for p in t.points)),
                            "status": t.status, "message": t.message}
                for t in (g.code.tasks if g.code else ())
            },
            "answers": {q.id: (a.text if (a := g.submission.answer(q.id)) else None)
                        for q in assignment.questions},
            "submission": {"path": g.submission.path, "sha256": g.submission.content_hash,
                           "problems": [{"file": p.file, "message": p.message, "fix": p.fix}
                                        for p in g.submission.problems]},
        })
    return {
        "version": RESULTS_VERSION,
        "assignment": {"id": assignment.id, "title": assignment.title,
                       "max": _num(assignment.total),
                       "points": {p.id: _num(p.points) for p in assignment.all_points()}},
        "students": students,
    }


def write_results_json(grades: Sequence[Grade], assignment: Assignment, out_dir: Path) -> Path:
    path = out_dir / "results.json"
    write_text_atomic(path, json.dumps(results_document(grades, assignment), indent=2,
                                   ensure_ascii=False) + "\n")
    return path


def _cell(text: str) -> str:
    """A text cell a spreadsheet will not run as a formula (a file named "=cmd|...")."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def write_grades_csv(grades: Sequence[Grade], assignment: Assignment, out_dir: Path) -> Path:
    """One row per student; one column per question and per code task; total."""
    path = out_dir / "grades.csv"
    owners = [q.id for q in assignment.questions] + [t.id for t in assignment.tasks]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["student", *owners, "total", "max", "status"])
    for g in grades:
        by_owner = {**dict.fromkeys(owners, 0.0), **points_by_owner(g)}
        w.writerow([_cell(g.student_id), *(_num(by_owner[o]) for o in owners),
                    _num(g.total), _num(g.max_total), g.status])
    write_text_atomic(path, buf.getvalue(), newline="")
    return path


def write_all(grades: Sequence[Grade], assignment: Assignment, out_dir: Path, *,
              templates_dir: Path | None = None) -> list[Path]:
    """results.json, grades.csv and the HTML reports.

    The instructor's reports (``index.html``, ``students/``) show everything, the
    instructor-only detail included. ``feedback/`` holds the pages to hand to students:
    no instructor detail, confidence or review flags, and only anonymous class statistics.
    """
    from grader.report import ReportOptions, render_reports

    out_dir.mkdir(parents=True, exist_ok=True)
    files = [write_results_json(grades, assignment, out_dir),
             write_grades_csv(grades, assignment, out_dir)]
    files += render_reports(grades, assignment, out_dir,
                            options=ReportOptions(templates_dir=templates_dir))
    files += render_reports(grades, assignment, out_dir / "feedback",
                            options=ReportOptions(templates_dir=templates_dir,
                                                  instructor=False))
    return files
