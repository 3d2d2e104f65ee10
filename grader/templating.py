"""The Jinja2 environment of the HTML reports: loaders, hooks, formatters, slugs, anchors.

:func:`make_environment` builds the environment :mod:`grader.report` renders with:
an override folder first, then the built-in templates in ``grader/templates/``
(``default:NAME`` always names the built-in one). Autoescaping is on for every
template but ``.css`` and ``.txt`` ones.

Hooks
    Every environment gets the built-in filters (:data:`BUILTIN_FILTERS`: the
    pictures ``histogram_svg``, ``meter_svg``, ``stacked_svg`` and the formatters
    ``pts``, ``pct``, ``md_inline``, ``plain``, ``tail``, ``anchor``), then whatever
    a plug-in registered with :func:`template_filter` or :func:`template_global`;
    a plug-in's filter of the same name as a built-in wins.

Names
    :func:`slugify` and :func:`unique_slugs` name the student pages; :func:`anchor`
    gives the HTML ids of questions, tasks, rubric points and evidence.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

import jinja2
from markupsafe import Markup, escape

from grader import charts
from grader.errors import GraderError

__all__ = [
    "BUILTIN_FILTERS",
    "BUILTIN_TEMPLATES",
    "anchor",
    "fmt_pct",
    "fmt_points",
    "make_environment",
    "md_inline",
    "plain_text",
    "slugify",
    "tail_lines",
    "template_filter",
    "template_global",
    "unique_slugs",
]

BUILTIN_TEMPLATES = Path(__file__).parent / "templates"


# --------------------------------------------------------------------------- plug-in hooks
F = TypeVar("F", bound=Callable[..., Any])
# What plug-ins registered; make_environment adds them over the built-ins.
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


# --------------------------------------------------------------------------- formatters
def fmt_points(x: float | None) -> str:
    """Points as people write them: 2, 2.5, 0.33."""
    return "–" if x is None else charts.fmt_num(float(x))


def fmt_pct(x: float | None, digits: int = 0) -> str:
    """A fraction (0..1) as a percentage."""
    if x is None or not math.isfinite(x):
        return "–"
    return f"{x * 100:.{digits}f}%"


_MD_CODE = re.compile(r"`([^`\n]+)`")
_MD_BOLD = re.compile(r"\*\*([^*\n]+)\*\*")


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


def plain_text(s: str | None) -> str:
    """Terminal output made readable: ANSI colour codes and control characters removed."""
    if not s:
        return ""
    return _CONTROL.sub("", _ANSI.sub("", s.replace("\r\n", "\n")))


def tail_lines(s: str | None, n: int = 60) -> str:
    """The last ``n`` lines of ``s``."""
    lines = plain_text(s).splitlines()
    return "\n".join(lines[-n:])


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


def unique_slugs(ids: Sequence[str]) -> list[str]:
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


def anchor_filter(ident: str, kind: str) -> str:
    """``{{ point_id | anchor("p") }}``: the id :func:`anchor` gives."""
    return anchor(kind, ident)


# --------------------------------------------------------------------------- environment
BUILTIN_FILTERS: Mapping[str, Callable[..., Any]] = MappingProxyType({
    "histogram_svg": charts.histogram,
    "meter_svg": charts.meter,
    "stacked_svg": charts.stacked,
    "pts": fmt_points,
    "pct": fmt_pct,
    "md_inline": md_inline,
    "plain": plain_text,
    "tail": tail_lines,
    "anchor": anchor_filter,
})


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
    env.filters.update(BUILTIN_FILTERS)
    env.filters.update(_FILTERS)
    env.globals.update(_GLOBALS)
    return env
