"""Class statistics for the dashboard, and the list of submissions that failed.

:func:`class_stats` sums the students' views (overrides applied) into
:class:`Totals`, one :class:`ItemStat` per question and per code task and one
:class:`PointStat` per rubric point. :func:`failures` lists what could not be
graded: grades with status ``error`` and the ingest failures that made no grade.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from grader.assignment import Assignment
from grader.report_views import PointView, StudentView
from grader.templating import anchor

__all__ = [
    "TASK_STATUSES",
    "Failure",
    "ItemStat",
    "PointStat",
    "Totals",
    "class_stats",
    "failures",
]

TASK_STATUSES = ("ok", "timeout", "limit", "error", "missing", "not_runnable", "skipped")


@dataclass
class PointStat:
    id: str
    description: str
    max_points: float
    awarded: list[float] = field(default_factory=list)
    n_awarded: int = 0
    n_partial: int = 0
    n_not: int = 0
    n_error: int = 0
    n_missing: int = 0
    n_review: int = 0
    n_overridden: int = 0

    @property
    def anchor(self) -> str:
        return anchor("p", self.id)

    @property
    def n(self) -> int:
        return len(self.awarded)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.awarded) if self.awarded else None

    @property
    def fraction(self) -> float | None:
        m = self.mean
        return m / self.max_points if m is not None and self.max_points > 0 else None

    @property
    def pct_awarded(self) -> float | None:
        return self.n_awarded / self.n if self.n else None

    def add(self, p: PointView) -> None:
        self.awarded.append(p.awarded)
        full = p.awarded >= p.max_points - 1e-9 and p.max_points > 0
        if p.overridden:
            self.n_overridden += 1
            verdict = "awarded" if full else "partial" if p.awarded > 0 else "not_awarded"
        else:
            verdict = p.verdict
        if verdict == "awarded":
            self.n_awarded += 1
        elif verdict == "partial":
            self.n_partial += 1
        elif verdict == "not_awarded":
            self.n_not += 1
        elif verdict == "error":
            self.n_error += 1
        else:
            self.n_missing += 1
        if p.needs_review:
            self.n_review += 1

    @property
    def segments(self) -> list[tuple[str, float, str]]:
        return [("awarded", self.n_awarded, "awarded"), ("partial", self.n_partial, "partial"),
                ("not awarded", self.n_not, "not_awarded"), ("error", self.n_error, "error"),
                ("no result", self.n_missing, "missing")]


@dataclass
class ItemStat:
    """A question's or a task's statistics."""

    id: str
    label: str
    title: str
    max_points: float
    points: list[PointStat]
    scores: list[float] = field(default_factory=list)
    answered: int = 0  # questions: answers found; tasks: results came back
    statuses: dict[str, int] = field(default_factory=dict)  # tasks: status -> count
    durations: list[float] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.scores)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.scores) if self.scores else None

    @property
    def fraction(self) -> float | None:
        m = self.mean
        return m / self.max_points if m is not None and self.max_points > 0 else None

    @property
    def pct_answered(self) -> float | None:
        return self.answered / self.n if self.n else None

    @property
    def mean_duration(self) -> float | None:
        return statistics.fmean(self.durations) if self.durations else None

    @property
    def n_review(self) -> int:
        return sum(p.n_review for p in self.points)

    @property
    def status_segments(self) -> list[tuple[str, float, str]]:
        return [(s.replace("_", " "), self.statuses.get(s, 0),
                 "st-none" if s == "no result" else f"st-{s}")
                for s in (*TASK_STATUSES, "no result")]


@dataclass
class Totals:
    scores: list[float]
    max_total: float
    n_students: int
    n_error: int
    n_review: int

    @property
    def n(self) -> int:
        return len(self.scores)

    def _stat(self, fn: Callable[[list[float]], float]) -> float | None:
        return fn(self.scores) if self.scores else None

    @property
    def mean(self) -> float | None:
        return self._stat(statistics.fmean)

    @property
    def median(self) -> float | None:
        return self._stat(statistics.median)

    @property
    def stdev(self) -> float | None:
        return statistics.pstdev(self.scores) if len(self.scores) > 1 else None

    @property
    def minimum(self) -> float | None:
        return self._stat(min)

    @property
    def maximum(self) -> float | None:
        return self._stat(max)

    @property
    def quartiles(self) -> tuple[float, float] | None:
        if len(self.scores) < 2:
            return None
        q = statistics.quantiles(self.scores, n=4, method="inclusive")
        return q[0], q[2]

    @property
    def mean_fraction(self) -> float | None:
        m = self.mean
        return m / self.max_total if m is not None and self.max_total > 0 else None


def class_stats(views: Sequence[StudentView], assignment: Assignment
                ) -> tuple[Totals, list[ItemStat], list[ItemStat]]:
    """Totals, per-question and per-task statistics over the graded students.

    Grades with status ``error`` (nothing could be graded) are left out of the
    statistics and counted apart.
    """
    graded = [v for v in views if v.grade.status != "error"]
    totals = Totals(scores=[v.total for v in graded], max_total=assignment.total,
                    n_students=len(views), n_error=len(views) - len(graded),
                    n_review=sum(1 for v in views if v.needs_review))
    qstats: dict[str, ItemStat] = {}
    for q in assignment.questions:
        qstats[q.id] = ItemStat(
            id=q.id, label=f"Q{q.number}", title=q.title, max_points=q.max_points,
            points=[PointStat(p.id, p.description, p.points) for p in q.points])
    tstats: dict[str, ItemStat] = {}
    for t in assignment.tasks:
        tstats[t.id] = ItemStat(
            id=t.id, label=t.id, title=t.title, max_points=t.max_points,
            points=[PointStat(p.id, p.description, p.points) for p in t.points])

    def point_stat(item: ItemStat, p: PointView) -> PointStat:
        for ps in item.points:
            if ps.id == p.id:
                return ps
        ps = PointStat(p.id, p.description, p.max_points)
        item.points.append(ps)
        return ps

    for v in graded:
        for qv in v.questions:
            item = qstats.setdefault(qv.id, ItemStat(qv.id, qv.id, qv.title, qv.max_points, []))
            item.scores.append(qv.awarded)
            item.answered += qv.answer is not None
            for p in qv.points:
                point_stat(item, p).add(p)
        for tv in v.tasks:
            item = tstats.setdefault(tv.id, ItemStat(tv.id, tv.id, tv.title, tv.max_points, []))
            item.scores.append(tv.awarded)
            item.statuses[tv.status] = item.statuses.get(tv.status, 0) + 1
            if tv.result is not None:
                item.answered += 1
                item.durations.append(tv.result.duration_s)
            for p in tv.points:
                point_stat(item, p).add(p)
    return totals, list(qstats.values()), list(tstats.values())


@dataclass
class Failure:
    """A submission that could not be graded, for the dashboard."""

    who: str
    messages: list[str]
    view: StudentView | None = None  # its page, when a grade exists


def failures(views: Sequence[StudentView], extra: Sequence[tuple[str, str]]) -> list[Failure]:
    """The dashboard's failures: grades with status ``error``, then the ``extra``
    ``(student id or path, message)`` ingest failures (merged into a grade's entry
    when the id is the same)."""
    out: list[Failure] = []
    by_id: dict[str, Failure] = {}
    for v in views:
        if v.grade.status != "error":
            continue
        msgs = list(v.grade.errors)
        # grade_submission already put the fatal problems in errors: list each once
        msgs += [d for p in v.grade.submission.problems
                 if p.fatal and (d := p.describe()) not in msgs]
        f = Failure(v.student_id, msgs or ["grading failed (no message)"], v)
        out.append(f)
        by_id.setdefault(v.student_id, f)
    pages = {v.student_id: v for v in views}
    for who, message in extra:
        if who in by_id:
            if message not in by_id[who].messages:
                by_id[who].messages.append(message)
            continue
        f = Failure(str(who), [str(message)], pages.get(who))
        by_id[who] = f
        out.append(f)
    return out
