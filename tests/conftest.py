"""Shared fixtures. TensorFlow-heavy fixtures are session-scoped so the suite pays
for TensorFlow once per process, not once per test."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "assignments" / "dl_assignment_4"
SUBMISSIONS = ROOT / "examples" / "submissions"


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def example_assignment():  # type: ignore[no-untyped-def]
    from grader.assignment import load_assignment

    return load_assignment(EXAMPLE)
