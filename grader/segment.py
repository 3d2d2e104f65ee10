"""Splitting a submission file's text into the student's answer per written question.

The spec's rule: an answer belongs to the question the student's own label names
(cell tag, metadata, heading, number); where labels are missing, repeated or
contradict the content, the content decides. In that order:

1. **Tags and metadata.** Notebook cells tagged ``q3``/``answer-3``/``Question 3`` or
   with metadata ``{"question": "q3"}`` (also nbgrader's ``grade_id``), and ``.py``
   variables ``answer_3 = "..."``, are answers to that question (label ``tag`` or
   ``metadata``); an untagged code cell right after a tagged cell joins its answer.
   The remaining cells go through step 2 for questions no tag answered.
2. **Labels.** Every line that looks like a label (:mod:`grader.labels`: ``### Ans 3``,
   ``**3. ...**``, ``Q3:``, ``3)``, ``[Q3]``, ...) or like a copy of a question's
   prompt is a candidate start of an answer. A dynamic programme picks the chain
   of candidates, in increasing question order, that maximises: label strength +
   the candidate's text matching its question's prompt (a copied/paraphrased
   question) + consistency (same label style as the previous pick, next number) +
   how well the text up to the next pick fits the question (word profile of its
   prompt and rubric) - penalties for an empty answer, for another question's
   prompt inside it, and for a number already used in that style (the ``1. 2.``
   of a list *inside* an answer). So a numbered list inside an answer is not taken
   for questions 1 and 2: its items neither match the prompts, nor continue the
   numbering, nor leave the other answers' text in place.
3. **Content.** Strong labels the chain skipped are put back when their question has
   no answer; text with no label (before the first label, or a run of answers the
   student forgot to label) goes to the question it matches clearly better (label
   ``content``); two answers whose labels contradict their content (each matches
   the other's question clearly better) are swapped, with a note. A file with no
   labels at all is split into blocks assigned in order (``order``, when there are
   as many blocks as questions) or by content (``content``).

The text of an answer drops the copied prompt (the label line's question text and a
question repeated on its own line), keeps the student's words, code cells inside
the answer (as a fenced block) and their outputs, and stops at a code-task section
(``## Part B``, ``C1``, ``Exercise 12``, a cell defining a task's function) or at a
heading of the same or higher rank than the answer's own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from grader.assignment import Assignment
from grader.chunks import Chunk, fence_mask
from grader.labels import Label, comment_label, detect
from grader.models import Answer, LabelSource
from grader.segchain import Scorer, Span, build_scorer
from grader.textsim import QuestionIndex, tokens

ECHO_LINE = 0.55  # a question-like line this close to a prompt is the prompt copied
# A label's rest is the prompt copied (not the start of the answer) when it is this close
# to a prompt and a question (ends with "?") or a title (heading, bold), or when it holds
# PROMPT_ANY of the prompt's words.
PROMPT_QUESTION, PROMPT_TITLE, PROMPT_ANY = 0.25, 0.3, 0.8
CONTRADICT = 0.25  # a label's rest this much closer to another prompt names that question
_ANSWER_PREFIX = re.compile(r"^\s*(?:\*\*|__)?(?:answer|ans|a|solution|response)\s*[:.\-–]"
                            r"\s*(?:\*\*|__)?\s*", re.I)
_SOFT = re.compile(r"^\s{0,3}#{1,6}\s|^\s*(\*\*|__)[^*_].*(\*\*|__)\s*:?\s*$")
_ANSWER_HEADING = re.compile(
    r"^\s*(?:#{1,6}\s*)?(?:\*\*|__)?\s*(?:my\s+|the\s+)?(?:answers?|ans|solutions?|responses?|"
    r"explanations?|reply|discussion)\b", re.I)
_TAG = re.compile(
    r"^(?:q|qn|question|ans|answer|a|exercise|ex|problem)?[\s_\-.#]*0*(?P<n>\d{1,3})"
    r"(?:[\s_\-.]*(?:answer|ans|solution|response))?$", re.I)


@dataclass
class Line:
    text: str  # as written
    chunk: int  # index in the chunk list
    out: str  # what this line contributes to an answer's text ("" for nothing)
    toks: list[str] = field(default_factory=list)  # content words of ``out``
    label: Label | None = None
    qi: int = -1  # question index named by the label or echoed (-1: none)
    echo: float = 0.0  # how much the label's rest/this line copies question ``qi``'s prompt
    echo_top: float = 0.0  # ... copies the prompt it copies most (question ``echo_of``)
    echo_of: int = -1  # the line is a copy of this question's prompt (masked)
    hard: bool = False  # ends any answer (code-task section, task code)
    soft: int = 0  # heading level of a heading that is not a label
    kind: str = "text"  # the chunk's kind: text / code / output
    head: str | None = None  # what the line contributes when it starts an answer (its label's
    # rest, or "" when that is the prompt copied); None: same as ``out``


@dataclass
class Context:
    assignment: Assignment
    index: QuestionIndex
    task_names: tuple[str, ...]

    @property
    def numbers(self) -> dict[int, int]:
        return {q.number: i for i, q in enumerate(self.assignment.questions)}


def make_context(assignment: Assignment) -> Context:
    names = tuple(n for t in assignment.tasks for n in t.names)
    return Context(assignment, QuestionIndex(assignment.questions), names)


# ----------------------------------------------------------------------------- hints
def hint_question(value: str, ctx: Context) -> int | None:
    """The question index a tag/metadata value names (``q3``, ``answer-3``, ``3``)."""
    v = value.strip()
    for i, q in enumerate(ctx.assignment.questions):
        if v.lower() == q.id.lower():
            return i
    m = _TAG.match(v)
    if m:
        return ctx.numbers.get(int(m.group("n")))
    return None


def _chunk_hint(c: Chunk, ctx: Context) -> tuple[int, LabelSource] | None:
    if c.meta is not None:
        qi = hint_question(c.meta, ctx)
        if qi is not None:
            return qi, "metadata"
    for t in c.tags:
        qi = hint_question(t, ctx)
        if qi is not None:
            return qi, "tag"
    return None


def defines_task(code: str, names: Sequence[str]) -> bool:
    if not names:
        return False
    alt = "|".join(re.escape(n) for n in names)
    return re.search(rf"^\s*(?:async\s+)?(?:def|class)\s+(?:{alt})\b|^(?:{alt})\s*=",
                     code, re.M) is not None


# ----------------------------------------------------------------------------- lines
def build_lines(chunks: Sequence[Chunk], ctx: Context) -> list[Line]:
    numbers = frozenset(ctx.numbers)
    top = max(numbers, default=0)
    lines: list[Line] = []
    tasks, quiet = _code_parts(chunks, ctx)
    for ci, c in enumerate(chunks):
        raw = c.text.splitlines() or [""]
        if c.kind == "code":
            task = ci in tasks
            keep = c.answer_text and not task and ci not in quiet
            for k, text in enumerate(raw):
                ln = Line(text, ci, text if keep else "", tokens(text) if keep else [],
                          kind="code")
                if k == 0 and task:
                    ln.hard = True
                elif k == 0 and c.answer_text:
                    lab = comment_label(text, numbers, top)
                    if lab is not None and lab.boundary:
                        ln.hard = True
                    elif lab is not None and lab.number is not None:
                        ln.label, ln.qi = lab, ctx.numbers[lab.number]
                        ln.head = text if keep else ""
                lines.append(ln)
            continue
        if c.kind == "output":
            keep = ci not in tasks and ci not in quiet
            lines.extend(Line(t, ci, t if keep else "", tokens(t) if keep else [], kind="output")
                         for t in raw)
            continue
        fences = fence_mask(raw)
        for text, fenced in zip(raw, fences, strict=True):
            ln = Line(text, ci, text, tokens(text))
            if not fenced:
                lab = detect(text, numbers, top)
                if lab is not None and lab.boundary:
                    ln.hard = True
                elif lab is not None:
                    ln.label = lab
                elif _SOFT.match(text) and not _ANSWER_HEADING.match(text):
                    ln.soft = len(text.strip()) - len(text.strip().lstrip("#")) or 7
            lines.append(ln)
    _mark_echoes(lines, chunks, ctx)
    return lines


_SETUP = re.compile(r"^\s*(?:$|#|%|!|import\s|from\s+\S+\s+import\s)")


def _code_parts(chunks: Sequence[Chunk], ctx: Context) -> tuple[set[int], set[int]]:
    """Chunks of the code part, and code that is only set-up.

    The code part: code defining a task's names, with the code cells (and outputs) right
    before it and no text in between (its imports and helpers); it ends any answer. Set-up
    code (only imports, magics, comments) joins no answer's text but ends none.
    """
    tasks: set[int] = set()
    quiet: set[int] = set()
    for k, c in enumerate(chunks):
        if c.kind != "code":
            continue
        after = {k + 1} if k + 1 < len(chunks) and chunks[k + 1].kind == "output" else set()
        if all(_SETUP.match(x) for x in c.text.splitlines()):
            quiet |= {k, *after}
        if defines_task(c.text, ctx.task_names):
            j = k
            while j >= 0 and chunks[j].kind != "text":
                tasks.add(j)
                j -= 1
            tasks |= after
    return tasks, quiet


def _question_like(text: str) -> bool:
    s = text.strip().rstrip("*_ ")
    return s.endswith("?") or s.startswith(("#", "**", "__"))


def _mark_echoes(lines: list[Line], chunks: Sequence[Chunk], ctx: Context) -> None:
    idx = ctx.index
    numbers = ctx.numbers
    for k, ln in enumerate(lines):
        if ln.kind != "text":
            continue
        lab = ln.label
        if lab is not None and lab.number is not None:
            ln.qi = numbers[lab.number]
            rest = lab.rest
            echo = idx.echo(rest) if len(tokens(rest)) >= 2 else None
            if echo is None:  # "Question 3" alone: the prompt may follow on the next line
                nxt = _next_text(lines, chunks, k)
                echo = idx.echo(lines[nxt].text) if nxt is not None else np.zeros(1)
                own = float(echo[ln.qi]) if len(echo) > ln.qi else 0.0
                ln.echo = own if own >= ECHO_LINE else 0.0
                ln.head = rest
            else:
                wrapped = _wrapped(lines, k, rest)
                if wrapped:
                    rest = " ".join([rest, *(lines[j].text.strip() for j in wrapped)])
                    echo = idx.echo(rest)
                ln.echo = float(echo[ln.qi])
                best = int(np.argmax(echo))
                top = float(echo[best])
                prec, cov = idx.echo_pc(rest)
                is_prompt = ((rest.rstrip("*_ :").endswith("?") and top >= PROMPT_QUESTION)
                             or (lab.question_like and top >= PROMPT_TITLE)
                             or (prec[best] >= 0.6 and cov[best] >= PROMPT_ANY))
                ln.head = "" if is_prompt else lab.rest
                # masked wherever it is (not only when it opens the answer): a sure copy
                copied = is_prompt and (
                    (top >= ECHO_LINE and (lab.question_like or rest.rstrip("*_ :").endswith("?")))
                    or (prec[best] >= 0.6 and cov[best] >= PROMPT_ANY))
                if copied:
                    ln.out, ln.toks = "", []
                    for j in wrapped:
                        lines[j].out, lines[j].toks, lines[j].echo_of = "", [], ln.qi
                    _mask_continuation(lines, chunks, k, ln.qi, ctx)
                if is_prompt:
                    clear = top >= ECHO_LINE and top >= ln.echo + CONTRADICT
                    ln.echo_of = best if clear else ln.qi
                    ln.echo_top = top if clear else ln.echo
            continue
        if ln.echo_of >= 0 or not _question_like(ln.text) or len(ln.toks) < 3:
            continue
        echo = idx.echo(ln.text)
        best = int(np.argmax(echo))
        if echo[best] >= ECHO_LINE:
            ln.echo_of, ln.qi, ln.echo = best, best, float(echo[best])
            ln.out, ln.toks = "", []
            _mask_continuation(lines, chunks, k, best, ctx)


def _wrapped(lines: list[Line], k: int, rest: str) -> list[int]:
    """Lines continuing a label's text cut mid-sentence (a prompt wrapped over lines)."""
    out: list[int] = []
    if not rest or re.search(r"[?.!:*_]\s*$", rest):
        return out
    for j in range(k + 1, min(k + 3, len(lines))):
        ln = lines[j]
        if (ln.chunk != lines[k].chunk or ln.kind != "text" or not ln.text.strip()
                or ln.label is not None or ln.hard or ln.soft):
            break
        out.append(j)
        if re.search(r"[?.!:*_]\s*$", ln.text):
            return out
    return []


def _next_text(lines: list[Line], chunks: Sequence[Chunk], k: int) -> int | None:
    for j in range(k + 1, min(k + 4, len(lines))):
        if chunks[lines[j].chunk].kind != "text":
            return None
        if lines[j].text.strip():
            return j
    return None


def _mask_continuation(lines: list[Line], chunks: Sequence[Chunk], k: int, qi: int,
                       ctx: Context) -> None:
    """The prompt copied over several lines: mask the next lines made of its words."""
    words = ctx.index.prompt_words(qi)
    if re.search(r"[?.!:*_]\s*$", lines[k].text):
        return  # the copied prompt ends on its line
    for j in range(k + 1, min(k + 4, len(lines))):
        ln = lines[j]
        if ln.chunk != lines[k].chunk or not ln.text.strip() or ln.label is not None:
            return
        toks = tokens(ln.text)
        if not toks or sum(t in words for t in toks) / len(toks) < 0.6:
            return
        ln.out, ln.toks, ln.echo_of = "", [], qi
        if re.search(r"[?.!:*_]\s*$", ln.text):
            return


# ----------------------------------------------------------------------------- answers
def answers_from_spans(spans: Sequence[Span], lines: Sequence[Line], chunks: Sequence[Chunk],
                       ctx: Context) -> list[Answer]:
    out: list[Answer] = []
    for sp in spans:
        text, cells = render(lines[sp.start:sp.end], chunks)
        if not text:
            continue
        q = ctx.assignment.questions[sp.qi]
        out.append(Answer(question_id=q.id, text=text, file=chunks[lines[sp.start].chunk].file,
                          cells=cells, label=sp.label, note=sp.note))
    return out


def render(lines: Sequence[Line], chunks: Sequence[Chunk], *,
           starts: bool = True) -> tuple[str, tuple[int, ...]]:
    """The answer text of some lines (prompt copies dropped, code fenced) and its cells.

    ``starts``: the first line opens the answer (its label is dropped, keeping the rest).
    """
    if starts and lines and lines[0].head is not None:
        first_line = lines[0]
        lines = [Line(first_line.text, first_line.chunk, first_line.head or "",
                      kind=first_line.kind), *lines[1:]]
    parts: list[str] = []
    cells: list[int] = []
    seen: set[int] = set()
    k = 0
    first = True
    while k < len(lines):
        ci = lines[k].chunk
        j = k
        while j < len(lines) and lines[j].chunk == ci:
            j += 1
        body = [ln.out for ln in lines[k:j] if ln.out is not None]
        chunk = chunks[ci]
        kept = [b for b in body if b.strip()]
        if kept:
            if first:
                body = _strip_answer_prefix(body)
            block = "\n".join(body).strip("\n")
            if chunk.kind == "code":
                block = f"```python\n{block}\n```"
            if block.strip():
                parts.append(block)
                first = False
                if chunk.cell not in seen:
                    seen.add(chunk.cell)
                    cells.append(chunk.cell)
        k = j
    text = "\n\n".join(parts)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return text, tuple(cells)


def _strip_answer_prefix(body: list[str]) -> list[str]:
    for k, b in enumerate(body):
        if b.strip():
            body = list(body)
            body[k] = _ANSWER_PREFIX.sub("", b, count=1)
            break
    return body


def _retag_repeated(chunks: Sequence[Chunk], tagged: dict[int, list[int]],
                    source: dict[int, LabelSource], ctx: Context) -> dict[int, str]:
    """A tag repeated on cells of which one clearly answers an untagged question (a cell
    copied with its tag): that cell, with the code after it, goes to that question."""
    notes: dict[int, str] = {}
    for qi in list(tagged):
        ks = tagged[qi]
        heads = [k for k in ks if chunks[k].kind == "text"]
        for k in heads[1:]:
            sims = ctx.index.sims(chunks[k].text)
            j = int(np.argmax(sims))
            if j in tagged or j == qi or sims[j] - sims[qi] < 0.1 or sims[j] < 0.2:
                continue
            moved = [k] + [x for x in ks if x > k and chunks[x].kind != "text"
                           and all(chunks[y].kind != "text" for y in ks if k < y < x)]
            tagged[qi] = [x for x in tagged[qi] if x not in moved]
            tagged[j] = moved
            source[j] = "content"
            qn, jn = ctx.assignment.questions[qi].number, ctx.assignment.questions[j].number
            notes[j] = (f"tagged for question {qn} like another cell, but its content answers "
                        f"question {jn}")
    return notes


# ----------------------------------------------------------------------------- file level
def segment_chunks(chunks: Sequence[Chunk], ctx: Context, *,
                   unlabelled: str = "order") -> list[Answer]:
    """The answers in one file's chunks: tags/metadata first, then labels and content."""
    tagged: dict[int, list[int]] = {}
    source: dict[int, LabelSource] = {}
    owner: list[int | None] = [None] * len(chunks)
    for k, c in enumerate(chunks):
        hint = _chunk_hint(c, ctx)
        if hint is not None:
            owner[k] = hint[0]
            source.setdefault(hint[0], hint[1])
        elif (k > 0 and owner[k - 1] is not None and c.kind in ("code", "output")
              and chunks[k - 1].kind in ("text", "code", "output")
              and not defines_task(c.text, ctx.task_names)):
            owner[k] = owner[k - 1]
        if owner[k] is not None:
            tagged.setdefault(owner[k], []).append(k)  # type: ignore[arg-type]
    notes = _retag_repeated(chunks, tagged, source, ctx)
    answers: list[Answer] = []
    for qi, ks in sorted(tagged.items()):
        sub = [chunks[k] for k in ks]
        lines = build_lines(sub, ctx)
        for ln in lines:  # a tagged cell's own label is not part of the answer
            if ln.label is not None and ctx.numbers.get(ln.label.number or -1) == qi:
                ln.out = ln.head or ""
        text, cells = render(lines, sub, starts=False)
        if text:
            q = ctx.assignment.questions[qi]
            answers.append(Answer(q.id, text, sub[0].file, cells, source[qi], notes.get(qi, "")))
    rest = [c for k, c in enumerate(chunks) if owner[k] is None]
    if rest:
        lines = build_lines(rest, ctx)
        scorer = build_scorer(lines, ctx)
        spans = scorer.best_chain()
        if spans:
            spans = scorer.repair(spans)
        elif unlabelled != "off" and not tagged:
            spans = scorer.unlabelled(strict=unlabelled == "strict")
        done = {a.question_id for a in answers}
        spans = [s for s in spans if ctx.assignment.questions[s.qi].id not in done]
        answers += answers_from_spans(spans, lines, rest, ctx)
    order = {q.id: i for i, q in enumerate(ctx.assignment.questions)}
    answers.sort(key=lambda a: order[a.question_id])
    return answers


__all__ = ["Context", "Line", "Scorer", "Span", "make_context", "segment_chunks"]
