"""Reading a ``.py`` submission into chunks and code cells.

Cells: the whole file is one code cell, or one per cell marker when it has them:
``# %%`` (VS Code, Spyder, jupytext percent format, optionally ``# %% [markdown]``
and ``tags=["q3"]``) or ``# In[3]:`` (a notebook exported by nbconvert). A
``[markdown]`` cell is text (its ``# `` prefixes removed), never run. Code before the
first marker is a cell of its own. ``CodeCell.line`` is the line of the cell's first
source line in the file, so errors can point at the student's own line.

Answers: column-0 comment blocks and module-level string literals (a bare string,
a docstring) become text chunks; ``answer_3 = "..."`` (also triple-quoted) and a
module-level dict ``{"q3": "...", 4: "..."}`` name their question like a cell tag
(``Chunk.meta``). The code itself never joins an answer's text (``answer_text``
False) but is kept in the stream so that code-task definitions end an answer.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass, field

from grader.chunks import Chunk
from grader.models import CodeCell

_MARKER = re.compile(r"^#\s*%%(?P<rest>.*)$|^#\s*In\s*\[[\s\d]*\]\s*:?\s*$")
_ANSWER_NAME = re.compile(
    r"^(?:q|question|ans|answer|a)_?(?P<n>\d{1,3})(?:_?(?:answer|ans|text))?$", re.I)
_ANSWER_DICT = re.compile(r"^(?:answers?|written(?:_answers)?|responses?)$", re.I)
_SKIP_COMMENT = re.compile(
    r"^#!|^#\s*-\*-|^#\s*(?:type|noqa|pylint|pragma|fmt|isort|mypy|ruff|vim)\s*:|"
    r"^#\s*(?:-\*-\s*)?(?:en)?coding\s*[:=]", re.I)
_TAGS = re.compile(r"tags\s*=\s*\[([^\]]*)\]")
_QMETA = re.compile(r"\bquestion\s*=\s*[\"']?([\w-]+)")


@dataclass
class _Cell:
    start: int  # line number (1-based) of the first body line
    lines: list[str] = field(default_factory=list)
    markdown: bool = False
    tags: tuple[str, ...] = ()
    meta: str | None = None
    title: str = ""


def _split_cells(text: str) -> list[_Cell]:
    lines = text.splitlines()
    cells = [_Cell(start=1)]
    i = 0
    # jupytext YAML header: "# ---" ... "# ---" at the very top
    if lines and lines[0].strip() == "# ---":
        end = next((k for k in range(1, len(lines)) if lines[k].strip() == "# ---"), None)
        if end is not None:
            i = end + 1
            cells[0].start = i + 1
    for no in range(i, len(lines)):
        line = lines[no]
        m = _MARKER.match(line)
        if m:
            rest = m.group("rest") or ""
            tm = _TAGS.search(rest)
            tags = tuple(t.strip().strip("\"'") for t in tm.group(1).split(",")
                         if t.strip()) if tm else ()
            qm = _QMETA.search(rest)
            title = _TAGS.sub("", rest)
            title = _QMETA.sub("", title)
            markdown = bool(re.search(r"\[\s*(markdown|md)\s*\]", title, re.I))
            title = re.sub(r"\[[^\]]*\]", "", title).strip()
            cells.append(_Cell(no + 2, [], markdown, tags, qm.group(1) if qm else None, title))
        else:
            cells[-1].lines.append(line)
    if len(cells) > 1 and not any(x.strip() for x in cells[0].lines):
        cells.pop(0)
    return cells


def _uncomment(line: str) -> str:
    s = line.lstrip()
    if s.startswith("#"):
        s = s[1:]
        if s.startswith(" "):
            s = s[1:]
    return s


def _string_chunks(body: str) -> list[tuple[int, int, str, str | None]]:
    """(first line, last line, text, question) of module-level strings, 1-based."""
    try:
        tree = ast.parse(body)
    except (SyntaxError, ValueError):
        return []
    out: list[tuple[int, int, str, str | None]] = []
    for node in tree.body:
        end = getattr(node, "end_lineno", node.lineno) or node.lineno
        if (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)):
            out.append((node.lineno, end, node.value.value, None))
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            value = node.value
            if not names or value is None:
                continue
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                m = _ANSWER_NAME.match(names[0])
                if m:
                    out.append((node.lineno, end, value.value, m.group("n")))
            elif isinstance(value, ast.Dict) and _ANSWER_DICT.match(names[0]):
                for k, v in zip(value.keys, value.values, strict=False):
                    if (isinstance(k, ast.Constant) and isinstance(v, ast.Constant)
                            and isinstance(v.value, str)
                            and isinstance(k.value, (str, int))):
                        out.append((v.lineno, getattr(v, "end_lineno", v.lineno) or v.lineno,
                                    v.value, str(k.value)))
    return out


def _comment_lines(body: str, n_lines: int) -> set[int]:
    """1-based numbers of lines that hold only a column-0 comment."""
    found: set[int] = set()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(body).readline):
            if tok.type == tokenize.COMMENT and tok.start[1] == 0:
                found.add(tok.start[0])
    except (tokenize.TokenError, IndentationError, SyntaxError):
        lines = body.splitlines()
        found = {k + 1 for k in range(min(n_lines, len(lines))) if lines[k].startswith("#")}
    return found


def parse_py(text: str, file: str) -> tuple[list[Chunk], list[CodeCell]]:
    """Chunks (answers in comments/strings, code) and code cells of a .py file."""
    chunks: list[Chunk] = []
    code: list[CodeCell] = []
    for index, cell in enumerate(_split_cells(text)):
        if cell.title and re.search(r"\d", cell.title):
            chunks.append(Chunk("text", cell.title, file, index, max(cell.start - 1, 1),
                                cell.tags, cell.meta))
        body = "\n".join(cell.lines)
        if cell.markdown:
            md = "\n".join(_uncomment(x) for x in cell.lines)
            if md.strip():
                chunks.append(Chunk("text", md, file, index, cell.start, cell.tags, cell.meta))
            continue
        if not body.strip():
            continue
        code.append(CodeCell(source=body, file=file, index=index, line=cell.start))
        chunks.extend(_cell_chunks(cell, body, file, index))
    return chunks, code


def _cell_chunks(cell: _Cell, body: str, file: str, index: int) -> list[Chunk]:
    lines = cell.lines
    kind: list[str] = ["code"] * len(lines)  # per line: code / comment / string / skip
    strings = {first: (last, txt, q) for first, last, txt, q in _string_chunks(body)}
    for first, (last, _txt, _q) in strings.items():
        for k in range(first - 1, min(last, len(lines))):
            kind[k] = "string"
    for no in _comment_lines(body, len(lines)):
        if 0 < no <= len(lines) and kind[no - 1] == "code":
            kind[no - 1] = "skip" if _SKIP_COMMENT.match(lines[no - 1]) else "comment"
    out: list[Chunk] = []
    k = 0
    while k < len(lines):
        if kind[k] == "string" and (k + 1) in strings:
            last, txt, q = strings[k + 1]
            if txt.strip():
                out.append(Chunk("text", _dedent(txt), file, index, cell.start + k,
                                 cell.tags, q or cell.meta))
            k = max(last, k + 1)
            continue
        j = k
        while j < len(lines) and kind[j] == kind[k]:
            j += 1
        block = lines[k:j]
        if kind[k] == "comment":
            out.append(Chunk("text", "\n".join(_uncomment(x) for x in block), file, index,
                             cell.start + k, cell.tags, cell.meta))
        elif kind[k] == "code" and any(x.strip() for x in block):
            out.append(Chunk("code", "\n".join(block), file, index, cell.start + k,
                             cell.tags, cell.meta, answer_text=False))
        k = j
    return out


def _dedent(text: str) -> str:
    import inspect

    return inspect.cleandoc(text)
