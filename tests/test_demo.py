"""README's first command, end to end: `grader batch examples/submissions` with the
real sandbox, the real written scorer, a real SQLite file and real reports."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_demo_batch_grades_the_shipped_examples(tmp_path: Path) -> None:
    subs = tmp_path / "submissions"
    shutil.copytree(ROOT / "examples" / "submissions", subs)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "grader", "batch", str(subs), "--out", str(out), "--jobs", "2",
         "--assignment", str(ROOT / "assignments" / "dl_assignment_4")],
        capture_output=True, text=True, cwd=tmp_path, timeout=1500, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    entries = {p.stem if p.is_file() else p.name for p in subs.iterdir()}
    assert f"{len(entries)} submissions: {len(entries)} graded" in proc.stdout
    doc = json.loads((out / "results.json").read_text(encoding="utf-8"))
    students = {s["id"]: s for s in doc["students"]}
    assert set(students) == entries
    for sid, s in students.items():
        assert s["status"] in ("graded", "needs_review"), (sid, s["errors"])
        assert set(s["points"]) == set(doc["assignment"]["points"]), sid
    # the five real students handed in written answers only
    for sid in (p.stem for p in subs.glob("0*.txt")):
        assert students[sid]["total"] > 0
        assert all(t["status"] == "missing" for t in students[sid]["tasks"].values())
    # correct code written differently from the reference earns every code point
    for sid in ("alice_ref_style", "bob_solution"):
        code = sum(t["points"] for t in students[sid]["tasks"].values())
        assert code == 20, (sid, students[sid]["tasks"])
    con = sqlite3.connect(out / "grader.sqlite")
    assert con.execute("select count(*) from grades").fetchone()[0] == len(entries)
    assert (out / "index.html").is_file() and (out / "grades.csv").is_file()
    pages = list((out / "students").glob("*.html"))
    assert len(pages) == len(entries)
