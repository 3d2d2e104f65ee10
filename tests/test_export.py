"""results.json and grades.csv follow the documented formats."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from grader import export
from tests import factories


def test_results_json(tmp_path: Path, example_assignment) -> None:  # type: ignore[no-untyped-def]
    grades = [factories.grade("alice"), factories.grade("bob", fatal=True)]
    path = export.write_results_json(grades, example_assignment, tmp_path)
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["version"] == 1
    assert doc["assignment"]["max"] == 48
    assert len(doc["assignment"]["points"]) == 39
    alice, bob = doc["students"]
    assert alice["id"] == "alice" and alice["total"] == 1 and alice["max"] == 48
    assert alice["status"] == "graded"
    assert alice["points"] == {"q1.definition": 1, "c1.values": 0}
    assert alice["answers"]["q1"] == "TensorFlow is a library"
    assert alice["answers"]["q2"] is None
    assert alice["tasks"]["c1"] == {"points": 0, "status": "timeout",
                                    "message": "time limit of 60 s hit"}
    assert bob["status"] == "error" and bob["errors"] == ["alice.md: cannot decode"]


def test_grades_csv(tmp_path: Path, example_assignment) -> None:  # type: ignore[no-untyped-def]
    grades = [factories.grade("alice"), factories.grade("bob", awarded=0.0)]
    path = export.write_grades_csv(grades, example_assignment, tmp_path)
    rows = list(csv.reader(path.open(encoding="utf-8")))
    assert rows[0] == ["student", *[f"q{i}" for i in range(1, 12)],
                       *[f"c{i}" for i in range(1, 7)], "total", "max", "status"]
    assert rows[1][0] == "alice" and rows[1][1] == "1" and rows[1][-3:] == ["1", "48", "graded"]
    assert rows[2][1] == "0"
    assert not list(tmp_path.glob(".*.tmp"))


def test_student_feedback_pages_hide_instructor_detail(tmp_path: Path,
                                                       example_assignment) -> None:  # type: ignore[no-untyped-def]
    grades = [factories.grade("alice"), factories.grade("bob", review=True)]
    export.write_all(grades, example_assignment, tmp_path)
    instructor = (tmp_path / "students" / "alice.html").read_text(encoding="utf-8")
    student = (tmp_path / "feedback" / "students" / "alice.html").read_text(encoding="utf-8")
    assert "expected [1,2]" in instructor  # the instructor-only detail of c1.values
    assert "expected [1,2]" not in student
    assert "time limit" in student  # the student still sees what went wrong


def test_csv_cells_are_not_formulas(tmp_path: Path, example_assignment) -> None:  # type: ignore[no-untyped-def]
    path = export.write_grades_csv([factories.grade("=HYPERLINK(1)")], example_assignment,
                                   tmp_path)
    rows = list(csv.reader(path.open(encoding="utf-8")))
    assert rows[1][0] == "'=HYPERLINK(1)"


def test_dashboard_lists_a_failed_submissions_problem_once(tmp_path: Path,
                                                           example_assignment) -> None:  # type: ignore[no-untyped-def]
    from grader.batch import grade_submission, zero_code_run

    sub = factories.submission("zed", fatal=True)
    g = grade_submission(sub, example_assignment, (), zero_code_run(example_assignment, "x"))
    assert g.status == "error" and g.errors == ("zed.md: cannot decode (fix: save as UTF-8)",)
    export.write_all([g], example_assignment, tmp_path)
    html = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert html.count("cannot decode (fix: save as UTF-8)") == 1
