"""Shared fixtures. TensorFlow-heavy fixtures are session-scoped so the suite pays
for TensorFlow once per process, not once per test."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "assignments" / "dl_assignment_4"
SUBMISSIONS = ROOT / "examples" / "submissions"
# The hidden tests draw fresh inputs from this seed; GRADER_TEST_SEED reproduces a run.
SEED = int(os.environ.get("GRADER_TEST_SEED") or secrets.randbelow(2**31))


def pytest_report_header() -> str:
    return f"hidden-test seed: {SEED} (set GRADER_TEST_SEED={SEED} to reproduce)"


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def example_assignment():  # type: ignore[no-untyped-def]
    from grader.assignment import load_assignment

    return load_assignment(EXAMPLE)


@pytest.fixture(scope="session")
def engine(example_assignment: Any) -> Iterator[Any]:
    """One sandbox Engine for the example assignment, shared by the whole session
    (2 workers; the reference's observations computed once)."""
    from grader.sandbox import Engine

    eng = Engine(example_assignment, jobs=2, seed=SEED)
    eng.start()
    eng.reference()
    yield eng
    eng.close()
