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
