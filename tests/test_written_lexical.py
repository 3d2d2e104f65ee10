"""Sentences, tokens, negation and hedging, pointers, and wording patterns."""

from __future__ import annotations

import pytest

from grader.written.lexical import compile_wording, find, is_pointer, split_sentences, tokenize
from grader.written.prepare import prepare_answer, stuffed_lines


def matches(wording: str, text: str) -> list[tuple[bool, bool]]:
    """(negated, hedged) of every match of ``wording`` in ``text``."""
    return [(m.negated, m.hedged) for m in find(compile_wording(wording), tokenize(text))]


@pytest.mark.parametrize(("wording", "text", "expected"), [
    ("sparse tensor*", "Sparse tensors store zeros cheaply.", [(False, False)]),
    ("drop-in replacement", "TensorFlow isn't a drop-in replacement.", [(True, False)]),
    ("drop-in replacement", "It doesn't work as a drop-in replacement", [(True, False)]),
    ("not ... drop-in", "TensorFlow is not a drop-in replacement.", [(False, False)]),
    ("queue*", "maybe queues", [(False, True)]),
    ("set", "sets?", [(False, True)]),
    ("queue*", "perhaps queues", [(False, True)]),
    ("tf.range", "use tf.range(10) here", [(False, False)]),
    ("range int64", "tf.range gives int64", [(False, False)]),
    ("range int64", "tf.range has dtype=int32 where np.arange has int64", []),
    ("convert*", "must be convertible", [(False, False)]),
    ("slow*", "it is not only slower but also less portable", [(False, False)]),
    ("re:^\\W*no\\b", "No, it is not.", [(False, False)]),
    ("names ... differ", "names of functions, and so on, differ", [(False, False)]),
    ("names differ", "names of functions, and so on, differ", []),
])
def test_patterns(wording: str, text: str, expected: list[tuple[bool, bool]]) -> None:
    assert matches(wording, text)[: len(expected) or None] == expected


def test_negation_stays_in_its_clause() -> None:
    # "not" belongs to the first clause; the second states the idea
    assert matches("subclass* ... get_config", "It is not enough, so subclass and use "
                   "get_config.") == [(False, False)]


def test_sentences_split_lines_and_markers() -> None:
    text = "1. **Sparse:** zeros.\n- Ragged tensors. Tensor arrays too!\n\n   \ne.g. sets"
    assert split_sentences(text) == ["Sparse: zeros.", "Ragged tensors.", "Tensor arrays too!",
                                     "e.g. sets"]


@pytest.mark.parametrize(("sentence", "pointer"), [
    ("See above.", True),
    ("Same as Q5.", True),
    ("Please refer to Chapter 12 for the list of rules (in the TF Function Rules section).",
     True),
    ("As explained in Q8.", True),
    ("As mentioned previously, TensorFlow was written with GPUs and TPUs in mind, and more "
     "easily scales to distributed training.", False),
    ("Seeing the graph helps.", False),
])
def test_pointers(sentence: str, pointer: bool) -> None:
    assert is_pointer(sentence) is pointer


def test_keyword_line_in_many_answers_is_stuffing() -> None:
    line = "hyperparameters state get_config update_state dynamic=True run_eagerly"
    answers = [("q5", line), ("q6", line + "\nA real sentence about metrics."), ("q9", line),
               ("q1", "TensorFlow is a library.")]
    stuffed = stuffed_lines(answers)
    prepared = prepare_answer("q6", answers[1][1], stuffed)
    assert [s.text for s in prepared.sentences] == ["A real sentence about metrics."]
    assert prepared.stuffed == (line,)
    assert prepare_answer("q5", line, stuffed).empty


def test_keyword_list_in_two_answers_is_stuffing_but_a_sentence_is_not() -> None:
    kw = "sparse ragged queues sets strings variables datasets"
    prose = "Much like custom loss functions, this depends on the state you keep."
    s = stuffed_lines([("q4", kw), ("q6", kw), ("q5", prose), ("q7", prose)])
    assert len(s) == 1
