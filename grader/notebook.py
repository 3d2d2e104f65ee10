"""Reading a Jupyter notebook (``.ipynb``) into chunks and code cells.

nbformat reads the JSON (any v4 minor; v3 is converted to v4). A notebook that fails
schema validation but whose JSON is readable is still read, leniently, with a note.
JSON that is not a notebook at all, or not JSON, is an :class:`IngestError`.

Notebook code cells become :class:`CodeCell` objects in run order, with their raw
source (magics included: the sandbox decides what to execute); their index is the
cell's position in the notebook (0-based) and ``line`` is 1, the cell's first line.
Markdown and raw cells become text chunks; a code cell's saved outputs become an
output chunk right after it (they count as answer text for written questions: a
student answering "do both give the same result?" may just show the two outputs).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from typing import Any

from grader.chunks import Chunk
from grader.errors import IngestError
from grader.models import CodeCell

MAX_OUTPUT_CHARS = 4000  # per cell; longer outputs (training logs) are cut for answer text
_META_KEYS = ("question", "question_id", "qid", "answer", "answer_to", "exercise")


def _text(value: Any) -> str:
    if isinstance(value, list):
        return "".join(str(v) for v in value)
    if value is None:
        return ""
    return str(value)


def _outputs_text(outputs: Any) -> str:
    parts: list[str] = []
    if not isinstance(outputs, list):
        return ""
    for out in outputs:
        if not isinstance(out, Mapping):
            continue
        otype = out.get("output_type")
        if otype == "stream":
            parts.append(_text(out.get("text")))
        elif otype in ("execute_result", "display_data", "pyout"):
            data = out.get("data") if isinstance(out.get("data"), Mapping) else out
            for key in ("text/plain", "text/markdown", "text"):
                if isinstance(data, Mapping) and key in data:
                    parts.append(_text(data[key]))
                    break
        elif otype in ("error", "pyerr"):
            parts.append(f"{_text(out.get('ename'))}: {_text(out.get('evalue'))}")
    text = "\n".join(p.rstrip("\n") for p in parts if p.strip())
    if len(text) > MAX_OUTPUT_CHARS:
        text = text[:MAX_OUTPUT_CHARS] + "\n[... output cut ...]"
    return text


def _meta_hint(meta: Any) -> str | None:
    if not isinstance(meta, Mapping):
        return None
    for key in _META_KEYS:
        value = meta.get(key)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    nbg = meta.get("nbgrader")
    if isinstance(nbg, Mapping) and isinstance(nbg.get("grade_id"), str):
        return str(nbg["grade_id"])
    return None


def _first_line(message: str, limit: int = 200) -> str:
    line = next((x.strip() for x in message.splitlines() if x.strip()), message.strip())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _load(text: str) -> tuple[Mapping[str, Any], list[str]]:
    """The notebook as a mapping (nbformat v4 when it could convert it) and notes."""
    try:
        raw = json.loads(text)
    except RecursionError as exc:
        raise IngestError("is JSON nested too deeply to be a notebook",
                          fix="hand in the notebook file itself (File > Save, then upload)"
                          ) from exc
    except ValueError as exc:
        where = (f" (line {exc.lineno}, column {exc.colno}: {exc.msg})"
                 if isinstance(exc, json.JSONDecodeError) else "")
        raise IngestError(
            f"is not valid JSON{where}, so it cannot be read as a notebook",
            fix="open it in Jupyter and save it again (File > Save), or hand in a .py/.md export; "
                "a notebook edited in a text editor or cut off by an upload breaks this way",
        ) from exc
    if not isinstance(raw, dict) or not ("cells" in raw or "worksheets" in raw):
        raise IngestError(
            "is JSON but not a Jupyter notebook (no 'cells')",
            fix="hand in the notebook file itself (File > Download as > Notebook .ipynb)",
        )
    notes: list[str] = []
    import nbformat  # local: only notebooks need it

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            nb: Mapping[str, Any] = nbformat.convert(  # type: ignore[no-untyped-call]
                nbformat.reader.reads(text), 4)  # type: ignore[no-untyped-call]
        except Exception as exc:  # nbformat raises many types on malformed input
            notes.append(f"does not validate as a notebook ({_first_line(str(exc))}); it was "
                         "read anyway")
            return raw, notes
        try:
            nbformat.validate(nb)
        except nbformat.ValidationError as err:
            msg = _first_line(getattr(err, "message", None) or str(err))
            notes.append(f"does not validate as nbformat {raw.get('nbformat', '?')}."
                         f"{raw.get('nbformat_minor', '?')} ({msg}); it was read anyway")
        except Exception as err:  # a schema nbformat does not know (a future minor)
            notes.append(f"could not be validated ({_first_line(str(err))}); it was read "
                         "anyway")
    return nb, notes


def _cells(nb: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    cells = nb.get("cells")
    if cells is None and isinstance(nb.get("worksheets"), list):  # v3, unconverted
        cells = [c for ws in nb["worksheets"] if isinstance(ws, Mapping)
                 for c in (ws.get("cells") or [])]
    return [c for c in (cells or []) if isinstance(c, Mapping)]


def parse_notebook(text: str, file: str) -> tuple[list[Chunk], list[CodeCell], list[str]]:
    """Chunks, code cells and notes of a notebook; raises IngestError when unreadable."""
    nb, notes = _load(text)
    chunks: list[Chunk] = []
    code: list[CodeCell] = []
    for index, cell in enumerate(_cells(nb)):
        ctype = cell.get("cell_type")
        meta = cell.get("metadata") if isinstance(cell.get("metadata"), Mapping) else {}
        raw_tags = meta.get("tags") if isinstance(meta, Mapping) else None
        tags = tuple(str(t) for t in raw_tags) if isinstance(raw_tags, list) else ()
        hint = _meta_hint(meta)
        if ctype == "code":
            source = _text(cell.get("source", cell.get("input")))
            if source.strip():
                code.append(CodeCell(source=source, file=file, index=index, line=1))
                chunks.append(Chunk("code", source, file, index, 1, tags, hint))
            outputs = _outputs_text(cell.get("outputs"))
            if outputs:
                chunks.append(Chunk("output", outputs, file, index, 1, tags, hint))
        elif ctype in ("markdown", "raw", "heading"):
            source = _text(cell.get("source"))
            if ctype == "heading":  # nbformat 3
                level = cell.get("level", 1)
                source = "#" * (level if isinstance(level, int) else 1) + " " + source
            if source.strip():
                chunks.append(Chunk("text", source, file, index, 1, tags, hint))
        else:
            notes.append(f"cell {index} has an unknown type {ctype!r}; it was skipped")
    return chunks, code, notes
