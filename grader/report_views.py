"""What a student's report page shows: a view of one grade, overrides applied.

:func:`student_view` turns a :class:`~grader.models.Grade` into a
:class:`StudentView`: one :class:`QuestionView` per question and one
:class:`TaskView` per code task of the assignment (then any the rubric does not
name), each with a :class:`PointView` per rubric point. An override
``(student_id, point_id) -> awarded`` within ``[0, max points]`` replaces the
point's ``awarded``; the machine's value is kept beside it.

A written answer is shown escaped, with the evidence each scorer quoted marked
(:func:`find_evidence`, :func:`highlight`); a long answer folds up behind a preview.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from markupsafe import Markup, escape

from grader.assignment import Assignment, CodeTask, Question, RubricPoint
from grader.models import Answer, CellReport, CodeRun, Grade, PointResult, TaskResult
from grader.templating import anchor

__all__ = [
    "LONG_ANSWER_CHARS",
    "LONG_ANSWER_LINES",
    "PointView",
    "QuestionView",
    "StudentView",
    "TaskView",
    "find_evidence",
    "highlight",
    "student_view",
]

LONG_ANSWER_CHARS = 1500  # answers longer than this (or LONG_ANSWER_LINES) fold up
LONG_ANSWER_LINES = 30
PREVIEW_CHARS = 500
PREVIEW_LINES = 8


# --------------------------------------------------------------------------- evidence
_FRAGMENT_SPLIT = re.compile(r"\s*(?:…|\.\.\.|\n|;|\s\|\s)\s*")


def find_evidence(text: str, evidence: str) -> list[tuple[int, int]]:
    """Where ``evidence`` (a quote of the student's text) occurs in ``text``.

    Tries the whole quote exactly, then ignoring case and runs of white space, then
    its fragments (a scorer may join several spans with "…" or ";").
    """
    ev = evidence.strip()
    if not ev or not text:
        return []

    def locate(quote: str) -> tuple[int, int] | None:
        i = text.find(quote)
        if i >= 0:
            return i, i + len(quote)
        words = quote.split()
        if not words:
            return None
        pat = r"\s+".join(re.escape(w) for w in words)
        m = re.search(pat, text, re.IGNORECASE)
        return (m.start(), m.end()) if m else None

    whole = locate(ev)
    if whole:
        return [whole]
    spans = []
    for frag in _FRAGMENT_SPLIT.split(ev):
        frag = frag.strip().strip("\"'“”")
        if len(frag) >= 3:
            hit = locate(frag)
            if hit:
                spans.append(hit)
    return spans


def highlight(text: str, spans: Iterable[tuple[int, int, str]]) -> Markup:
    """``text`` escaped, with each (start, end, point id) span in a ``<mark>``.

    Overlapping spans are split at their boundaries; a mark names every point whose
    evidence it is. An empty ``<span id="ev-<point>">`` marks where each point's
    evidence starts.
    """
    spans = [(s, e, p) for s, e, p in spans if 0 <= s < e <= len(text)]
    if not spans:
        return Markup(escape(text))
    cuts = sorted({0, len(text), *(s for s, _, _ in spans), *(e for _, e, _ in spans)})
    out: list[str] = []
    seen: set[str] = set()
    for a, b in itertools.pairwise(cuts):
        piece = escape(text[a:b])
        owners = sorted({p for s, e, p in spans if s <= a and b <= e})
        if not owners:
            out.append(piece)
            continue
        # an empty anchor where each point's evidence starts: review links land here
        out.extend(f'<span class="ev-anchor" id="{anchor("ev", p)}"></span>'
                   for p in owners if p not in seen)
        seen.update(owners)
        out.append(
            f'<mark class="evidence" title="evidence for {escape(", ".join(owners))}">'
            f"{piece}</mark>"
        )
    return Markup("".join(out))


# --------------------------------------------------------------------------- views
@dataclass
class PointView:
    """One rubric point on a student's page (a result, or the lack of one)."""

    id: str
    description: str
    max_points: float
    result: PointResult | None
    awarded: float
    verdict: str  # a Verdict, or "missing" when no result came back
    overridden: bool = False
    machine_awarded: float | None = None  # before the override
    evidence_found: bool = False
    known: bool = True  # the rubric names it

    @property
    def anchor(self) -> str:
        return anchor("p", self.id)

    @property
    def evidence_anchor(self) -> str:
        return anchor("ev", self.id)

    @property
    def needs_review(self) -> bool:
        return bool(self.result and self.result.needs_review and not self.overridden)

    @property
    def feedback(self) -> str:
        return self.result.feedback if self.result else ""

    @property
    def detail(self) -> str:
        return self.result.detail if self.result else ""

    @property
    def evidence(self) -> str:
        return self.result.evidence if self.result else ""

    @property
    def confidence(self) -> float | None:
        return self.result.confidence if self.result else None


class _PointsTotal:
    """Points awarded and review flag of a question's or a task's rubric points."""

    points: list[PointView]

    @property
    def awarded(self) -> float:
        return sum(p.awarded for p in self.points)

    @property
    def needs_review(self) -> bool:
        return any(p.needs_review for p in self.points)


@dataclass
class QuestionView(_PointsTotal):
    id: str
    number: int | None
    title: str
    prompt: str
    max_points: float
    question: Question | None
    answer: Answer | None
    points: list[PointView]
    answer_html: Markup = field(default_factory=Markup)
    preview: str = ""
    long: bool = False
    chars: int = 0
    lines: int = 0

    @property
    def anchor(self) -> str:
        return anchor("q", self.id)


@dataclass
class TaskView(_PointsTotal):
    id: str
    title: str
    max_points: float
    task: CodeTask | None
    result: TaskResult | None
    points: list[PointView]

    @property
    def anchor(self) -> str:
        return anchor("t", self.id)

    @property
    def status(self) -> str:
        return self.result.status if self.result else "no result"


@dataclass
class StudentView:
    """Everything a student's page shows, overrides applied."""

    grade: Grade
    slug: str
    questions: list[QuestionView]
    tasks: list[TaskView]
    total: float
    overridden: int  # how many of the student's points were overridden

    @property
    def student_id(self) -> str:
        return self.grade.student_id

    @property
    def href(self) -> str:
        """The page's path relative to the dashboard."""
        return f"students/{self.slug}.html"

    @property
    def max_total(self) -> float:
        return self.grade.max_total

    @property
    def fraction(self) -> float | None:
        return self.total / self.max_total if self.max_total > 0 else None

    @property
    def points(self) -> list[PointView]:
        return [p for q in self.questions for p in q.points] + [
            p for t in self.tasks for p in t.points
        ]

    @property
    def review_points(self) -> list[PointView]:
        return [p for p in self.points if p.needs_review]

    @property
    def status(self) -> str:
        """The grade's status; ``needs_review`` turns ``graded`` once overrides settle it."""
        st = self.grade.status
        flagged = [p for p in self.points if p.result and p.result.needs_review]
        if st == "needs_review" and flagged and not self.review_points:
            return "graded"
        return st

    @property
    def needs_review(self) -> bool:
        return self.status == "needs_review" or bool(self.review_points)

    @property
    def code(self) -> CodeRun | None:
        return self.grade.code

    @property
    def failed_cells(self) -> list[CellReport]:
        return [c for c in self.code.cells if c.status != "ok"] if self.code else []


def _point_views(defs: Sequence[RubricPoint], results: Sequence[PointResult],
                 student_id: str, overrides: Mapping[tuple[str, str], float],
                 applied: set[tuple[str, str]]) -> list[PointView]:
    by_id = {r.point_id: r for r in results}
    views: list[PointView] = []
    for d in defs:
        r = by_id.pop(d.id, None)
        views.append(PointView(
            id=d.id, description=d.description, max_points=d.points, result=r,
            awarded=r.awarded if r else 0.0, verdict=r.verdict if r else "missing",
        ))
    for r in by_id.values():  # results the rubric does not name: show them all the same
        views.append(PointView(id=r.point_id, description="", max_points=r.max_points,
                               result=r, awarded=r.awarded, verdict=r.verdict, known=False))
    for v in views:
        key = (student_id, v.id)
        if key in overrides and 0 <= overrides[key] <= v.max_points + 1e-9:
            v.machine_awarded = v.awarded
            v.awarded = float(overrides[key])
            v.overridden = True
            applied.add(key)
    return views


def _answer_fields(qv: QuestionView) -> None:
    a = qv.answer
    if a is None:
        return
    text = a.text
    spans: list[tuple[int, int, str]] = []
    for p in qv.points:
        if p.evidence:
            hits = find_evidence(text, p.evidence)
            p.evidence_found = bool(hits)
            spans.extend((s, e, p.id) for s, e in hits)
    qv.answer_html = highlight(text, spans)
    qv.chars = len(text)
    qv.lines = text.count("\n") + 1 if text else 0
    qv.long = qv.chars > LONG_ANSWER_CHARS or qv.lines > LONG_ANSWER_LINES
    if qv.long:
        head = "\n".join(text.splitlines()[:PREVIEW_LINES])[:PREVIEW_CHARS]
        cut = head.rfind(" ", PREVIEW_CHARS // 2) if len(head) == PREVIEW_CHARS else -1
        qv.preview = (head[:cut] if cut > 0 else head).rstrip() + " …"


def student_view(grade: Grade, assignment: Assignment, slug: str,
                 overrides: Mapping[tuple[str, str], float],
                 applied: set[tuple[str, str]] | None = None) -> StudentView:
    """The view of one grade that the student page (and the dashboard) renders."""
    applied = applied if applied is not None else set()
    sid = grade.student_id
    written_by_owner: dict[str, list[PointResult]] = {}
    for r in grade.written:
        written_by_owner.setdefault(r.owner_id, []).append(r)
    questions: list[QuestionView] = []
    for q in assignment.questions:
        qv = QuestionView(
            id=q.id, number=q.number, title=q.title, prompt=q.prompt,
            max_points=q.max_points, question=q, answer=grade.submission.answer(q.id),
            points=_point_views(q.points, written_by_owner.pop(q.id, []), sid, overrides,
                                applied),
        )
        _answer_fields(qv)
        questions.append(qv)
    for owner, results in written_by_owner.items():  # owners the rubric does not name
        pts = _point_views((), results, sid, overrides, applied)
        qv = QuestionView(id=owner, number=None, title="(not in the rubric)", prompt="",
                          max_points=sum(p.max_points for p in pts), question=None,
                          answer=grade.submission.answer(owner), points=pts)
        _answer_fields(qv)
        questions.append(qv)
    results_by_task = {t.task_id: t for t in grade.code.tasks} if grade.code else {}
    tasks: list[TaskView] = []
    for t in assignment.tasks:
        tr = results_by_task.pop(t.id, None)
        tasks.append(TaskView(
            id=t.id, title=t.title, max_points=t.max_points, task=t, result=tr,
            points=_point_views(t.points, tr.points if tr else (), sid, overrides, applied),
        ))
    for tr in results_by_task.values():
        pts = _point_views((), tr.points, sid, overrides, applied)
        tasks.append(TaskView(id=tr.task_id, title="(not in the rubric)",
                              max_points=sum(p.max_points for p in pts), task=None,
                              result=tr, points=pts))
    delta = 0.0
    n_over = 0
    for v in [p for q in questions for p in q.points] + [p for t in tasks for p in t.points]:
        if v.overridden and v.machine_awarded is not None:
            delta += v.awarded - v.machine_awarded
            n_over += 1
    return StudentView(grade=grade, slug=slug, questions=questions, tasks=tasks,
                       total=grade.total + delta, overridden=n_over)
