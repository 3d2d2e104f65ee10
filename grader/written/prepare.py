"""One submission's answers made ready to score: keyword stuffing and bare pointers removed.

Both rules need the whole submission: a line of keywords pasted into several answers
states nothing (it is found by comparing the answers with each other), and neither does a
sentence that only points elsewhere ("see above", "same as Q5", "refer to Chapter 12").
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from grader.models import Submission
from grader.written.lexical import STOP, Sentence, is_pointer, split_sentences, tokenize

MIN_STUFF_ANSWERS = 3  # a line found in this many answers is stuffing, whatever it says
MIN_KEYWORD_ANSWERS = 2  # ... or in this many, when it is a bare list of keywords


@dataclass(frozen=True)
class Prepared:
    """One answer, ready to score."""

    question_id: str
    text: str  # what remains after removals
    sentences: tuple[Sentence, ...]
    stuffed: tuple[str, ...] = ()  # lines removed as stuffing
    pointers: tuple[str, ...] = ()  # sentences removed as bare pointers

    @property
    def empty(self) -> bool:
        return not self.sentences

    def why_empty(self) -> str:
        if self.pointers and not self.stuffed:
            return (f"the answer only points elsewhere ({self.pointers[0][:80]!r}); "
                    "a pointer to another answer states nothing")
        if self.stuffed:
            return ("the answer only repeats a line of keywords pasted into several answers, "
                    "which states nothing")
        return "the answer is empty"


def _key(line: str) -> str:
    return " ".join(sorted(set(re.findall(r"[a-z0-9_]+", line.lower()))))


def _keywordy(line: str) -> bool:
    words = re.findall(r"[a-z0-9_]+", line.lower())
    if len(words) < 5:
        return False
    return sum(w in STOP for w in words) / len(words) < 0.15


def stuffed_lines(answers: Iterable[tuple[str, str]]) -> set[str]:
    """Keys of the lines that are pasted into several answers (see module docstring)."""
    where: dict[str, set[str]] = defaultdict(set)
    keyword: dict[str, bool] = {}
    for qid, text in answers:
        for line in text.splitlines():
            k = _key(line)
            if len(k.split()) < 4:
                continue
            where[k].add(qid)
            keyword[k] = keyword.get(k, False) or _keywordy(line)
    return {k for k, qs in where.items()
            if len(qs) >= MIN_STUFF_ANSWERS or (len(qs) >= MIN_KEYWORD_ANSWERS and keyword[k])}


def prepare_answer(qid: str, text: str, stuffed: set[str]) -> Prepared:
    kept_lines, removed = [], []
    for line in text.splitlines():
        if _key(line) in stuffed:
            removed.append(line.strip())
        else:
            kept_lines.append(line)
    sentences, pointers = [], []
    for s in split_sentences("\n".join(kept_lines)):
        if is_pointer(s):
            pointers.append(s)
            continue
        t = tokenize(s)
        if t.tokens:
            sentences.append(t)
    return Prepared(question_id=qid, text=" ".join(s.text for s in sentences),
                    sentences=tuple(sentences), stuffed=tuple(removed),
                    pointers=tuple(pointers))


def prepare(submission: Submission) -> dict[str, Prepared]:
    """Every answer of ``submission`` by question id (the first answer if one repeats)."""
    answers = [(a.question_id, a.text) for a in submission.answers]
    stuffed = stuffed_lines(answers)
    out: dict[str, Prepared] = {}
    for qid, text in answers:
        if qid not in out:
            out[qid] = prepare_answer(qid, text, stuffed)
    return out
