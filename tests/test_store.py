"""The SQLite store: migrations, round trips, skip logic, overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from grader import store
from grader.errors import StoreError
from tests import factories


@pytest.fixture
def db(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = store.open_db(store.default_url(tmp_path))
    store.upsert_assignment(engine, "dl_assignment_4", "DL4", "ahash")
    return engine


def test_migrations_create_exactly_the_models_schema(db) -> None:  # type: ignore[no-untyped-def]
    with db.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), store.Base.metadata)
        version = conn.execute(text("select version_num from alembic_version")).scalar()
    assert diff == []
    assert version is not None
    assert set(inspect(db).get_table_names()) >= {
        "assignments", "students", "submissions", "grading_runs", "grades", "point_results",
        "task_results", "answers", "cell_reports", "overrides",
    }


def test_open_twice_is_idempotent(tmp_path: Path) -> None:
    url = store.default_url(tmp_path)
    store.open_db(url)
    store.open_db(url)  # already at head: no error, nothing changes


def test_grade_round_trip(db) -> None:  # type: ignore[no-untyped-def]
    g = factories.grade("alice")
    run = store.start_run(db, "dl_assignment_4", "ahash", {"jobs": 1})
    store.save_grade(db, run, g, "ahash")
    [back] = store.load_grades(db, "dl_assignment_4")
    assert back.written == g.written
    assert back.code == g.code
    assert back.submission.answers == g.submission.answers
    assert back.submission.files == g.submission.files
    assert (back.total, back.status, back.errors) == (g.total, g.status, g.errors)


def test_latest_grade_wins_and_hashes(db) -> None:  # type: ignore[no-untyped-def]
    run = store.start_run(db, "dl_assignment_4", "ahash", {})
    store.save_grade(db, run, factories.grade("bob", awarded=0.0, chash="old"), "ahash")
    store.save_grade(db, run, factories.grade("bob", awarded=1.0, chash="new"), "ahash")
    [g] = store.load_grades(db, "dl_assignment_4")
    assert g.total == 1.0
    assert store.stored_hashes(db, "dl_assignment_4") == {"bob": ("new", "ahash")}


def test_interrupted_runs_are_marked(db) -> None:  # type: ignore[no-untyped-def]
    first = store.start_run(db, "dl_assignment_4", "ahash", {})
    store.start_run(db, "dl_assignment_4", "ahash", {})
    runs = store.list_runs(db, "dl_assignment_4")
    assert [r.status for r in runs if r.id == first] == ["interrupted"]


def test_overrides(db) -> None:  # type: ignore[no-untyped-def]
    run = store.start_run(db, "dl_assignment_4", "ahash", {})
    store.save_grade(db, run, factories.grade("carol", awarded=0.0), "ahash")
    store.set_override(db, "dl_assignment_4", "carol", "q1.definition", 1.0, "fine wording")
    store.set_override(db, "dl_assignment_4", "carol", "q1.definition", 0.5, "half")
    want = {("carol", "q1.definition"): (0.5, "half")}
    assert store.load_overrides(db, "dl_assignment_4") == want
    assert store.clear_override(db, "dl_assignment_4", "carol", "q1.definition")
    assert not store.clear_override(db, "dl_assignment_4", "carol", "q1.definition")
    with pytest.raises(StoreError, match="no student 'zed'"):
        store.set_override(db, "dl_assignment_4", "zed", "q1.definition", 1.0, "")


def test_unwritable_database_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot open the database"):
        store.open_db(f"sqlite:///{blocker}/sub/db.sqlite")
