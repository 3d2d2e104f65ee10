"""Reference-answer mode: a question with only a model answer and a maximum score.

The score is a linear function of a few similarities between the student's answer and
the reference answer, fitted once on the Mohler et al. (2011) short-answer data (two
human graders, 0-5) and applied to any question as a fraction of its maximum:

* ``cos``     cosine of the sentence embeddings (answer vs reference);
* ``bert_r``  BERTScore-style recall: each reference token (words of the question
  removed: "question demoting") matched to its most similar answer token, averaged;
* ``bert_p``  the same, precision (answer tokens matched to the reference);
* ``lex_r``/``lex_p``  share of the reference's content words found in the answer / of
  the answer's content words found in the reference (question words removed);
* ``length``  log of the number of the answer's words.

Without a model only the lexical features are used (a separate fit). bench/bench_mohler.py
re-fits the same features leaving each question out and reports Pearson r and RMSE.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from grader.models import PointResult, Verdict
from grader.written.lexical import STOP, tokenize

if TYPE_CHECKING:
    from grader.assignment import Question
    from grader.written.embed import Embedder
    from grader.written.prepare import Prepared

FEATURES_MODEL = ("cos", "bert_r", "bert_p", "lex_r", "lex_p", "length")
FEATURES_LEXICAL = ("lex_r", "lex_p", "length")
REVIEW_BAND = (0.3, 0.75)  # predicted fractions in this band go to review


@dataclass(frozen=True)
class Linear:
    """Standardize, then a weighted sum; predictions are clipped to [0, 1]."""

    names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    weights: tuple[float, ...]
    intercept: float

    def predict(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        z = (x - np.asarray(self.mean)) / np.asarray(self.std)
        out: npt.NDArray[np.float64] = np.clip(z @ np.asarray(self.weights) + self.intercept,
                                               0.0, 1.0)
        return out


def fit(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], names: Sequence[str],
        ridge: float = 1.0) -> Linear:
    """Ridge least squares of ``y`` (fractions, 0-1) on standardized ``x``."""
    mean = x.mean(axis=0)
    std = x.std(axis=0) + 1e-9
    z = (x - mean) / std
    a = z.T @ z + ridge * np.eye(z.shape[1])
    w = np.linalg.solve(a, z.T @ (y - y.mean()))
    return Linear(tuple(names), tuple(float(v) for v in mean), tuple(float(v) for v in std),
                  tuple(float(v) for v in w), float(y.mean()))


# Fitted on all 2,273 Mohler answers (score_avg / 5) by `python bench/bench_mohler.py --fit`.
MODEL_FIT = Linear(
    names=FEATURES_MODEL,
    mean=(0.57109, 0.54439, 0.50148, 0.33513, 0.28738, 2.21651),
    std=(0.21271, 0.19719, 0.18777, 0.34021, 0.30363, 0.65468),
    weights=(-0.04023, 0.13363, 0.01106, 0.00342, 0.02856, 0.02539),
    intercept=0.83678,
)
LEXICAL_FIT = Linear(
    names=FEATURES_LEXICAL,
    mean=(0.33513, 0.28738, 2.21651),
    std=(0.34021, 0.30363, 0.65468),
    weights=(0.07205, 0.05663, 0.04925),
    intercept=0.83678,
)


def _content(text: str) -> list[str]:
    return [t for t in tokenize(text).tokens if t not in STOP]


def lexical_features(question: str, reference: str, answer: str) -> list[float]:
    qw = set(_content(question))
    ref = [w for w in _content(reference) if w not in qw] or _content(reference)
    ans_all = _content(answer)
    ans = [w for w in ans_all if w not in qw]
    ref_set, ans_set = set(ref), set(ans_all)
    lex_r = sum(w in ans_set for w in ref) / len(ref) if ref else 0.0
    lex_p = sum(w in ref_set for w in ans) / len(ans) if ans else 0.0
    return [lex_r, lex_p, math.log1p(len(ans_all))]


def model_features(embedder: Embedder, items: Sequence[tuple[str, str, str]]
                   ) -> npt.NDArray[np.float64]:
    """Feature rows (FEATURES_MODEL order) for (question, reference, answer) triples."""
    texts = sorted({t for trip in items for t in trip})
    tv = dict(zip(texts, embedder.token_vectors(texts), strict=True))
    sv = dict(zip(texts, embedder.encode(texts), strict=True))
    rows = []
    for q, r, a in items:
        (ta, _), (tr, ir) = tv[a], tv[r]
        qids = set(tv[q][1])
        keep = [i for i, t in enumerate(ir) if t not in qids] or list(range(len(ir)))
        if len(ta) and keep:
            sims = tr[keep] @ ta.T
            br, bp = float(sims.max(axis=1).mean()), float(sims.max(axis=0).mean())
        else:
            br = bp = 0.0
        rows.append([float(sv[a] @ sv[r]), br, bp, *lexical_features(q, r, a)])
    return np.asarray(rows, dtype=np.float64)


def predict(embedder: Embedder, items: Sequence[tuple[str, str, str]]
            ) -> npt.NDArray[np.float64]:
    """Predicted fraction of the maximum (0-1) for each (question, reference, answer)."""
    if embedder.has_tokens:
        return MODEL_FIT.predict(model_features(embedder, items))
    x = np.asarray([lexical_features(*t) for t in items], dtype=np.float64)
    return LEXICAL_FIT.predict(x)


def score_reference(q: Question, ans: Prepared | None, embedder: Embedder) -> PointResult:
    """The single PointResult (``{qid}.answer``) of a reference-answer question."""
    pid, mx = q.answer_point_id, q.max_points
    if ans is None or ans.empty:
        why = (f"no answer found for question {q.number}" if ans is None
               or not (ans.stuffed or ans.pointers) else ans.why_empty())
        return PointResult(point_id=pid, owner_id=q.id, awarded=0.0, max_points=mx,
                           verdict="not_awarded", feedback=why, confidence=1.0)
    ref = q.reference_answer or ""
    frac = float(predict(embedder, [(q.prompt, ref, ans.text)])[0])
    awarded = round(frac * mx, 2)
    verdict: Verdict = ("awarded" if awarded >= mx - 1e-9 else
                        "partial" if awarded > 0 else "not_awarded")
    lo, hi = REVIEW_BAND
    edge = min(abs(frac - lo), abs(frac - hi)) if lo <= frac <= hi else 0.0
    conf = 0.45 + edge if lo <= frac <= hi else 0.7
    best = max(ans.sentences, key=lambda s: len(set(s.content) & set(_content(ref))))
    return PointResult(
        point_id=pid, owner_id=q.id, awarded=awarded, max_points=mx, verdict=verdict,
        feedback=f"compared with the model answer: {frac:.0%} of the points",
        detail=f"reference-answer mode ({embedder.name}); predicted fraction {frac:.3f}",
        evidence=" ".join(best.text.split())[:240], confidence=round(min(conf, 1.0), 3),
        needs_review=lo <= frac <= hi,
    )
