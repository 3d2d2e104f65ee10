"""The pipeline end to end on real files and a real SQLite database:
ingest -> score -> store -> export/render. Written part only here (the code part has
its own end-to-end tests); `--no-code` keeps these fast."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader import store
from grader.batch import BatchOptions, run_batch
from grader.cli import main

ROOT = Path(__file__).resolve().parent.parent
SEEDS = sorted((ROOT / "examples" / "submissions").glob("0*.txt"))


def opts(out: Path, **kw) -> BatchOptions:  # type: ignore[no-untyped-def]
    return BatchOptions(out_dir=out, run_code=False, backend="lexical", jobs=1, **kw)


@pytest.fixture
def subs(tmp_path: Path) -> Path:
    d = tmp_path / "subs"
    d.mkdir()
    for s in SEEDS:
        shutil.copyfile(s, d / s.name)  # not its mode: the seeds are read-only
    return d


def test_seeds_graded_stored_exported(subs: Path, tmp_path: Path, example_assignment) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    s = run_batch(subs, example_assignment, opts(out))
    assert (s.found, s.graded, s.skipped) == (5, 5, 0)
    doc = json.loads((out / "results.json").read_text(encoding="utf-8"))
    ids = [st["id"] for st in doc["students"]]
    assert ids == sorted(p.stem for p in SEEDS)
    for st in doc["students"]:
        assert st["status"] in ("graded", "needs_review")
        assert sum(1 for a in st["answers"].values() if a) == 11
        assert set(st["points"]) >= {p.id for q in example_assignment.questions for p in q.points}
        assert 0 < st["total"] <= 28
    assert (out / "grades.csv").read_text(encoding="utf-8").count("\n") == 6
    assert (out / "index.html").is_file()
    assert len(list((out / "students").glob("*.html"))) == 5
    con = sqlite3.connect(out / "grader.sqlite")
    assert con.execute("select count(*) from grades").fetchone()[0] == 5
    assert con.execute("select count(*) from point_results where evidence != ''").fetchone()[0] > 0


def test_rerun_skips_unchanged_and_regrade_forces(subs: Path, tmp_path: Path,
                                                  example_assignment) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    run_batch(subs, example_assignment, opts(out))
    again = run_batch(subs, example_assignment, opts(out))
    assert (again.graded, again.skipped) == (0, 5)
    first = SEEDS[0].name
    (subs / first).write_text((subs / first).read_text(encoding="utf-8") + "\nextra\n",
                              encoding="utf-8")
    changed = run_batch(subs, example_assignment, opts(out))
    assert (changed.graded, changed.skipped) == (1, 4)
    forced = run_batch(subs, example_assignment, opts(out, regrade=True))
    assert (forced.graded, forced.skipped) == (5, 0)


BAD_INPUTS = {
    "broken.ipynb": b'{"cells": [ {"cell_type": "markdown", ',
    "binary.txt": bytes(range(256)) * 40,
    "empty.md": b"",
    "latin.md": "## Q1\nTensorFlow est une biblioth\xe8que".encode("latin-1"),
    "slides.pdf": b"%PDF-1.4 ...",
}


def test_bad_inputs_never_stop_the_batch(tmp_path: Path, example_assignment) -> None:  # type: ignore[no-untyped-def]
    subs = tmp_path / "subs"
    subs.mkdir()
    for name, data in BAD_INPUTS.items():
        (subs / name).write_bytes(data)
    shutil.copyfile(SEEDS[0], subs / "good.txt")
    out = tmp_path / "out"
    s = run_batch(subs, example_assignment, opts(out))
    assert s.found == len(BAD_INPUTS) + 1
    doc = {st["id"]: st for st in json.loads((out / "results.json").read_text())["students"]}
    assert set(doc) == {Path(n).stem for n in BAD_INPUTS} | {"good"}
    for sid in ("broken", "binary", "empty", "slides"):
        assert doc[sid]["status"] == "error", sid
        assert doc[sid]["errors"], sid
        assert doc[sid]["total"] == 0
    assert doc["good"]["status"] != "error" and doc["good"]["total"] > 0


def test_overrides_survive_regrade(subs: Path, tmp_path: Path, example_assignment) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    run_batch(subs, example_assignment, opts(out))
    sid = SEEDS[0].stem
    rc = main(["override", sid, "q10.rules", "3", "--reason", "checked by hand", "--out",
               str(out), "--assignment", str(example_assignment.root)])
    assert rc == 0
    doc = json.loads((out / "results.json").read_text())
    st = next(s for s in doc["students"] if s["id"] == sid)
    assert st["points"]["q10.rules"] == 3
    run_batch(subs, example_assignment, opts(out, regrade=True))
    doc = json.loads((out / "results.json").read_text())
    st = next(s for s in doc["students"] if s["id"] == sid)
    assert st["points"]["q10.rules"] == 3


def _count(db: Path) -> int:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return int(con.execute("select count(*) from grades").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:
        return 0


@pytest.mark.slow
def test_resume_after_kill_9(tmp_path: Path, example_assignment) -> None:  # type: ignore[no-untyped-def]
    """kill -9 in the middle of a batch loses nothing committed; the rerun resumes."""
    subs = tmp_path / "subs"
    subs.mkdir()
    n = 200
    for i in range(n):
        src = SEEDS[i % len(SEEDS)]
        (subs / f"s{i:03d}.txt").write_text(src.read_text(encoding="utf-8") + f"\n{i}\n",
                                            encoding="utf-8")
    out = tmp_path / "out"
    db = out / "grader.sqlite"
    cmd = [sys.executable, "-m", "grader", "batch", str(subs), "--out", str(out), "--no-code",
           "--backend", "lexical", "--jobs", "1", "-q", "--assignment",
           str(example_assignment.root)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while _count(db) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    committed = _count(db)
    assert 0 < committed < n, f"the batch was not interrupted mid-way ({committed} of {n})"
    engine = store.open_db(store.default_url(out))
    grades = store.load_grades(engine, example_assignment.id)
    assert len(grades) == committed
    for g in grades:  # every committed grade is whole
        assert len(g.written) == 23
    rerun = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{n - committed} graded, {committed} unchanged" in rerun.stdout
    assert _count(db) == n
    runs = store.list_runs(engine, example_assignment.id)
    assert [r.status for r in runs] == ["interrupted", "finished"]


def test_broken_override_template_stops_before_grading(subs: Path, tmp_path: Path,
                                                       example_assignment) -> None:  # type: ignore[no-untyped-def]
    from grader.errors import GraderError

    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "student.html").write_text("{% if %}broken", encoding="utf-8")
    out = tmp_path / "out"
    with pytest.raises(GraderError, match="template syntax error"):
        run_batch(subs, example_assignment, opts(out, templates_dir=templates))
    assert not (out / "grader.sqlite").exists()
