"""Pictures for the HTML reports, as inline SVG: no JavaScript, no network.

Each function returns :class:`markupsafe.Markup` (safe to drop into a template):
every piece of text that goes into the SVG is escaped here. Colours come from CSS
classes (``report.css``), so an override stylesheet restyles the charts and printing
keeps them.

:mod:`grader.templating` puts these in the table of built-in filters that every
environment starts from; plug-ins add theirs with :func:`grader.report.template_filter`.
The templates call them from the macros in ``charts.html``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

_NICE = (1.0, 2.0, 2.5, 5.0)


def fmt_num(x: float) -> str:
    """2 -> "2", 2.5 -> "2.5", 2.3333 -> "2.33"."""
    if not math.isfinite(x):
        return "–"
    r = round(x, 2)
    if r == int(r):
        return str(int(r))
    return f"{r:.2f}".rstrip("0").rstrip(".")


def nice_step(span: float, *, min_bins: int = 8, max_bins: int = 20) -> float:
    """A bin width from 1, 2, 2.5, 5 x 10^k giving between min_bins and max_bins bins.

    Spans too small for min_bins bins of at least 0.5 get bins of 0.5.
    """
    if span <= 0:
        return 1.0
    best = None
    for exp in range(-1, 7):
        for base in _NICE:
            step = base * 10.0**exp
            if step < 0.5:
                continue
            n = math.ceil(span / step - 1e-9)
            if min_bins <= n <= max_bins:
                return step
            if n <= max_bins and best is None:
                best = step
    return best if best is not None else span / max_bins


@dataclass(frozen=True)
class Bin:
    lo: float
    hi: float
    count: int
    last: bool  # the last bin includes its upper edge

    @property
    def label(self) -> str:
        close = "]" if self.last else ")"
        return f"[{fmt_num(self.lo)}, {fmt_num(self.hi)}{close}"


def histogram_bins(values: Sequence[float], lo: float, hi: float,
                   step: float | None = None) -> list[Bin]:
    """Bins of width ``step`` covering [lo, hi]; values outside go to the end bins."""
    if hi <= lo:
        hi = lo + 1.0
    step = step or nice_step(hi - lo)
    n = max(1, math.ceil((hi - lo) / step - 1e-9))
    counts = [0] * n
    for v in values:
        i = math.floor((v - lo) / step + 1e-9) if math.isfinite(v) else 0
        counts[min(max(i, 0), n - 1)] += 1
    return [
        Bin(lo + i * step, min(lo + (i + 1) * step, hi) if i == n - 1 else lo + (i + 1) * step,
            c, i == n - 1)
        for i, c in enumerate(counts)
    ]


def _ticks(top: int) -> tuple[int, list[int]]:
    """A rounded-up axis maximum for counts and its (about 4) ticks."""
    if top <= 0:
        return 1, [0, 1]
    step = 1
    for s in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000):
        step = s
        if top / s <= 5:
            break
    ymax = math.ceil(top / step) * step
    return ymax, list(range(0, ymax + 1, step))


def histogram(values: Sequence[float], hi: float, *, lo: float = 0.0,
              marker: float | None = None, marker_label: str = "this student",
              label: str = "Total score", unit: str = "students",
              width: int = 720, height: int = 240, step: float | None = None) -> Markup:
    """An SVG histogram of ``values`` over [lo, hi] with the mean (and a marker)."""
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    bins = histogram_bins(vals, lo, hi, step)
    left, right, top, bottom = 44, 14, 22, 40
    pw, ph = width - left - right, height - top - bottom
    top_count = max((b.count for b in bins), default=0)
    ymax, yticks = _ticks(top_count)
    span = bins[-1].hi - bins[0].lo

    def x(v: float) -> float:
        return left + (min(max(v, bins[0].lo), bins[-1].hi) - bins[0].lo) / span * pw

    def y(c: float) -> float:
        return top + ph - c / ymax * ph

    mean = sum(vals) / len(vals) if vals else None
    desc = (f"{label}: histogram of {len(vals)} {unit}" +
            (f", mean {fmt_num(mean)} of {fmt_num(hi)}" if mean is not None else ""))
    out: list[str] = [
        f'<svg class="chart histogram" viewBox="0 0 {width} {height}" '
        f'preserveAspectRatio="xMidYMid meet" role="img" aria-label="{escape(desc)}" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(desc)}</title>",
    ]
    for t in yticks:
        out.append(f'<line class="grid" x1="{left}" x2="{left + pw}" y1="{y(t):.1f}" '
                   f'y2="{y(t):.1f}"/>')
        out.append(f'<text class="tick" x="{left - 6}" y="{y(t) + 4:.1f}" '
                   f'text-anchor="end">{t}</text>')
    gap = 1.5 if pw / len(bins) > 6 else 0.0
    for b in bins:
        x0, x1 = x(b.lo), x(b.hi)
        marked = marker is not None and (b.lo <= marker < b.hi or (b.last and marker >= b.lo))
        cls = "bar marked" if marked else "bar"
        h = y(0) - y(b.count)
        tip = f"{b.label} points: {b.count} {unit if b.count != 1 else unit.rstrip('s')}"
        out.append(
            f'<rect class="{cls}" x="{x0 + gap / 2:.1f}" y="{y(b.count):.1f}" '
            f'width="{max(x1 - x0 - gap, 0.5):.1f}" height="{h:.1f}" '
            f'data-count="{b.count}"><title>{escape(tip)}</title></rect>'
        )
    out.append(f'<line class="axis" x1="{left}" x2="{left + pw}" y1="{y(0):.1f}" '
               f'y2="{y(0):.1f}"/>')
    every = max(1, math.ceil(len(bins) / 12))
    edges = [b.lo for b in bins] + [bins[-1].hi]
    for i, e in enumerate(edges):
        if i % every and i != len(edges) - 1:
            continue
        if i == len(edges) - 2 and (len(edges) - 1) % every and every > 1:
            continue  # avoid two labels crowding at the right end
        out.append(f'<text class="tick" x="{x(e):.1f}" y="{y(0) + 15:.1f}" '
                   f'text-anchor="middle">{fmt_num(e)}</text>')
    out.append(f'<text class="axis-label" x="{left + pw / 2:.1f}" y="{height - 6}" '
               f'text-anchor="middle">{escape(label)}</text>')
    if mean is not None:
        mx = x(mean)
        out.append(f'<line class="mean" x1="{mx:.1f}" x2="{mx:.1f}" y1="{top - 4}" '
                   f'y2="{y(0):.1f}"><title>mean {fmt_num(mean)}</title></line>')
        anchor = "end" if mx > left + pw * 0.8 else "start"
        dx = -4 if anchor == "end" else 4
        out.append(f'<text class="mean-label" x="{mx + dx:.1f}" y="{top + 6}" '
                   f'text-anchor="{anchor}">mean {fmt_num(mean)}</text>')
    if marker is not None and math.isfinite(marker):
        mx = x(marker)
        out.append(f'<line class="marker" x1="{mx:.1f}" x2="{mx:.1f}" y1="{top - 4}" '
                   f'y2="{y(0):.1f}"/>')
        anchor = "end" if mx > left + pw * 0.8 else "start"
        dx = -4 if anchor == "end" else 4
        out.append(f'<text class="marker-label" x="{mx + dx:.1f}" y="{top + 20}" '
                   f'text-anchor="{anchor}">{escape(marker_label)} {fmt_num(marker)}</text>')
    if not vals:
        out.append(f'<text class="empty" x="{left + pw / 2:.1f}" y="{top + ph / 2:.1f}" '
                   f'text-anchor="middle">No graded submissions yet</text>')
    out.append("</svg>")
    return Markup("".join(out))


def meter(fraction: float | None, *, width: int = 120, height: int = 10,
          label: str = "") -> Markup:
    """A small horizontal bar filled to ``fraction`` (0..1) of its width."""
    if fraction is None or not math.isfinite(fraction):
        return Markup(f'<svg class="chart meter empty" viewBox="0 0 {width} {height}" '
                      f'width="{width}" height="{height}" role="img" aria-label="no data" '
                      f'xmlns="http://www.w3.org/2000/svg"><rect class="track" x="0" y="0" '
                      f'width="{width}" height="{height}" rx="2"/></svg>')
    f = min(max(fraction, 0.0), 1.0)
    tip = label or f"{round(f * 100)}%"
    cls = "good" if f >= 0.75 else "mid" if f >= 0.4 else "low"
    return Markup(
        f'<svg class="chart meter" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{escape(tip)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(tip)}</title>'
        f'<rect class="track" x="0" y="0" width="{width}" height="{height}" rx="2"/>'
        f'<rect class="fill {cls}" x="0" y="0" width="{f * width:.1f}" height="{height}" '
        f'rx="2"/></svg>'
    )


def stacked(segments: Sequence[tuple[str, float, str]], *, width: int = 160,
            height: int = 12) -> Markup:
    """A horizontal bar split into (label, count, css class) segments."""
    total = sum(c for _, c, _ in segments if c > 0)
    parts = [f'<svg class="chart stacked" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="img" xmlns="http://www.w3.org/2000/svg"']
    summary = ", ".join(f"{lab}: {fmt_num(c)}" for lab, c, _ in segments if c > 0) or "no data"
    parts.append(f' aria-label="{escape(summary)}"><title>{escape(summary)}</title>')
    parts.append(f'<rect class="track" x="0" y="0" width="{width}" height="{height}" rx="2"/>')
    xpos = 0.0
    for lab, c, cls in segments:
        if c <= 0 or total <= 0:
            continue
        w = c / total * width
        parts.append(f'<rect class="seg {escape(cls)}" x="{xpos:.1f}" y="0" width="{w:.1f}" '
                     f'height="{height}"><title>{escape(lab)}: {fmt_num(c)}</title></rect>')
        xpos += w
    parts.append("</svg>")
    return Markup("".join(parts))
