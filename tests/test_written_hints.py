"""The rubric hints format: validation of ``scoring:`` and the shipped rubric."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from grader.assignment import RubricPoint, load_assignment
from grader.written.hints import check_hints, parse_hints

ROOT = Path(__file__).resolve().parents[1]


def point(scoring: dict[str, Any], kind: str = "all", per_item: float | None = None) -> RubricPoint:
    return RubricPoint(id="q1.x", points=1.0, description="d", kind=kind,  # type: ignore[arg-type]
                       per_item=per_item, scoring=MappingProxyType(scoring))


@pytest.mark.parametrize("scoring", [
    {},
    {"wordings": ["not ... drop-in", "re:^no\\b", "tf.range int32|int64", "convert*"]},
    {"all_of": [["int32"], ["int64"]], "need": 1, "opposite": ["range int64"]},
    {"items": {"a": ["x"], "b": ["y", "z w"]}, "min_items": 2, "invalid": {"c": ["q"]}},
    {"wordings": ["a & b"], "positive": ["ex"], "negative": ["no"], "threshold": 0.7,
     "semantic": False, "negation": False},
])
def test_valid_hints(scoring: dict[str, Any]) -> None:
    assert check_hints(point(scoring)) == []


@pytest.mark.parametrize(("scoring", "kind", "fragment"), [
    ({"wording": ["x"]}, "all", "unknown scoring key 'wording'"),
    ({"wordings": ["re:("]}, "all", "bad regular expression"),
    ({"wordings": ["tf.range|range"]}, "all", "not one word"),
    ({"wordings": [""]}, "all", "empty wording"),
    ({"wordings": "..."}, "all", "has no words"),
    ({"wordings": [1]}, "all", "list of strings"),
    ({"items": ["a"]}, "all", "map each item"),
    ({"items": {"a": ["x"]}, "min_items": 2}, "all", "exceeds"),
    ({"items": {"a": ["x"]}, "wordings": ["y"]}, "all", "not both"),
    ({"wordings": ["y"]}, "k_of_n", "k_of_n point lists its valid items"),
    ({"items": {"a": ["x"]}, "min_items": 1}, "k_of_n", "min_items applies to kind: all"),
    ({"threshold": 1.5}, "all", "between 0 and 1"),
    ({"all_of": [["a"]], "need": 3}, "all", "need must be between"),
    ({"semantic": "yes"}, "all", "true or false"),
])
def test_invalid_hints_name_the_problem(scoring: dict[str, Any], kind: str,
                                        fragment: str) -> None:
    problems = check_hints(point(scoring, kind, 0.5 if kind == "k_of_n" else None))
    assert problems and fragment in problems[0]


def test_shipped_rubric_has_hints_for_all_23_written_points() -> None:
    a = load_assignment(ROOT / "assignments" / "dl_assignment_4")
    written = [p for q in a.questions for p in q.points]
    assert len(written) == 23
    for p in written:
        h = parse_hints(p)
        assert h.lexical, p.id
        if p.kind == "k_of_n":
            assert h.items, p.id


def test_shipped_rubric_keeps_the_spec_fields() -> None:
    """Only `scoring:` keys were added: ids, points, descriptions, kinds are the spec's."""
    a = load_assignment(ROOT / "assignments" / "dl_assignment_4")
    ids = [p.id for q in a.questions for p in q.points]
    assert ids[:3] == ["q1.definition", "q1.features", "q1.libraries"]
    assert a.written_total == 28
    q4 = a.question("q4").points[0]
    assert (q4.kind, q4.per_item, q4.points) == ("k_of_n", 0.5, 3.0)
