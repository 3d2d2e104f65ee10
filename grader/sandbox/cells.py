"""Preparing the student's code cells to run: magics, real files, student-only tracebacks.

Cells run in order as Jupyter's "Run all" would with errors allowed. What IPython
would do beyond Python is not executed and is listed in the feedback:

* a cell whose first line is a cell magic (``%%bash``, ``%%writefile``, ...) is
  skipped, except ``%%time`` and ``%%capture``, whose body runs;
* line magics (``%timeit x``, ``%matplotlib inline``), shell escapes (``!pip install``)
  and their assignment forms (``files = !ls``) are replaced by ``pass`` (line numbers
  are kept), as are ``func?`` help lines;
* ``get_ipython().run_line_magic(...)`` / ``.system(...)`` in a notebook exported to
  ``.py`` are no-ops (``run_cell_magic('time', ...)`` runs its body).

Each cell is written to a real file and compiled under that file's name, so that
AutoGraph (``@tf.function`` with loops) can read its source. Tracebacks shown to the
student keep only frames from those files, named as the student's own file, cell and
line.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from grader.models import CodeCell

RUN_BODY = frozenset({"time", "capture"})
_CELL_MAGIC = re.compile(r"^\s*%%(\w+)")
_ASSIGN_MAGIC = re.compile(r"^(\s*)[\w.,\s*()\[\]]+?=\s*[!%]")
_GET_IPYTHON = re.compile(
    r"get_ipython\(\)\s*\.\s*(run_line_magic|run_cell_magic|system|magic|getoutput)\s*\(\s*"
    r"(?:[rbuf]?['\"]([\w.-]*))?")


@dataclass(frozen=True)
class PreparedCell:
    file: str  # the student's file (as in the submission)
    index: int  # cell index inside that file
    line: int  # first line of the cell in that file
    source: str  # what runs (magic lines replaced, line numbers kept)
    run: bool  # False: the whole cell is not executed
    skipped: tuple[str, ...] = ()  # what was not executed, for the feedback
    notebook: bool = False

    def where(self, lineno: int | None = None) -> str:
        if self.notebook:
            return f"cell {self.index}" + (f", line {lineno}" if lineno else "")
        if lineno:
            return f"line {self.line + lineno - 1}"
        return f"line {self.line}"


def _short(text: str, n: int = 60) -> str:
    text = text.strip()
    return text if len(text) <= n else text[: n - 3] + "..."


def _line_states(lines: Sequence[str]) -> list[bool]:
    """For each line: True when it starts a new logical line (not inside a string,
    bracket or backslash continuation), so a leading ``%``/``!`` there is a magic."""
    starts: list[bool] = []
    quote: str | None = None  # ', ", ''' or """
    depth = 0
    cont = False
    for line in lines:
        starts.append(quote is None and depth == 0 and not cont)
        cont = False
        i, n = 0, len(line)
        while i < n:
            c = line[i]
            if quote:
                if c == "\\":
                    i += 2
                    continue
                if line.startswith(quote, i):
                    i += len(quote)
                    quote = None
                    continue
                i += 1
                continue
            if c == "#":
                break
            if c in "'\"":
                q3 = c * 3
                quote = q3 if line.startswith(q3, i) else c
                i += len(quote)
                continue
            if c in "([{":
                depth += 1
            elif c in ")]}":
                depth = max(0, depth - 1)
            elif c == "\\" and i == n - 1:
                cont = True
            i += 1
        if quote in ("'", '"') and not line.endswith("\\"):
            quote = None  # an unterminated one-line string: a syntax error anyway
    return starts


def _magic_free(source: str) -> tuple[str, list[str]]:
    """Replace line magics and shell escapes by ``pass``; return (source, skipped)."""
    lines = source.split("\n")
    starts = _line_states(lines)
    out: list[str] = []
    skipped: list[str] = []
    for no, (line, start) in enumerate(zip(lines, starts, strict=True), 1):
        stripped = line.lstrip()
        indent = line[: len(line) - len(stripped)]
        if start and stripped[:1] in ("%", "!"):
            kind = "shell command" if stripped[0] == "!" else "line magic"
            skipped.append(f"{kind} `{_short(stripped)}` (line {no})")
            out.append(f"{indent}pass")
        elif start and _ASSIGN_MAGIC.match(line) and not re.match(r"^\s*\w+\s*==", line):
            target = line.split("=", 1)[0].strip()
            kind = "shell command" if "!" in line.split("=", 1)[1][:3] else "line magic"
            skipped.append(f"{kind} `{_short(stripped)}` (line {no})")
            out.append(f"{indent}{target} = None")
        elif start and re.match(r"^[\w.]+\?{1,2}\s*$", stripped):
            skipped.append(f"help `{_short(stripped)}` (line {no})")
            out.append(f"{indent}pass")
        else:
            m = _GET_IPYTHON.search(line) if start else None
            if m:
                what = m.group(2) or ""
                if m.group(1) == "run_cell_magic" and what in RUN_BODY:
                    pass  # the stub runs the body
                else:
                    label = "shell command" if m.group(1) in ("system", "getoutput") else (
                        f"magic %{what}" if what else "magic")
                    skipped.append(f"{label} via get_ipython() (line {no})")
            out.append(line)
    return "\n".join(out), skipped


def prepare_cell(cell: CodeCell) -> PreparedCell:
    notebook = cell.file.lower().endswith(".ipynb")
    src = cell.source.replace("\r\n", "\n").replace("\r", "\n")
    lines = src.split("\n")
    first = next((i for i, x in enumerate(lines) if x.strip()), None)
    if first is not None:
        m = _CELL_MAGIC.match(lines[first])
        if m:
            name = m.group(1)
            if name not in RUN_BODY:
                return PreparedCell(cell.file, cell.index, cell.line, "", False,
                                    (f"cell magic %%{name}: the cell was not executed",),
                                    notebook)
            lines[first] = f"# %%{name} (magic not executed; the cell's body runs)"
            src = "\n".join(lines)
    body, skipped = _magic_free(src)
    return PreparedCell(cell.file, cell.index, cell.line, body, True, tuple(skipped), notebook)


def prepare(cells: Sequence[CodeCell]) -> list[PreparedCell]:
    return [prepare_cell(c) for c in cells]


def judge_source(prepared: Sequence[PreparedCell]) -> str:
    """The student's code as run (all executed cells joined), for static checks."""
    return "\n\n".join(c.source for c in prepared if c.run)


def not_executed(prepared: Sequence[PreparedCell]) -> list[str]:
    out = []
    for c in prepared:
        for s in c.skipped:
            out.append(f"{c.file}, {c.where()}: {s}" if c.notebook else f"{c.file}: {s}")
    return out


def cell_filename(c: PreparedCell, n: int) -> str:
    stem = re.sub(r"[^A-Za-z0-9_]+", "_", Path(c.file).stem)[:40] or "code"
    return f"{n:03d}_{stem}_cell{c.index}.py"


# --------------------------------------------------------------------------- tracebacks
@dataclass(frozen=True)
class Located:
    text: str  # student-visible traceback
    file: str | None
    line: int | None


def student_traceback(exc: BaseException, files: dict[str, PreparedCell]) -> Located:
    """A traceback with the student's own frames only, named as their file/cell/line."""
    parts: list[str] = []
    last_file: str | None = None
    last_line: int | None = None
    for fr in traceback.extract_tb(exc.__traceback__):
        cell = files.get(fr.filename)
        if cell is None:
            continue
        lineno = fr.lineno or 0
        parts.append(f'  File "{cell.file}", {cell.where(lineno)}, in {fr.name}\n')
        if fr.line:
            parts.append(f"    {fr.line.strip()}\n")
        last_file, last_line = cell.file, cell.line + lineno - 1
    if isinstance(exc, SyntaxError) and exc.filename in files:
        cell = files[exc.filename]
        lineno = exc.lineno or 0
        parts.append(f'  File "{cell.file}", {cell.where(lineno)}\n')
        if exc.text:
            parts.append(f"    {exc.text.strip()}\n")
        last_file, last_line = cell.file, cell.line + lineno - 1
        msg = f"{type(exc).__name__}: {exc.msg}"
    else:
        msg = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    head = "Traceback (your code, most recent call last):\n" if parts else ""
    return Located(head + "".join(parts) + msg, last_file, last_line)


def exception_value(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return str(exc.msg)
    try:
        return str(exc)[:2000]
    except Exception:  # a student's __str__ may raise
        return f"<{type(exc).__name__}>"
