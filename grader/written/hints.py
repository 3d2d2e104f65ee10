"""Validation of the scorer hints (``scoring:``) a rubric point may carry."""

from __future__ import annotations

from grader.assignment import RubricPoint


def check_hints(point: RubricPoint) -> list[str]:
    """Return the problems with ``point.scoring`` (empty when it is valid)."""
    return []
