"""The scorer hints (``scoring:``) a written rubric point may carry: format and validation.

Rubric format for written questions
-----------------------------------
A written question either lists rubric points, or gives only a model answer and a
maximum score (*reference-answer mode*)::

    - id: q12
      number: 12
      title: "Why do we shuffle the training set?"
      max_points: 2
      reference_answer: "So that batches are not correlated: gradient descent assumes i.i.d.
        samples, and ordered data biases each step."

A rubric point keeps the spec's ``id``, ``points``, ``description`` (and ``kind: k_of_n``
with ``per_item``). Under ``scoring:`` the instructor adds whatever helps the scorer; every
key is optional. A point with no hints is scored by similarity to its description, which
needs a model: without one (backend ``lexical``) it goes to review::

    - id: q2.verdict
      points: 1
      description: "says it is **not** a drop-in replacement"
      scoring:
        wordings:                  # ways of stating the idea; any one is enough
          - "not ... drop-in"
          - "not ... swappable"
          - "re:^no\\b"            # a regular expression on the sentence
        opposite:                  # ways of asserting the opposite: stated -> no credit
          - "is a drop-in replacement"
          - "re:^yes\\b"
        positive:                  # example answers that earn the point (for similarity)
          - "TensorFlow cannot simply replace NumPy."
        negative:                  # answers that do not (a sentence closer to these is
          - "TensorFlow is basically NumPy on a GPU."   # never awarded on meaning)

    - id: q4.structures            # kind: k_of_n, per_item: 0.5 -> credit per distinct item
      scoring:
        items:                     # the valid items, each with its wordings
          sparse: ["sparse tensor*", "SparseTensor"]
          ragged: ["ragged"]
        invalid:                   # named in feedback, never credited
          placeholders: ["placeholder*"]

    - id: q1.libraries             # kind: all with items: "names at least two ..."
      scoring:
        items: {pytorch: [pytorch, torch], jax: [jax]}
        min_items: 2

    - id: q3.dtype                 # a compound idea: every group must be stated
      scoring:
        all_of:
          - ["int32", "32 bit*"]
          - ["int64", "64 bit*"]
        opposite: ["range int64", "arange int32"]   # swapped facts ("tf.range gives int64")

Wording syntax: words in order inside one sentence, case-insensitive, plurals folded,
punctuation ignored (``tf.range`` = ``tf range``); up to 2 other words may sit between
two written words, in the same clause; ``...`` allows any number, across clauses;
``a|b`` is a choice for one word (write a longer choice as a wording of its own);
``word*`` matches any word starting so; ``re:`` starts a regular expression matched on
the sentence as written. A wording that contains a negation ("not ... drop-in") is
matched literally; any other wording is refused where the student negates it ("is not",
"isn't", "doesn't", "never" just before it in the same clause) -- that is the opposite.
An item or idea hedged ("maybe queues", "sets?") does not count.

``a & b`` joins wordings that must all be found in the answer (in any sentences).
Other keys: ``negation: false`` (a negated wording still counts: "don't use print" states
the rule "avoid side effects"), ``need`` (how many of the ``all_of`` groups must be
stated; default all), ``semantic: false`` (lexical matching only for this point),
``threshold`` (similarity needed to award on meaning alone, 0-1; default the scorer's
calibrated value).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from grader.assignment import RubricPoint
from grader.written.lexical import Pattern, compile_wording

_KEYS = {"wordings", "all_of", "need", "opposite", "positive", "negative", "items",
         "invalid", "min_items", "semantic", "threshold", "negation"}

Wording = tuple[Pattern, ...]  # parts joined by " & ": every part stated in the answer


@dataclass(frozen=True)
class Item:
    name: str
    patterns: tuple[Wording, ...]


@dataclass(frozen=True)
class Hints:
    """The parsed ``scoring:`` of one rubric point."""

    groups: tuple[tuple[Wording, ...], ...]  # every group (or `need` of them) must be stated
    need: int
    opposite: tuple[Wording, ...]
    positive: tuple[str, ...]
    negative: tuple[str, ...]
    items: tuple[Item, ...]
    invalid: tuple[Item, ...]
    min_items: int
    semantic: bool
    threshold: float | None
    negation: bool = True  # False: a negated wording still counts ("don't print" states a rule)

    @property
    def lexical(self) -> bool:
        """True when the point has wordings or items to match."""
        return bool(self.groups or self.items)


def _str_list(raw: Any, key: str) -> list[str]:
    if isinstance(raw, str):
        return [raw]
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise ValueError(f"scoring.{key} must be a list of strings")
    return list(raw)


def _patterns(raw: Any, key: str) -> tuple[Wording, ...]:
    out = []
    for w in _str_list(raw, key):
        parts = [x for x in w.split(" & ")] if not w.startswith("re:") else [w]
        try:
            out.append(tuple(compile_wording(x) for x in parts))
        except ValueError as exc:
            raise ValueError(f"scoring.{key}: {exc}") from exc
    return tuple(out)


def _items(raw: Any, key: str) -> tuple[Item, ...]:
    if not isinstance(raw, Mapping):
        raise ValueError(f"scoring.{key} must map each item's name to its wordings")
    return tuple(Item(str(name), _patterns(ws, f"{key}.{name}")) for name, ws in raw.items())


def parse_hints(point: RubricPoint) -> Hints:
    """Parse ``point.scoring``; raises ValueError naming the key that is wrong."""
    raw = dict(point.scoring)
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise ValueError(f"unknown scoring key {unknown[0]!r} (use one of: "
                         f"{', '.join(sorted(_KEYS))})")
    groups: list[tuple[Wording, ...]] = []
    if "wordings" in raw:
        groups.append(_patterns(raw["wordings"], "wordings"))
    if "all_of" in raw:
        if not isinstance(raw["all_of"], list) or not raw["all_of"]:
            raise ValueError("scoring.all_of must be a list of wording lists")
        groups += [_patterns(g, f"all_of[{i}]") for i, g in enumerate(raw["all_of"])]
    need = raw.get("need", len(groups))
    if "need" in raw and (not isinstance(need, int) or isinstance(need, bool)
                          or not 0 < need <= len(groups)):
        raise ValueError(f"scoring.need must be between 1 and {len(groups)} (the groups "
                         "of wordings)")
    items = _items(raw["items"], "items") if "items" in raw else ()
    invalid = _items(raw["invalid"], "invalid") if "invalid" in raw else ()
    if point.kind == "k_of_n" and groups and not items:
        raise ValueError("a k_of_n point lists its valid items under scoring.items")
    if items and groups:
        raise ValueError("use either items or wordings/all_of, not both")
    min_items = raw.get("min_items", 1)
    if not isinstance(min_items, int) or isinstance(min_items, bool) or min_items < 1:
        raise ValueError("scoring.min_items must be a positive integer")
    if items and min_items > len(items):
        raise ValueError(f"scoring.min_items {min_items} exceeds the {len(items)} items listed")
    if point.kind == "k_of_n" and "min_items" in raw:
        raise ValueError("min_items applies to kind: all; a k_of_n point credits per item")
    semantic = raw.get("semantic", True)
    if not isinstance(semantic, bool):
        raise ValueError("scoring.semantic must be true or false")
    negation = raw.get("negation", True)
    if not isinstance(negation, bool):
        raise ValueError("scoring.negation must be true or false")
    thr = raw.get("threshold")
    if thr is not None and (not isinstance(thr, (int, float)) or isinstance(thr, bool)
                            or not 0 < thr < 1):
        raise ValueError("scoring.threshold must be a number between 0 and 1")
    return Hints(
        groups=tuple(groups), need=int(need) if groups else 0,
        opposite=_patterns(raw["opposite"], "opposite") if "opposite" in raw else (),
        positive=tuple(_str_list(raw.get("positive", []), "positive")),
        negative=tuple(_str_list(raw.get("negative", []), "negative")),
        items=items, invalid=invalid, min_items=int(min_items), semantic=semantic,
        threshold=float(thr) if thr is not None else None, negation=negation,
    )


def check_hints(point: RubricPoint) -> list[str]:
    """Return the problems with ``point.scoring`` (empty when it is valid)."""
    try:
        parse_hints(point)
    except ValueError as exc:
        return [str(exc)]
    return []
