"""Instructor review: overrides of rubric points applied on top of stored grades.

Overrides live in their own table and survive regrades; they are applied when grades
are exported or rendered, so the stored machine verdicts stay as they were.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from grader.models import Grade, PointResult


def _override(p: PointResult, awarded: float, reason: str) -> PointResult:
    note = f"Set to {awarded:g}/{p.max_points:g} by the instructor"
    note += f": {reason}" if reason else "."
    return replace(
        p, awarded=awarded, needs_review=False,
        verdict="awarded" if awarded >= p.max_points else
        ("partial" if awarded > 0 else "not_awarded"),
        feedback=f"{note} (machine verdict: {p.awarded:g}. {p.feedback})".strip(),
        confidence=1.0,
    )


def apply_overrides(
    grades: Sequence[Grade], overrides: Mapping[tuple[str, str], tuple[float, str]]
) -> list[Grade]:
    """Return the grades with every (student, point) override applied and totals redone."""
    out: list[Grade] = []
    for g in grades:
        mine = {pid: v for (sid, pid), v in overrides.items() if sid == g.student_id}
        if not mine:
            out.append(g)
            continue
        written = tuple(_override(p, *mine[p.point_id]) if p.point_id in mine else p
                        for p in g.written)
        code = g.code
        if code is not None:
            tasks = tuple(replace(t, points=tuple(
                _override(p, *mine[p.point_id]) if p.point_id in mine else p
                for p in t.points)) for t in code.tasks)
            code = replace(code, tasks=tasks)
        new = replace(g, written=written, code=code)
        total = round(sum(p.awarded for p in new.points), 4)
        review = any(p.needs_review for p in new.points)
        status = g.status if g.status == "error" else ("needs_review" if review else "graded")
        out.append(replace(new, total=total, status=status))
    return out
