"""Text handling for written answers: sentences, tokens, clauses, cues, and wording patterns.

A *wording* is how an instructor writes one way of stating an idea (see
:mod:`grader.written.hints` for the syntax). It is compiled into a :class:`Pattern` and
matched against the tokens of one sentence at a time. A match records whether it is
*negated* ("is not", "isn't", "doesn't" before it in the same clause) or *hedged*
("maybe", "perhaps", a question mark), so that the scorer can refuse it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

STOP = frozenset(
    """
a about above after again all also am an and any are as at be because been before being
below between both but by can could did do does doing down during each either else etc
few for from further had has have having he her here hers him his how i if in into is it
its itself just let like may me might more most much must my nor now of off on once only
or other our out over own same she should so some such than that the their them then there
these they this those through to too under until up us very was we were what when where
whether which while who whom why will with would you your
""".split()  # noqa: SIM905
)
_NEG_WORDS = ("not", "no", "never", "neither", "nor", "none", "nothing", "nobody")
_HEDGE_WORDS = ("maybe", "perhaps", "possibly", "probably", "might", "unsure", "guess")
_CLAUSE_WORDS = frozenset({"but", "while", "whereas", "however", "although", "though",
                           "whilst", "where", "yet"})
_TOKEN = re.compile(r"[a-z0-9_]+|[,;:()?]")
_CONTRACTIONS = (
    (re.compile(r"\bcan['’]?t\b|\bcannot\b"), "can not"),
    (re.compile(r"\bwon['’]t\b"), "will not"),
    (re.compile(r"\b(\w+)n['’]t\b"), r"\1 not"),
)
_SENT_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9`*\"'(\[-])|\n+")
_POINTER = re.compile(
    r"^\W*(please\s+)?(refer\s+(to|back)|see\b|cf\b|same\s+(as|answer)|look\s+at|check\s+(my|the)"
    r"|as\s+(explained|stated|mentioned|answered|described|discussed|said|written|shown)\b)",
)
_POINTER_TARGET = re.compile(
    r"\b(chapter|section|question|answer|q\s?\d+|above|below|earlier|previous|textbook|book"
    r"|page|notes?)\b"
)


def stem(w: str) -> str:
    """Crude plural stripping, applied alike to answers and to wordings."""
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 4 and w.endswith("sses"):
        return w[:-2]
    if len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        return w[:-1]
    return w


NEGATIONS = frozenset(stem(w) for w in _NEG_WORDS)  # as tokens appear (stemmed)
HEDGES = frozenset(stem(w) for w in _HEDGE_WORDS)


def normalize(text: str) -> str:
    """Lower-case, expand negative contractions ("isn't" -> "is not")."""
    t = text.lower()
    for rx, repl in _CONTRACTIONS:
        t = rx.sub(repl, t)
    return t


@dataclass(frozen=True)
class Sentence:
    """One sentence (or list line) of an answer, tokenized."""

    text: str  # as the student wrote it
    tokens: tuple[str, ...]  # stemmed word tokens
    clause: tuple[int, ...]  # clause number of each token
    asked: frozenset[int]  # clauses that end with a question mark

    @property
    def content(self) -> list[str]:
        return [t for t in self.tokens if t not in STOP]


def tokenize(text: str) -> Sentence:
    toks: list[str] = []
    clause: list[int] = []
    asked: set[int] = set()
    c = 0
    for t in _TOKEN.findall(normalize(text)):
        if t in ",;:()":
            c += 1
        elif t == "?":
            asked.add(c)
            c += 1
        else:
            if t in _CLAUSE_WORDS and toks:  # raw word, before stemming
                c += 1
            toks.append(stem(t))
            clause.append(c)
    return Sentence(text=text.strip(), tokens=tuple(toks), clause=tuple(clause),
                    asked=frozenset(asked))


def split_sentences(text: str) -> list[str]:
    """Sentences and list lines of ``text`` (markdown markers removed)."""
    out: list[str] = []
    for part in _SENT_END.split(text):
        s = re.sub(r"^\s*(?:[-*+>#]+|\d+[.)])\s*", "", part).strip()
        s = s.replace("**", "").strip()
        if re.search(r"[A-Za-z0-9]", s):
            out.append(s)
    return out


def is_pointer(sentence: str) -> bool:
    """A bare pointer to another answer ("see above", "refer to Chapter 12")."""
    low = sentence.lower().strip()
    if not _POINTER.match(low):
        return False
    words = re.findall(r"[a-z0-9]+", low)
    return len(words) <= 8 or bool(_POINTER_TARGET.search(low))


# --------------------------------------------------------------------------- patterns
@dataclass(frozen=True)
class Slot:
    words: frozenset[str]  # exact stems
    prefixes: tuple[str, ...]  # "word*" alternatives
    gap: int  # tokens allowed between the previous slot and this one (-1: any)

    def accepts(self, tok: str) -> bool:
        return tok in self.words or any(tok.startswith(p) for p in self.prefixes)


@dataclass(frozen=True)
class Pattern:
    source: str
    slots: tuple[Slot, ...]
    regex: re.Pattern[str] | None = None
    negative: bool = False  # the wording itself contains a negation: match it literally


@dataclass(frozen=True)
class Match:
    sentence: Sentence
    start: int
    end: int  # exclusive token index
    negated: bool
    hedged: bool


DEFAULT_GAP = 2


@lru_cache(maxsize=4096)
def compile_wording(wording: str) -> Pattern:
    """Compile one wording. Raises ValueError with a message when it is malformed."""
    w = wording.strip()
    if not w:
        raise ValueError("empty wording")
    if w.startswith("re:"):
        try:
            rx = re.compile(w[3:].strip(), re.IGNORECASE)
        except re.error as exc:
            raise ValueError(f"bad regular expression {w[3:]!r}: {exc}") from exc
        return Pattern(source=w, slots=(), regex=rx)
    slots: list[Slot] = []
    gap = DEFAULT_GAP
    negative = False
    for raw in normalize(w).split():
        if raw in ("...", "…"):
            gap = -1
            continue
        alts = [a for a in raw.split("|") if a]
        words: set[str] = set()
        prefixes: list[str] = []
        for a in alts:
            star = a.endswith("*")
            parts = re.findall(r"[a-z0-9_]+", a)
            if not parts:
                continue
            if len(parts) > 1 and len(alts) > 1:
                raise ValueError(f"in {wording!r}: the choice {raw!r} holds {a!r}, which is "
                                 "not one word; write it as a wording of its own")
            if len(parts) > 1:  # "tf.range" -> two adjacent slots
                for i, p in enumerate(parts):
                    slots.append(Slot(frozenset({stem(p)}), (), gap if i == 0 else 0))
                    gap = DEFAULT_GAP
                words = set()
                break
            tok = "_".join(parts) if len(parts) > 1 else parts[0]
            if star:
                prefixes.append(tok)
            else:
                words.add(stem(tok))
            if tok in _NEG_WORDS:
                negative = True
        else:
            if words or prefixes:
                slots.append(Slot(frozenset(words), tuple(prefixes), gap))
                gap = DEFAULT_GAP
    if not slots:
        raise ValueError(f"wording {wording!r} has no words")
    return Pattern(source=w, slots=tuple(slots), negative=negative)


def _negated(s: Sentence, start: int, end: int) -> bool:
    c = s.clause[start]
    lo = start
    while lo > 0 and s.clause[lo - 1] == c and start - lo < 5:
        lo -= 1
    window = s.tokens[lo:end]
    for i, t in enumerate(window):
        if t in NEGATIONS:
            nxt = window[i + 1] if i + 1 < len(window) else ""
            if t == "not" and nxt in ("only", "just"):
                continue
            return True
    return False


def _hedged(s: Sentence, start: int) -> bool:
    c = s.clause[start]
    if c in s.asked:
        return True
    lo = start
    while lo > 0 and s.clause[lo - 1] == c:
        lo -= 1
    window = s.tokens[max(lo, start - 4):start]
    if any(t in HEDGES for t in window):
        return True
    return "not" in window and "sure" in window


def _match_from(slots: tuple[Slot, ...], s: Sentence, i: int, k: int) -> int:
    """End index of slots[k:] matched with slot k at position i, or -1. Words written
    next to each other must be in one clause; ``...`` may cross clauses."""
    toks = s.tokens
    if not slots[k].accepts(toks[i]):
        return -1
    if k + 1 == len(slots):
        return i + 1
    nxt = slots[k + 1]
    hi = len(toks) if nxt.gap < 0 else min(len(toks), i + 2 + nxt.gap)
    for j in range(i + 1, hi):
        if nxt.gap >= 0 and s.clause[j] != s.clause[i]:
            break
        e = _match_from(slots, s, j, k + 1)
        if e >= 0:
            return e
    return -1


def find(pattern: Pattern, s: Sentence) -> list[Match]:
    """All (leftmost, shortest-first) matches of ``pattern`` in sentence ``s``."""
    out: list[Match] = []
    if pattern.regex is not None:
        if pattern.regex.search(s.text):
            return [Match(s, 0, len(s.tokens), False, False)]
        return out
    toks = s.tokens
    for i in range(len(toks)):
        e = _match_from(pattern.slots, s, i, 0)
        if e < 0:
            continue
        neg = False if pattern.negative else _negated(s, i, e)
        out.append(Match(s, i, e, neg, _hedged(s, i)))
    return out
