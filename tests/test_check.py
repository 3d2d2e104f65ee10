"""`grader check`: a student's local run of the public tests (C1, C2, C6 here)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from grader.check import check, format_check

ROOT = Path(__file__).resolve().parent.parent
ALICE = ROOT / "examples" / "submissions" / "alice_ref_style.ipynb"
SAMPLES = Path(__file__).resolve().parent / "data" / "partb"


@pytest.fixture(scope="session")
def public_engine(example_assignment: Any) -> Iterator[Any]:
    from grader.sandbox import Engine

    public = dataclasses.replace(example_assignment, reference=None)
    with Engine(public, jobs=1, seed=0, public_only=True) as eng:
        yield eng


def test_correct_notebook_passes_the_public_tests(public_engine: Any,
                                                  example_assignment: Any) -> None:
    report = check(ALICE, example_assignment, engine=public_engine)
    assert report.ok, format_check(report)
    assert [t.task_id for t in report.tasks] == ["c1", "c2", "c6"]
    assert report.passed == report.total == 7 and report.awarded == 7
    assert report.not_checked == ("c3", "c4", "c5")
    text = format_check(report)
    assert "Public tests: 7 of 7 checks passed" in text
    assert "PASS  c6.graph" in text
    # the notebook's failing demo cell is reported, and later cells still ran
    assert any("NameError" in e for e in report.cell_errors)
    assert "NameError" in text and "not executed" in text


def test_a_bug_fails_its_public_check(public_engine: Any, example_assignment: Any) -> None:
    report = check(SAMPLES / "cube_float_only.py", example_assignment, engine=public_engine)
    assert not report.ok
    failed = [p.point_id for t in report.tasks for p in t.points if not p.passed]
    assert failed == ["c6.values"]
    text = format_check(report)
    assert "FAIL  c6.values" in text and "int32" in text
    assert "Public tests: 6 of 7 checks passed" in text


def test_public_tests_need_no_reference(example_assignment: Any) -> None:
    """The public suite recomputes its expected values: a student's copy without the
    reference solution checks the same (judged here directly on a fake observation)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "dl4_public", example_assignment.public_tests)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    from grader.codetest import JudgeContext, Observation

    inp = mod._c6_inputs()
    values = {f"floats{i}": float((x.astype("float64") ** 3).sum())
              for i, x in enumerate(inp["floats"])}
    values |= {f"ints{i}": int((x.astype("int64") ** 3).sum()) for i, x in enumerate(inp["ints"])}
    values |= {"traces_before": 0, "traces_after": 2}
    checks = list(mod.judge_c6(Observation(values=values), Observation(status="error"),
                               JudgeContext("c6", "", 0)))
    assert [c.passed for c in checks] == [True, True]


def test_no_code_and_no_public_tests(tmp_path: Path, example_assignment: Any) -> None:
    answers = tmp_path / "bob.md"
    answers.write_text("## Q1\nTensorFlow is a library.\n")
    report = check(answers, example_assignment)
    assert report.load_status == "no_code" and not report.ok
    assert "no code found" in format_check(report)
    none_public = dataclasses.replace(example_assignment, public_tests=None)
    report = check(answers, none_public)
    assert report.load_status == "no_public_tests"
    assert "no public tests" in format_check(report)


def test_a_students_copy_without_hidden_tests_or_reference_loads(tmp_path: Path) -> None:
    """What a course hands to students: no reference, no hidden tests."""
    import shutil

    from grader.assignment import load_assignment
    from grader.errors import ConfigError

    root = Path(__file__).resolve().parent.parent
    copy = tmp_path / "a" / "dl_assignment_4"
    shutil.copytree(root / "assignments" / "dl_assignment_4", copy)
    (tmp_path / "rubrics").mkdir()
    shutil.copy(root / "rubrics" / "dl_assignment_4.yaml", tmp_path / "rubrics")
    (copy / "tests" / "hidden.py").unlink()
    shutil.rmtree(copy / "reference")
    a = load_assignment(copy, private=False)
    assert a.hidden_tests is None and a.reference is None and a.public_tests is not None
    with pytest.raises(ConfigError, match="hidden_tests"):
        load_assignment(copy)
