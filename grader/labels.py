"""Recognising the labels students put in front of their answers.

A label is a line that names a question: a markdown heading (``### Ans 3``,
``## Question 3``, ``# 3.``), bold text (``**3. Do you get ...?**``, ``**Q3:**``), a
prefix word (``Q3:``, ``Question 3``, ``Answer 3:``, ``Exercise 3``, ``A3.``), a
bracket (``[Q3]``, ``(3)``), a bare number (``3.``, ``3)``, ``3 -``, ``3:``), a roman
numeral (``III.``, ``Question iv``) or a sub-part (``3a)``, ``Q3.1``) of a question.
:func:`detect` returns what the line says, how strongly it looks like a label
(``weight``), a ``signature`` (students label all their answers the same way, so
labels sharing one are consistent with each other) and the ``rest`` of the line
(often the prompt copied, sometimes the start of the answer).

Lines naming something that is not a written question (``## Part B``, ``C1``,
``Exercise 12`` when there are 11 questions, ``## Coding``) are ``boundary``
labels: they end the written answer before them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ROMAN = {"i": 1, "v": 5, "x": 10, "l": 50}
_HEADING = re.compile(r"^(#{1,6})\s*(.*?)\s*#*\s*$")
_PREFIX = re.compile(
    r"^(?P<p>questions?|ques|qn|qs|q|answers?|ans|a|exercises?|exer|ex|problems?|prob|"
    r"task|part)"
    r"(?P<gap>\s*(?:no\.?|nr\.?|number|#|-|\.|\s)?\s*)"
    r"(?P<n>\d{1,3}|[ivxl]{1,6})"
    r"(?P<sub>[a-z](?![a-z0-9])|\.\d+|\s*\([a-z0-9]\))?"
    r"(?=$|[\s.:)\]\-–—,;*_/|?])(?P<after>.*)$",
    re.I,
)
_BRACKET = re.compile(
    r"^[\[(]\s*(?P<q>q|question|ans|a)?\s*\.?\s*(?P<n>\d{1,3})\s*[\])](?P<after>.*)$", re.I)
_BARE = re.compile(
    r"^(?P<n>\d{1,3})(?:(?P<sub>\.\d+)\.?|(?P<letter>[a-z])?(?P<punct>\.|\)|:|\s+[-–—:]))"
    r"(?=\s|$|\*|_)(?P<after>.*)$"
)
_ROMAN_BARE = re.compile(r"^(?P<n>[IVX]{1,5}|[ivx]{1,5})(?P<punct>[.)])(?=\s)(?P<after>.*)$")
_CODE_PART = re.compile(
    r"^(?:part\s*(?:b|2|ii|two)\b|coding\b|programming\b|code\s+(?:tasks?|part|section|"
    r"exercises?|questions?)\b|(?:code\s+|coding\s+)?tasks?\s*[-#:.]?\s*c?\d+\b|"
    r"c\s*\d{1,2}\b(?![.,]\d))",
    re.I,
)


@dataclass(frozen=True)
class Label:
    number: int | None  # the question number named; None for a boundary
    kind: str  # heading / bold / prefix / bracket / bare / roman / comment
    weight: float
    signature: tuple[object, ...]
    rest: str  # text after the label on the same line
    level: int  # markdown heading level 1-6, 7 for a wholly bold line, 0 otherwise
    boundary: bool = False
    question_like: bool = False  # a heading or bold line: a title, not running text


def roman(s: str) -> int | None:
    s = s.lower()
    if not s or any(ch not in _ROMAN for ch in s):
        return None
    total = 0
    for i, ch in enumerate(s):
        v = _ROMAN[ch]
        total += -v if i + 1 < len(s) and _ROMAN[s[i + 1]] > v else v
    canonical = {1: "i", 2: "ii", 3: "iii", 4: "iv", 5: "v", 6: "vi", 7: "vii", 8: "viii",
                 9: "ix", 10: "x", 11: "xi", 12: "xii", 13: "xiii", 14: "xiv", 15: "xv",
                 16: "xvi", 17: "xvii", 18: "xviii", 19: "xix", 20: "xx"}
    return total if canonical.get(total) == s else None


def _unwrap(core: str) -> tuple[str, bool, bool]:
    """Remove emphasis around a label: (text, wholly bold, label part bold)."""
    for mark in ("**", "__", "*", "_"):
        if core.startswith(mark) and len(core) > 2 * len(mark):
            inner = core[len(mark):]
            close = inner.find(mark)
            if close < 0:
                return inner, False, False
            tail = inner[close + len(mark):]
            if not tail.strip(" :.-") or not tail.strip():
                return inner[:close].strip() + tail.rstrip(), len(mark) >= 2, False
            return (inner[:close].strip() + " " + tail.strip()).strip(), False, True
    return core, False, False


def _clean_rest(after: str) -> str:
    rest = after.strip()
    rest = re.sub(r"^[\s.:)\]\-–—,;|/]+", "", rest)
    rest = re.sub(r"^(\*\*|__|\*|_)+\s*", "", rest)
    rest = re.sub(r"^[\s.:)\]\-–—,;|/]+", "", rest)
    return re.sub(r"\s*(\*\*|__)\s*$", "", rest).strip()


def _indent(line: str) -> int:
    n = 0
    for ch in line:
        if ch == " ":
            n += 1
        elif ch == "\t":
            n += 4
        else:
            break
    return n


def detect(line: str, numbers: frozenset[int], max_number: int) -> Label | None:
    """The label on ``line`` (a text line outside code), or None."""
    indent = _indent(line)
    core = line.strip()
    while core.startswith(">"):
        core = core[1:].strip()
    if not core or len(core) > 600:
        return None
    level = 0
    m = _HEADING.match(core)
    if m and (core.startswith("# ") or len(m.group(1)) > 1 or re.match(r"#[A-Za-z]", core)
              or re.match(r"#\s*\d", core)):
        level, core = len(m.group(1)), m.group(2)
    core, whole_bold, bold_label = _unwrap(core)
    if whole_bold and level == 0:
        level = 7
    title = level > 0
    number: int | None = None
    kind = ""
    prefix = ""
    punct = ""
    after = ""
    pm = _PREFIX.match(core)
    if pm:
        p = pm.group("p").lower()
        raw = pm.group("n")
        n = int(raw) if raw.isdigit() else roman(raw)
        gap = pm.group("gap")
        ok = n is not None
        if p == "a" and gap.strip() == "" and gap and not re.match(r"^\s*[.:)]", pm.group("after")):
            ok = False  # "a 3-layer network"
        if p in ("task", "part"):
            ok = False  # tasks are code; "Part 2" groups questions: neither names a question
        if not raw.isdigit() and raw != raw.upper() and p in ("a", "q", "ex", "qn", "qs"):
            ok = ok and title
        if ok and n is not None:
            number, kind, after = n, "prefix", pm.group("after")
            prefix = {"q": "q", "a": "a", "e": "ex", "p": "p", "t": "t"}[p[0]]
            if p.startswith(("task", "part")):
                prefix = p[:4]
    if number is None:
        bm = _BRACKET.match(core)
        if bm:
            number, kind, after = int(bm.group("n")), "bracket", bm.group("after")
            prefix = "q" if bm.group("q") else ""
    if number is None:
        bm = _BARE.match(core)
        if bm:
            number, kind, after = int(bm.group("n")), "bare", bm.group("after")
            punct = (bm.group("punct") or bm.group("sub") or "").strip()[:1]
            if bm.group("letter"):
                punct = "a" + punct
    if number is None:
        rm = _ROMAN_BARE.match(core)
        if rm:
            value = roman(rm.group("n"))
            if value is not None:
                number, kind, after = value, "roman", rm.group("after")
                punct = rm.group("punct") + ("U" if rm.group("n").isupper() else "l")
    rest = _clean_rest(after)
    if number is None:
        if (title or len(core.split()) <= 6) and _CODE_PART.match(core):
            return Label(None, "boundary", 0.0, ("boundary",), core, level, boundary=True,
                         question_like=title)
        return None
    if number not in numbers:
        if (kind in ("prefix", "bracket") and (title or indent == 0) and prefix != "a"
                and number > max_number):
            return Label(None, "boundary", 0.0, ("boundary",), rest, level, boundary=True,
                         question_like=title)
        return None
    rest_bold = kind in ("bare", "roman") and bool(re.match(r"^\s*(\*\*|__)", after))
    whole_rest_bold = rest_bold and bool(re.search(r"(\*\*|__)\s*[:.?]?\s*$", after)) and (
        len(rest.split()) >= 4 or rest.rstrip("*_ :").endswith("?"))
    weight = _weight(kind, level, bold_label, whole_bold, whole_rest_bold, indent, prefix, punct)
    if weight <= 0:
        return None
    bucket = 0 if indent == 0 else (1 if indent < 4 else 2)
    sig = (kind, level, bold_label, prefix, punct, bucket, whole_rest_bold)
    return Label(number, kind, weight, sig, rest, level, question_like=title or whole_rest_bold)


def _weight(kind: str, level: int, bold_label: bool, whole_bold: bool, rest_bold: bool,
            indent: int, prefix: str, punct: str) -> float:
    heading = 1 <= level <= 6
    deep = indent >= 4
    if kind == "prefix":
        w = 4.0 if heading else (3.2 if (whole_bold or bold_label) else 3.0)
        return w - (1.0 if deep else 0.0)
    if kind == "bracket":
        return (3.0 if heading else 2.5) if prefix else (2.5 if heading else 1.0)
    if kind == "bare":
        if heading:
            return 3.5
        if whole_bold or bold_label:
            return 1.0 if deep else 3.0
        if rest_bold:
            return 1.0 if deep else 2.5
        if deep:
            return 0.5
        return 1.5 if punct in (".", ")", "a.", "a)") else 1.2
    if kind == "roman":
        if heading or whole_bold or bold_label:
            return 2.5
        return (1.2 if punct.endswith("U") else 0.5) if not deep else 0.3
    return 0.0


def comment_label(line: str, numbers: frozenset[int], max_number: int) -> Label | None:
    """A label written as a comment at the top of a notebook code cell (``# Q3``)."""
    s = line.strip()
    if not s.startswith("#"):
        return None
    body = s.lstrip("#").strip()
    lab = detect(body, numbers, max_number)
    if lab is None or lab.boundary or lab.kind not in ("prefix", "bracket", "bare"):
        return lab if lab is not None and lab.boundary else None
    weight = 2.5 if lab.kind == "prefix" else 1.0
    return Label(lab.number, "comment", weight, ("comment", lab.kind), lab.rest, 0)
