"""Accuracy of the written scorer against hand labels (used by bench/ and the tests).

Label files (tests/data/written/):

* ``seed_labels.yaml`` -- per real submission (examples/submissions/), ``labels`` (points
  per rubric point) and ``borderline`` (calls a second grader could make the other way);
* ``dev_tune.yaml`` / ``dev_test.yaml`` -- written answers, one entry per student with
  ``answers`` (question id -> text), ``labels`` and ``borderline``.

Agreement is the share of (student, rubric point) pairs where the scorer awards exactly
the labelled points; the headline uses clear labels only. MAE is over question scores
(the sum of a question's points), all labels.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from grader.assignment import Assignment
from grader.models import Answer, Submission


@dataclass(frozen=True)
class Labelled:
    submission: Submission
    labels: dict[str, float]
    borderline: frozenset[str]
    split: str  # "seed", "tune" or "test"


@dataclass
class Report:
    rows: list[tuple[str, str, float, float, bool]] = field(default_factory=list)
    # (student, point id, label, scored, borderline)

    def add(self, student: str, pid: str, label: float, got: float, borderline: bool) -> None:
        self.rows.append((student, pid, label, got, borderline))

    def agreement(self, clear_only: bool = True) -> float:
        rows = [r for r in self.rows if not (clear_only and r[4])]
        return sum(abs(r[2] - r[3]) < 1e-6 for r in rows) / max(len(rows), 1)

    def n(self, clear_only: bool = True) -> int:
        return sum(1 for r in self.rows if not (clear_only and r[4]))

    def per_point(self) -> dict[str, tuple[int, int]]:
        out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for _, pid, lab, got, bl in self.rows:
            if not bl:
                out[pid][0] += abs(lab - got) < 1e-6
                out[pid][1] += 1
        return {k: (v[0], v[1]) for k, v in sorted(out.items(), key=lambda kv: _order(kv[0]))}

    def question_mae(self) -> float:
        lab: dict[tuple[str, str], float] = defaultdict(float)
        got: dict[tuple[str, str], float] = defaultdict(float)
        for st, pid, lv, gv, _ in self.rows:
            key = (st, pid.split(".")[0])
            lab[key] += lv
            got[key] += gv
        return sum(abs(lab[k] - got[k]) for k in lab) / max(len(lab), 1)

    def disagreements(self) -> list[tuple[str, str, float, float, bool]]:
        return [r for r in self.rows if abs(r[2] - r[3]) >= 1e-6]


def _order(pid: str) -> tuple[int, str]:
    q, _, rest = pid.partition(".")
    return (int(q[1:]) if q[1:].isdigit() else 0, rest)


def make_submission(student: str, answers: dict[str, str]) -> Submission:
    h = hashlib.sha256(repr(sorted(answers.items())).encode()).hexdigest()
    return Submission(
        student_id=student, path=f"{student}.md", content_hash=h, files=(),
        answers=tuple(Answer(question_id=q, text=t or "", file=f"{student}.md", cells=(),
                             label="heading") for q, t in answers.items()),
        code_cells=(),
    )


def load_dev(path: Path, split: str) -> list[Labelled]:
    data: list[dict[str, Any]] = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    out = []
    for e in data:
        answers = {str(q): str(t or "") for q, t in (e.get("answers") or {}).items()}
        out.append(Labelled(make_submission(str(e["id"]), answers),
                            {k: float(v) for k, v in e["labels"].items()},
                            frozenset(e.get("borderline") or ()), split))
    return out


def load_seeds(labels_path: Path, submissions_dir: Path, assignment: Assignment
               ) -> list[Labelled]:
    """The real submissions, ingested as the pipeline does."""
    from grader.ingest import ingest

    data: dict[str, Any] = yaml.safe_load(labels_path.read_text(encoding="utf-8"))
    out = []
    for student, e in data.items():
        hits = sorted(submissions_dir.glob(f"{student}.*"))
        if not hits:
            raise FileNotFoundError(f"no submission {student}.* in {submissions_dir}")
        sub = ingest(hits[0], submissions_dir, assignment)
        out.append(Labelled(sub, {k: float(v) for k, v in e["labels"].items()},
                            frozenset(e.get("borderline") or ()), "seed"))
    return out


def evaluate(scorer: Any, items: Iterable[Labelled], assignment: Assignment,
             batch: bool = True) -> Report:
    """Score every labelled submission and compare with its labels."""
    items = list(items)
    rep = Report()
    if batch:
        results = scorer.score_many([i.submission for i in items], assignment)
    else:
        results = [scorer.score(i.submission, assignment) for i in items]
    for it, res in zip(items, results, strict=True):
        by_id = {r.point_id: r for r in res}
        for pid, lab in it.labels.items():
            rep.add(it.submission.student_id, pid, lab, by_id[pid].awarded, pid in it.borderline)
    return rep
