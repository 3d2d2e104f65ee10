"""HTML reports: one page per student and a class dashboard, rendered with Jinja2.

::

    from grader.report import render_reports, ReportOptions
    paths = render_reports(grades, assignment, Path("out/report"),
                           options=ReportOptions(templates_dir=Path("templates")))

writes ``out/report/index.html`` (the dashboard) and ``out/report/students/<slug>.html``
(one per grade) and returns their paths, dashboard first. Pages are self-contained:
the stylesheet is inlined, the pictures are inline SVG, there is no JavaScript and a
Content-Security-Policy forbids any, so they work offline from ``file://`` and a page
can be mailed on its own.

Templates
    The built-in templates live in ``grader/templates/``. ``ReportOptions.templates_dir``
    names an override folder: a file there with the same name as a built-in wins
    (``student.html``, ``dashboard.html``, ``base.html``, ``macros.html``,
    ``charts.html``, ``report.css``, or the empty hook ``extra.css``). An override can
    extend the built-in it replaces as ``{% extends "default:student.html" %}`` and
    change one block. Student text reaches templates as data, never as template
    source, and autoescaping is on for every ``.html`` template.

Hooks
    :func:`template_filter` and :func:`template_global` register a function for every
    template. The built-in pictures (``histogram_svg``, ``meter_svg``,
    ``stacked_svg``) and formatters (``pts``, ``pct``) are registered through them, the
    same way a plug-in registers its own.

Views
    ``instructor=True`` (the default) shows everything, including ``detail`` texts
    (which may reveal expected values), confidences, review flags, the review queue
    and the list of students. ``instructor=False`` renders pages fit to hand to
    students: no ``detail``, no confidence or review flags, and the dashboard keeps
    only the anonymous class statistics.

Overrides
    ``ReportOptions.overrides`` maps ``(student_id, point_id)`` to the points an
    instructor awarded by hand. The value replaces the point's ``awarded`` (so applying
    an override twice changes nothing), the student's total moves by the difference,
    the point counts as reviewed, and the page shows the machine's value beside it.
    An override outside ``[0, max points]`` or naming no known student or point is
    ignored and listed on the dashboard.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import itertools
import math
import os
import re
import statistics
import tempfile
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

import jinja2
from markupsafe import Markup, escape

from grader import __version__, charts
from grader.assignment import Assignment, CodeTask, Question, RubricPoint
from grader.errors import GraderError
from grader.models import Answer, CellReport, CodeRun, Grade, PointResult, TaskResult

__all__ = [
    "TASK_STATUSES",
    "ReportOptions",
    "make_environment",
    "render_reports",
    "slugify",
    "template_filter",
    "template_global",
]

BUILTIN_TEMPLATES = Path(__file__).parent / "templates"
TASK_STATUSES = ("ok", "timeout", "limit", "error", "missing", "not_runnable", "skipped")
LONG_ANSWER_CHARS = 1500  # answers longer than this (or LONG_ANSWER_LINES) fold up
LONG_ANSWER_LINES = 30
PREVIEW_CHARS = 500
PREVIEW_LINES = 8


# --------------------------------------------------------------------------- options
@dataclass(frozen=True)
class ReportOptions:
    """How :func:`render_reports` renders.

    templates_dir: override folder (a file there named like a built-in template wins).
    title: page title (default: the assignment's title).
    instructor: the instructor's view (details, review flags, student list) or the
        students' view (none of those).
    generated_at: the time shown in the footer (default: now, UTC).
    overrides: ``(student_id, point_id) -> awarded`` set by hand.
    failures: ingest failures that produced no grade: ``(student id or path, message)``.
    """

    templates_dir: Path | None = None
    title: str | None = None
    instructor: bool = True
    generated_at: str = ""
    overrides: Mapping[tuple[str, str], float] = field(
        default_factory=lambda: MappingProxyType({})
    )
    failures: Sequence[tuple[str, str]] = ()


_DEFAULT_OPTIONS = ReportOptions()


# --------------------------------------------------------------------------- hooks
F = TypeVar("F", bound=Callable[..., Any])
_FILTERS: dict[str, Callable[..., Any]] = {}
_GLOBALS: dict[str, Any] = {}


def template_filter(name: str) -> Callable[[F], F]:
    """Register ``fn`` as the template filter ``name`` (``{{ x | name }}``)."""

    def deco(fn: F) -> F:
        _FILTERS[name] = fn
        return fn

    return deco


def template_global(name: str) -> Callable[[F], F]:
    """Register ``fn`` as the template global ``name`` (``{{ name(...) }}``)."""

    def deco(fn: F) -> F:
        _GLOBALS[name] = fn
        return fn

    return deco


template_filter("histogram_svg")(charts.histogram)
template_filter("meter_svg")(charts.meter)
template_filter("stacked_svg")(charts.stacked)


@template_filter("pts")
def fmt_points(x: float | None) -> str:
    """Points as people write them: 2, 2.5, 0.33."""
    return "–" if x is None else charts.fmt_num(float(x))


@template_filter("pct")
def fmt_pct(x: float | None, digits: int = 0) -> str:
    """A fraction (0..1) as a percentage."""
    if x is None or not math.isfinite(x):
        return "–"
    return f"{x * 100:.{digits}f}%"


_MD_CODE = re.compile(r"`([^`\n]+)`")
_MD_BOLD = re.compile(r"\*\*([^*\n]+)\*\*")


@template_filter("md_inline")
def md_inline(s: str | None, length: int | None = None) -> Markup:
    """Instructor text (rubric descriptions, prompts) with `code` and **bold** shown.

    The text is escaped first; only the two markers become markup. With ``length``,
    the text is cut at a word boundary (closing a marker the cut left open) + "…".
    """
    s = s or ""
    if length is not None and len(s) > length:
        cut = s[:length].rsplit(" ", 1)[0].rstrip(" ,;:")
        if cut.count("`") % 2:
            cut += "`"
        if cut.count("**") % 2:
            cut += "**"
        s = cut + "…"
    out = str(escape(s))
    out = _MD_CODE.sub(r"<code>\1</code>", out)
    return Markup(_MD_BOLD.sub(r"<strong>\1</strong>", out))


_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@template_filter("plain")
def plain_text(s: str | None) -> str:
    """Terminal output made readable: ANSI colour codes and control characters removed."""
    if not s:
        return ""
    return _CONTROL.sub("", _ANSI.sub("", s.replace("\r\n", "\n")))


@template_filter("tail")
def tail_lines(s: str | None, n: int = 60) -> str:
    """The last ``n`` lines of ``s``."""
    lines = plain_text(s).splitlines()
    return "\n".join(lines[-n:])


# --------------------------------------------------------------------------- environment
def _autoescape(name: str | None) -> bool:
    return name is None or not name.endswith((".css", ".txt"))


def make_environment(templates_dir: Path | None = None) -> jinja2.Environment:
    """The Jinja2 environment: override folder first, then the built-in templates.

    ``default:NAME`` always names the built-in template, so an override can extend
    the template it replaces.
    """
    builtin = jinja2.FileSystemLoader(str(BUILTIN_TEMPLATES))
    loaders: list[jinja2.BaseLoader] = [
        jinja2.PrefixLoader({"default": builtin}, delimiter=":")
    ]
    if templates_dir is not None:
        templates_dir = Path(templates_dir)
        if not templates_dir.is_dir():
            raise GraderError(
                "the templates folder does not exist", path=templates_dir,
                fix="create it, or leave it out to use the built-in templates",
            )
        loaders.append(jinja2.FileSystemLoader(str(templates_dir)))
    loaders.append(builtin)
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=_autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(_FILTERS)
    env.globals.update(_GLOBALS)
    return env


# --------------------------------------------------------------------------- slugs
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)),
                     *(f"lpt{i}" for i in range(10))}


def slugify(text: str, max_len: int = 60) -> str:
    """A file-name-safe, lower-case ASCII slug of ``text`` (never empty)."""
    norm = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    s = re.sub(r"[^A-Za-z0-9_]+", "-", norm).strip("-_").lower()
    s = s[:max_len].rstrip("-_")
    if not s:
        s = "student"
    if s in _WINDOWS_RESERVED:
        s = f"s-{s}"
    return s


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def _unique_slugs(ids: Sequence[str]) -> list[str]:
    """One slug per entry of ``ids`` (in order), unique even when ids repeat.

    A slug is the plain slug of the id when no other id shares it (case-insensitive
    file systems included), else the slug plus a short hash of the id, so a student's
    file name does not depend on which other students are in the batch.
    """
    bases = [slugify(i) for i in ids]
    groups: dict[str, set[str]] = {}
    for i, b in zip(ids, bases, strict=True):
        groups.setdefault(b, set()).add(i)
    used: set[str] = set()
    out: list[str] = []
    for i, b in zip(ids, bases, strict=True):
        s = b if len(groups[b]) == 1 else f"{b[:51]}-{_short_hash(i)}"
        k = 2
        cand = s
        while cand in used:
            cand = f"{s}-{k}"
            k += 1
        used.add(cand)
        out.append(cand)
    return out


def anchor(kind: str, ident: str) -> str:
    """An HTML id for a question, task or rubric point: ``p-q3.dtype``."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", ident).strip("-") or _short_hash(ident)
    if safe != ident:
        safe = f"{safe}-{_short_hash(ident)}"
    return f"{kind}-{safe}"




@template_filter("anchor")
def anchor_filter(ident: str, kind: str) -> str:
    """``{{ point_id | anchor("p") }}``: the id :func:`anchor` gives."""
    return anchor(kind, ident)


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


@dataclass
class QuestionView:
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

    @property
    def awarded(self) -> float:
        return sum(p.awarded for p in self.points)

    @property
    def needs_review(self) -> bool:
        return any(p.needs_review for p in self.points)


@dataclass
class TaskView:
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

    @property
    def awarded(self) -> float:
        return sum(p.awarded for p in self.points)

    @property
    def needs_review(self) -> bool:
        return any(p.needs_review for p in self.points)


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


# --------------------------------------------------------------------------- statistics
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


def _failures(views: Sequence[StudentView], extra: Sequence[tuple[str, str]]) -> list[Failure]:
    out: list[Failure] = []
    by_id: dict[str, Failure] = {}
    for v in views:
        if v.grade.status != "error":
            continue
        msgs = list(v.grade.errors)
        msgs += [f"{p.file}: {p.message}" + (f" (fix: {p.fix})" if p.fix else "")
                 for p in v.grade.submission.problems if p.fatal]
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


# --------------------------------------------------------------------------- rendering
def _now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _write(path: Path, text: str) -> None:
    """Write atomically: a reader never sees half a page."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _render(env: jinja2.Environment, name: str, ctx: Mapping[str, Any]) -> str:
    try:
        return env.get_template(name).render(ctx)
    except jinja2.TemplateSyntaxError as exc:
        raise GraderError(f"template syntax error at line {exc.lineno}: {exc.message}",
                          path=exc.filename or exc.name or name,
                          fix="fix the template, or delete it to use the built-in one") from exc
    except jinja2.TemplateNotFound as exc:
        raise GraderError(f"template {exc.name!r} not found (rendering {name})",
                          path=name, fix="restore the template or fix the name") from exc
    except jinja2.UndefinedError as exc:
        raise GraderError(f"while rendering {name}: {exc.message}", path=name,
                          fix="fix the override template (see templates/README.md)") from exc


def render_reports(grades: Sequence[Grade], assignment: Assignment, out_dir: Path, *,
                   options: ReportOptions = _DEFAULT_OPTIONS) -> list[Path]:
    """Render the dashboard and one page per grade into ``out_dir``.

    Returns the written paths: ``out_dir/index.html`` first, then the student pages
    in student-id order. Pages of students no longer in ``grades`` are removed from
    ``out_dir/students/`` (that folder is the report's own).
    """
    out_dir = Path(out_dir)
    env = make_environment(options.templates_dir)
    ordered = sorted(enumerate(grades), key=lambda ig: (ig[1].student_id.casefold(),
                                                        ig[1].student_id, ig[0]))
    slugs = _unique_slugs([g.student_id for _, g in ordered])
    applied: set[tuple[str, str]] = set()
    views = [student_view(g, assignment, s, options.overrides, applied)
             for (_, g), s in zip(ordered, slugs, strict=True)]
    totals, qstats, tstats = class_stats(views, assignment)
    ignored = [(k, v) for k, v in options.overrides.items() if k not in applied]
    status_columns = [s for s in (*TASK_STATUSES, "no result")
                      if s in TASK_STATUSES[:5] or any(t.statuses.get(s) for t in tstats)]
    common: dict[str, Any] = {
        "assignment": assignment,
        "title": options.title or assignment.title or assignment.id,
        "instructor": options.instructor,
        "options": options,
        "generated_at": options.generated_at or _now(),
        "version": __version__,
        "totals": totals,
        "task_statuses": TASK_STATUSES,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    index = out_dir / "index.html"
    _write(index, _render(env, "dashboard.html", {
        **common, "root": "", "page": "dashboard", "students": views,
        "review": [v for v in views if v.needs_review],
        "failures": _failures(views, options.failures),
        "questions": qstats, "tasks": tstats, "ignored_overrides": ignored,
        "status_columns": status_columns,
    }))
    paths = [index]
    student_dir = out_dir / "students"
    student_dir.mkdir(exist_ok=True)
    for v in views:
        path = student_dir / f"{v.slug}.html"
        _write(path, _render(env, "student.html", {
            **common, "root": "../", "page": "student", "student": v, "grade": v.grade,
        }))
        paths.append(path)
    keep = {p.name for p in paths[1:]}
    for old in student_dir.glob("*.html"):
        if old.name not in keep:
            old.unlink()
    return paths
