"""The common shape every submission format is read into before segmentation.

A file becomes a list of :class:`Chunk` in document order: text the student wrote
(markdown cells, paragraphs of a ``.md``/``.txt`` file, comment blocks and string
literals of a ``.py`` file), code (notebook code cells, the code of a ``.py`` file)
and the outputs a notebook saved under its code cells. :mod:`grader.segment` then
splits that stream into answers per question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

ChunkKind = Literal["text", "code", "output"]

_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")


@dataclass(frozen=True)
class Chunk:
    kind: ChunkKind
    text: str
    file: str  # SourceFile.path
    cell: int  # cell index (notebook, ``# %%`` cell) or block index (.md/.txt) in the file
    line: int = 1  # first line of the chunk inside the file (1-based; cell-relative in notebooks)
    tags: tuple[str, ...] = ()  # notebook cell tags / ``# %% tags=[...]``
    meta: str | None = None  # a question named by metadata ({"question": "q3"}, ``answer_3 = ...``)
    answer_text: bool = True  # False: code that never joins an answer's text (.py code)


def split_text(text: str, file: str) -> list[Chunk]:
    """A ``.md``/``.txt`` file as blocks separated by blank lines (fenced code kept whole)."""
    chunks: list[Chunk] = []
    block: list[str] = []
    start = 1
    fence: str | None = None

    def flush() -> None:
        if any(x.strip() for x in block):
            chunks.append(Chunk("text", "\n".join(block), file, len(chunks), start))
        block.clear()

    for no, line in enumerate(text.splitlines(), start=1):
        m = _FENCE.match(line)
        if fence is None and not line.strip():
            flush()
            continue
        if not block:
            start = no
        block.append(line)
        if m:
            mark = m.group(1)
            if fence is None:
                fence = mark[0] * 3
            elif mark.startswith(fence):
                fence = None
    flush()
    return chunks


def fence_mask(lines: list[str]) -> list[bool]:
    """True for lines that are inside a fenced code block or are its fence lines."""
    out: list[bool] = []
    fence: str | None = None
    for line in lines:
        m = _FENCE.match(line)
        if fence is None:
            if m:
                fence = m.group(1)[0] * 3
                out.append(True)
            else:
                out.append(False)
        else:
            out.append(True)
            if m and m.group(1).startswith(fence):
                fence = None
    return out
