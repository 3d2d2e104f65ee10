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
    template. Each environment starts from the built-in pictures (``histogram_svg``,
    ``meter_svg``, ``stacked_svg``) and formatters (``pts``, ``pct``, ...), then adds
    what plug-ins registered, so a plug-in's filter of the same name wins.

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

The work is split by concept: :mod:`grader.templating` (the Jinja2 environment,
hooks, formatters, slugs and anchors), :mod:`grader.report_views` (what a student's
page shows) and :mod:`grader.report_stats` (the dashboard's statistics). This module
renders and writes the pages, and re-exports the names callers use from here.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import jinja2

from grader import __version__
from grader.assignment import Assignment
from grader.errors import GraderError
from grader.files import write_text_atomic
from grader.models import Grade
from grader.report_stats import TASK_STATUSES, class_stats, failures
from grader.report_views import find_evidence, highlight, student_view
from grader.templating import _FILTERS as _FILTERS  # the plug-in registries
from grader.templating import _GLOBALS as _GLOBALS
from grader.templating import (
    BUILTIN_TEMPLATES,
    fmt_pct,
    fmt_points,
    make_environment,
    md_inline,
    slugify,
    template_filter,
    template_global,
    unique_slugs,
)

__all__ = [
    "BUILTIN_TEMPLATES",
    "TASK_STATUSES",
    "ReportOptions",
    "find_evidence",
    "fmt_pct",
    "fmt_points",
    "highlight",
    "make_environment",
    "md_inline",
    "render_reports",
    "slugify",
    "template_filter",
    "template_global",
]

_unique_slugs = unique_slugs  # its name here before the split


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



# --------------------------------------------------------------------------- rendering
def _now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _write(path: Path, text: str) -> None:
    write_text_atomic(path, text)


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


def check_templates(templates_dir: Path | None) -> None:
    """Compile the page templates (overrides included) now, so that a broken override is
    reported before a batch spends its time grading."""
    env = make_environment(templates_dir)
    for name in ("dashboard.html", "student.html"):
        try:
            env.get_template(name)
        except jinja2.TemplateSyntaxError as exc:
            raise GraderError(f"template syntax error at line {exc.lineno}: {exc.message}",
                              path=exc.filename or exc.name or name,
                              fix="fix the template, or delete it to use the built-in one"
                              ) from exc
        except jinja2.TemplateNotFound as exc:
            raise GraderError(f"template {exc.name!r} not found (loading {name})",
                              path=name, fix="restore the template or fix the name") from exc


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
    slugs = unique_slugs([g.student_id for _, g in ordered])
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
        "failures": failures(views, options.failures),
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
