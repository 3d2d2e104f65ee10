"""The written scorer (lexical backend: fast, no model): the spec's rules, the API."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.assignment import Assignment, load_assignment, load_rubric
from grader.errors import ScorerError
from grader.models import PointResult
from grader.written import Scorer, load_scorer
from grader.written.evaluate import make_submission

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "written"


@pytest.fixture(scope="module")
def assignment() -> Assignment:
    return load_assignment(ROOT / "assignments" / "dl_assignment_4")


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return load_scorer("lexical")


def score(scorer: Scorer, assignment: Assignment, **answers: str) -> dict[str, PointResult]:
    res = scorer.score(make_submission("s", answers), assignment)
    return {r.point_id: r for r in res}


def test_one_result_per_written_point_in_rubric_order(scorer: Scorer,
                                                      assignment: Assignment) -> None:
    res = scorer.score(make_submission("s", {}), assignment)
    assert [r.point_id for r in res] == [p.id for q in assignment.questions for p in q.points]
    assert all(r.verdict == "not_awarded" and r.awarded == 0 for r in res)
    q3 = [r for r in res if r.owner_id == "q3"]
    assert q3[0].feedback == "no answer found for question 3"


def test_stated_idea_is_awarded_with_evidence(scorer: Scorer, assignment: Assignment) -> None:
    r = score(scorer, assignment, q2="Well. TensorFlow isn't a drop-in replacement for NumPy.")
    v = r["q2.verdict"]
    assert (v.verdict, v.awarded) == ("awarded", 1.0)
    assert v.evidence == "TensorFlow isn't a drop-in replacement for NumPy."
    assert 0 <= v.confidence <= 1 and not v.needs_review


@pytest.mark.parametrize(("qid", "text", "pid", "feedback"), [
    ("q2", "Yes, it is a drop-in replacement.", "q2.verdict", "opposite"),
    ("q3", "Same values 0 to 9, but tf.range gives int64 and numpy gives int32.", "q3.dtype",
     "both sides"),
    ("q9", "They don't have to be convertible to TF Functions.", "q9.convertible", "opposite"),
    ("q11", "Debugging. Use dynamic=True. It is not slower.", "q11.whynot", "opposite"),
    ("q2", "It is a drop-in replacement, and it is not a drop-in replacement.", "q2.verdict",
     "both sides"),
])
def test_opposite_or_both_sides_earn_nothing(scorer: Scorer, assignment: Assignment, qid: str,
                                             text: str, pid: str, feedback: str) -> None:
    r = score(scorer, assignment, **{qid: text})[pid]
    assert r.awarded == 0 and feedback in r.feedback
    assert r.evidence


def test_k_of_n_counts_distinct_valid_unhedged_items(scorer: Scorer,
                                                     assignment: Assignment) -> None:
    r = score(scorer, assignment, q4="sparse tensors, SparseTensor, ragged tensors, maybe "
              "queues, sets?, placeholders, queue runners, tf.Variable")["q4.structures"]
    assert r.awarded == 1.5 and r.verdict == "partial"  # sparse, ragged, variables
    assert "hedged, not counted: queues, sets" in r.feedback
    assert "not valid: placeholders, queue_runners" in r.feedback


def test_names_at_least_two(scorer: Scorer, assignment: Assignment) -> None:
    one = score(scorer, assignment, q1="Others: PyTorch. It supports tf.keras.")
    two = score(scorer, assignment, q1="Others: PyTorch, JAX.")
    assert one["q1.libraries"].awarded == 0 and two["q1.libraries"].awarded == 1


def test_pointer_states_nothing(scorer: Scorer, assignment: Assignment) -> None:
    r = score(scorer, assignment, q10="Please refer to Chapter 12 for the list of rules.",
              q6="Same as Q5.")
    assert r["q10.rules"].awarded == 0 and "points elsewhere" in r["q10.rules"].feedback
    assert r["q6.state"].awarded == 0


def test_keyword_line_pasted_into_answers_states_nothing(scorer: Scorer,
                                                         assignment: Assignment) -> None:
    kw = "state hyperparameters streaming update_state precision get_config debugging dynamic=True"
    r = score(scorer, assignment, q6=kw, q8=kw, q11=kw + "\nSet dynamic=True on the model.")
    assert r["q6.streaming"].awarded == 0 and "keywords" in r["q6.streaming"].feedback
    assert r["q11.when"].awarded == 0
    assert r["q11.how"].awarded == 1  # the real sentence still counts
    # the same line in one answer only is an answer, not stuffing
    alone = score(scorer, assignment, q11=kw)
    assert alone["q11.how"].awarded == 1


def test_seed_004_question_10_earns_nothing(scorer: Scorer, assignment: Assignment) -> None:
    from grader.ingest import ingest

    subs = ROOT / "examples" / "submissions"
    sub = ingest(subs / "004_bad7f9a96702f2ec.txt", subs, assignment)
    res = {r.point_id: r for r in scorer.score(sub, assignment)}
    assert res["q10.rules"].awarded == 0
    assert sum(r.awarded for r in res.values()) == 25  # 28 less the 3 of question 10
    assert all(r.evidence for r in res.values() if r.awarded)


def test_score_many_equals_score(scorer: Scorer, assignment: Assignment) -> None:
    subs = [make_submission("a", {"q2": "No."}), make_submission("b", {"q2": "Yes."})]
    assert scorer.score_many(subs, assignment) == [scorer.score(s, assignment) for s in subs]


def test_reference_answer_mode_gives_one_point_per_question() -> None:
    aid, questions, tasks, total = load_rubric(DATA / "reference_rubric.yaml")
    a = Assignment(id=aid, title=aid, root=DATA, rubric_path=DATA / "reference_rubric.yaml",
                   questions=questions, tasks=tasks, total=total)
    sc = load_scorer("lexical")
    good = sc.score(make_submission("g", {"q1": "Shuffling keeps batches independent and "
                                          "identically distributed so gradient descent "
                                          "is not biased by ordered, correlated examples.",
                                          "q2": "No, not a drop-in replacement."}), a)
    bad = sc.score(make_submission("b", {"q1": "Because the teacher said so."}), a)
    none = sc.score(make_submission("n", {}), a)
    assert [r.point_id for r in good] == ["q1.answer", "q2.verdict"]
    assert good[0].max_points == 2 and good[0].awarded > bad[0].awarded
    assert none[0].awarded == 0 and none[0].feedback == "no answer found for question 1"
    assert good[1].awarded == 1


def test_backends() -> None:
    assert load_scorer("lexical").backend_name == "lexical"
    with pytest.raises(ScorerError, match="unknown written-scorer backend"):
        load_scorer("bogus")
    auto = load_scorer.__doc__
    assert auto and "auto" in auto
