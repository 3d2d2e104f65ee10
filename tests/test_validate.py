"""`grader validate`: the reference solution must earn every code point, through the
real pipeline."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from grader.validate import format_validation, validate_reference

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = Path(__file__).resolve().parent / "data" / "partb"


def test_reference_earns_every_code_point(engine: Any, example_assignment: Any) -> None:
    report = validate_reference(example_assignment, engine=engine, public=False,
                                written_examples=False)
    assert report.ok, format_validation(report)
    assert report.code_awarded == report.code_max == 20
    assert [t.task_id for t in report.tasks] == ["c1", "c2", "c3", "c4", "c5", "c6"]
    text = format_validation(report)
    assert "code points: 20/20" in text and "validation passed" in text


def test_no_reference_is_a_problem(example_assignment: Any) -> None:
    report = validate_reference(dataclasses.replace(example_assignment, reference=None),
                                written_examples=False)
    assert not report.ok and "no reference solution" in report.problems[0]
    assert "FAILED" in format_validation(report)


@pytest.mark.slow
def test_validate_end_to_end_with_public_tests(example_assignment: Any) -> None:
    report = validate_reference(example_assignment, seed=12345)
    text = format_validation(report)
    # the code part (owned here) must be perfect; the written examples are scored and
    # reported (their outcome belongs to the written scorer and the rubric)
    assert not report.problems and all(t.ok for t in report.tasks), text
    assert report.code_awarded == 20
    assert sum(t.awarded for t in report.public) == 7 and all(t.ok for t in report.public)
    n_examples = sum(len([vs] if isinstance(vs, str) else vs)
                     for q in example_assignment.questions for p in q.points
                     for k, vs in p.scoring.items() if k in ("positive", "negative"))
    assert len(report.examples) == n_examples
    assert "written examples" in text or not n_examples


@pytest.mark.slow
def test_a_broken_reference_fails_validation(example_assignment: Any) -> None:
    """A reference that retraces fails c6.graph, whatever it is compared with."""
    broken = dataclasses.replace(example_assignment,
                                 reference=SAMPLES / "cube_no_reduce_retracing.py")
    report = validate_reference(broken, seed=7, public=False, written_examples=False)
    assert not report.ok
    bad = [t for t in report.tasks if not t.ok]
    assert [t.task_id for t in bad] == ["c6"]
    assert "c6.graph" in bad[0].failures[0] and "retraced" in bad[0].failures[0]
    assert "FAIL  c6" in format_validation(report)


@pytest.mark.slow
def test_reference_earns_twenty_through_grader_batch(tmp_path: Path,
                                                     example_assignment: Any) -> None:
    from grader.batch import BatchOptions, run_batch

    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copy(example_assignment.reference, subs / "reference_solution.py")
    summary = run_batch(subs, example_assignment, BatchOptions(
        out_dir=tmp_path / "out", jobs=2, backend="lexical", seed=99))
    assert summary.graded == 1
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    text = json.dumps(doc)
    assert "reference_solution" in text
    from grader import store

    db = store.open_db(summary.db_url)
    (grade,) = store.load_grades(db, example_assignment.id)
    assert grade.code is not None
    assert sum(p.awarded for t in grade.code.tasks for p in t.points) == 20
