"""Overrides are applied on top of stored grades: totals and statuses follow."""

from __future__ import annotations

from grader.review import apply_overrides
from tests import factories


def test_override_changes_point_total_and_clears_review() -> None:
    g = factories.grade("dan", awarded=0.0, review=True)
    [new] = apply_overrides([g], {("dan", "q1.definition"): (1.0, "says library")})
    p = new.written[0]
    assert (p.awarded, p.verdict, p.needs_review) == (1.0, "awarded", False)
    assert "says library" in p.feedback and "machine verdict: 0" in p.feedback
    assert new.total == 1.0
    assert new.status == "graded"


def test_code_points_can_be_overridden() -> None:
    g = factories.grade("eve", awarded=1.0)
    [new] = apply_overrides([g], {("eve", "c1.values"): (1.0, "")})
    assert new.code is not None and new.code.tasks[0].points[0].awarded == 1.0
    assert new.total == 2.0


def test_other_students_untouched() -> None:
    a, b = factories.grade("a", awarded=0.0), factories.grade("b", awarded=0.0)
    out = apply_overrides([a, b], {("a", "q1.definition"): (1.0, "")})
    assert out[1] is b and out[0].total == 1.0


def test_error_status_stays_error() -> None:
    g = factories.grade("f", fatal=True)
    [new] = apply_overrides([g], {("f", "q1.definition"): (1.0, "")})
    assert new.status == "error"
