"""Cheap lexical similarity between a student's text and the assignment's questions.

Used by :mod:`grader.segment` only to decide *which question a span of text is
about* (never to score it). Two measures:

* ``echo``: how much a line looks like a copy or paraphrase of a question's prompt
  (idf-weighted F-measure of the distinct words of the line and of the prompt+title);
* ``sims``: cosine similarity of a text with each question's profile (prompt, title,
  rubric-point descriptions, reference answer), tf-idf weighted over the questions so
  that words shared by every question ("tensorflow", "keras") count little.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from grader.assignment import Question

_WORD = re.compile(r"[a-z][a-z0-9_]*|\d+")
STOP = frozenset(
    """
a about above after again all also am an and any are as at be because been before being
below between both but by can could did do does doing down during each either else etc
few for from further had has have having he her here hers him his how i if in into is it
its itself just let like ll may me might more most much must my no nor not now of off on
once one only or other our out over own same she should so some such than that the their
them then there these they this those through to too under until up us use used uses
using very was we were what when where whether which while who whom why will with would
you your yours
""".split()  # noqa: SIM905
)


@functools.lru_cache(maxsize=65536)
def _stem(w: str) -> str:
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 4 and w.endswith("sses"):
        return w[:-2]
    if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
        return w[:-1]
    return w


def tokens(text: str) -> list[str]:
    """Content words of ``text``: lower-cased, stop words dropped, crudely stemmed."""
    return [_stem(w) for w in _WORD.findall(text.lower()) if w not in STOP]


class QuestionIndex:
    """The questions of an assignment, ready for ``echo`` and ``sims``."""

    def __init__(self, questions: Sequence[Question]) -> None:
        self.questions = tuple(questions)
        n = max(len(self.questions), 1)
        echo_sets = [set(tokens(f"{q.prompt} {q.title}")) for q in self.questions]
        df = Counter(t for s in echo_sets for t in s)
        self._echo_sets = echo_sets
        self._echo_w = {t: math.log((1 + n) / (1 + c)) + 1.0 for t, c in df.items()}
        self._foreign_w = math.log(1 + n) + 1.0
        self._echo_tot = np.array([sum(self._echo_w[t] for t in s) or 1.0 for s in echo_sets])
        self._echo_rows = {t: np.array([w if t in s else 0.0 for s in echo_sets])
                           for t, w in self._echo_w.items()}
        profiles = []
        for q in self.questions:
            parts = [q.prompt, q.title, q.prompt, q.title]  # the question's own words, twice
            parts += [p.description for p in q.points]
            if q.reference_answer:
                parts.append(q.reference_answer)
            profiles.append(Counter(tokens(" ".join(parts))))
        vocab = sorted({t for c in profiles for t in c})
        self.vocab = {t: i for i, t in enumerate(vocab)}
        pdf = Counter(t for c in profiles for t in c)
        self.idf = np.array([math.log((1 + n) / (1 + pdf[t])) + 1.0 for t in vocab])
        self.oov_idf = math.log(1 + n) + 1.0
        mat = np.zeros((len(self.questions), len(vocab)))
        for i, c in enumerate(profiles):
            for t, k in c.items():
                mat[i, self.vocab[t]] = (1.0 + math.log(k)) * self.idf[self.vocab[t]]
        norms = np.linalg.norm(mat, axis=1, keepdims=True)
        self.profiles = mat / np.where(norms == 0, 1.0, norms)
        self._profiles_w = self.profiles  # (questions x vocabulary)

    # ---------------------------------------------------------------- echo
    def prompt_words(self, qi: int) -> set[str]:
        """The content words of question ``qi``'s prompt and title."""
        return self._echo_sets[qi]

    def echo(self, text: str | Iterable[str]) -> np.ndarray:
        """Per question, how much ``text`` reads like that question's prompt (0..1)."""
        p, c = self.echo_pc(text)
        total = p + c
        return np.asarray(np.where(total > 0, 2 * p * c / np.where(total > 0, total, 1.0), 0.0))

    def echo_pc(self, text: str | Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        """Per question: the share of ``text``'s words that are the prompt's (precision) and
        the share of the prompt's words that ``text`` has (coverage), idf-weighted."""
        toks = set(tokens(text) if isinstance(text, str) else text)
        nq = len(self.questions)
        if not toks:
            return np.zeros(nq), np.zeros(nq)
        total = 0.0
        hit = np.zeros(nq)
        for t in toks:
            row = self._echo_rows.get(t)
            if row is None:
                total += self._foreign_w
            else:
                total += self._echo_w[t]
                hit += row
        return hit / total, hit / self._echo_tot

    # ---------------------------------------------------------------- profiles
    def counts(self, toks: Iterable[str]) -> tuple[np.ndarray, int]:
        """A count vector over the vocabulary, and the number of other words."""
        vec = np.zeros(len(self.vocab))
        oov = 0
        for t in toks:
            i = self.vocab.get(t)
            if i is None:
                oov += 1
            else:
                vec[i] += 1
        return vec, oov

    def sims_from_counts(self, counts: np.ndarray, oov: np.ndarray | float,
                         dots: np.ndarray | None = None) -> np.ndarray:
        """Cosine with each profile; ``counts`` may be a matrix (one row per text).

        ``dots``: the numerators ``project(counts)`` when the caller has them already.
        """
        weighted = counts * self.idf
        sq = np.sum(weighted**2, axis=-1) + np.asarray(oov) * self.oov_idf**2
        norm = np.sqrt(np.where(sq <= 0, 1.0, sq))
        if dots is None:
            dots = self.project(counts)
        return np.asarray(dots / np.expand_dims(norm, -1))

    def project(self, counts: np.ndarray) -> np.ndarray:
        """Dot products of count vectors with the (idf-weighted) profiles.

        Elementwise rather than a matrix product: these matrices are small, and a
        multi-threaded BLAS spends far longer starting threads than computing them.
        """
        weighted = np.asarray(counts * self.idf)
        return np.asarray((weighted[..., None, :] * self._profiles_w).sum(axis=-1))

    def sims(self, text: str) -> np.ndarray:
        vec, oov = self.counts(tokens(text))
        return np.asarray(self.sims_from_counts(vec, float(oov)))
