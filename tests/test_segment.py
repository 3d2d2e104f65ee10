"""Splitting a submission's text into answers per question (grader.segment, grader.labels).

The style table renders one synthetic student's 11 answers (tests/data/ingest/
answers.yaml) in every labelling style students use and checks that each question
gets exactly its own answer: its marker, every line of it, no other answer's marker
and not the copied prompt. The five real seeds are checked the same way with markers
read from them. No TensorFlow here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from grader.assignment import Assignment
from grader.chunks import Chunk, split_text
from grader.ingest import ingest
from grader.labels import detect, roman
from grader.segment import make_context, segment_chunks

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data" / "ingest"
SEEDS = sorted((ROOT / "examples" / "submissions").glob("[0-9][0-9][0-9]_*.txt"))
BANK: dict[str, dict[str, str]] = yaml.safe_load((DATA / "answers.yaml").read_text())
NUMBERS = frozenset(range(1, 12))
ROMAN = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI"]
# Seed 004's rewording of each question (a student re-typing the questions).
PARAPHRASE = {
    1: "Describe TensorFlow in one sentence. What are the main features of this module? "
       "Specify other popular deep-learning libraries.",
    2: "Whether TensorFlow may directly replace the NumPy module? What are the main "
       "differences between them?",
    3: "Whether `tf.range(10)` and `tf.constant(np.arange(10))` gives the same result?",
    4: "Specify other data structures (apart from standard tensors) implemented in TensorFlow.",
    5: "You can define a custom loss function by creating a function or by implementing a "
       "class that inherits from `keras.loss.Loss`. When should you use each of these options?",
    6: "You can define a custom metric by writing a regular function or class that inherits "
       "from `keras.metrics.Metric`. When do you use each of these solutions?",
    7: "When should we create a custom layer, and when a custom model?",
    8: "Specify a situation when a custom training loop is needed.",
    9: "Can custom Keras components contain any Python code, or must they be converted into "
       "TF functions?",
    10: "Specify rules that must be fulfilled to convert a regular function into the TF "
        "function.",
    11: "When should we create dynamic Keras models? How to do that? Why not all models are "
        "dynamic?",
}


@pytest.fixture(scope="module")
def assignment(example_assignment: Assignment) -> Assignment:
    return example_assignment


def _prompt(a: Assignment, n: int) -> str:
    return a.questions[n - 1].prompt


def _text(n: int) -> str:
    return BANK[f"q{n}"]["text"]


def _marker(n: int) -> str:
    return BANK[f"q{n}"]["marker"]


def _answers(text: str, a: Assignment, tmp_path: Path, name: str = "s.md") -> dict[str, object]:
    f = tmp_path / name
    f.write_text(text, encoding="utf-8")
    sub = ingest(f, tmp_path, a)
    return {x.question_id: x for x in sub.answers}


def _check(got: dict[str, object], a: Assignment, expect: dict[int, int | None],
           *, full: bool = True) -> None:
    for q, n in expect.items():
        ans = got.get(f"q{q}")
        if n is None:
            assert ans is None, f"q{q} should have no answer, got {ans}"
            continue
        assert ans is not None, f"q{q} has no answer; found {sorted(got)}"
        text = ans.text  # type: ignore[attr-defined]
        assert _marker(n) in text, f"q{q} lacks its answer: {text[:200]!r}"
        for k in range(1, 12):
            if k != n:
                assert _marker(k) not in text, f"q{q} holds q{k}'s answer: {text[:300]!r}"
        assert _prompt(a, q)[:40] not in text, f"q{q} holds its prompt: {text[:200]!r}"
        if full:
            for line in _text(n).splitlines():
                assert line.strip()[:30] in text, f"q{q} lost {line!r}: {text!r}"


ALL = {n: n for n in range(1, 12)}

# --------------------------------------------------------------------- styles table
StyleFn = Callable[[Assignment], str]


def _join(parts: list[str], sep: str = "\n\n") -> str:
    return sep.join(parts)


def _wrap(text: str, width: int = 40) -> str:
    cut = text.rfind(" ", 0, width)
    return text[:cut] + "\n" + text[cut + 1:]


STYLES: dict[str, StyleFn] = {
    # seed 001: the questions listed first, then "### Ans N"
    "questions_listed_then_ans_headings": lambda a: "## DL_Assignment_4\n" + "\n".join(
        f"{n}. {_prompt(a, n)}" for n in range(1, 12)) + "\n\n" + _join(
        [f"### Ans {n}\n\n{_text(n)}" for n in range(1, 12)]),
    # seed 000
    "bold_number_and_prompt": lambda a: _join(
        [f"**{n}. {_prompt(a, n)}**\n\n{_text(n)}" for n in range(1, 12)]),
    # seed 002/003
    "bare_number_and_prompt": lambda a: _join(
        [f"{n}. {_prompt(a, n)}\n\n{_text(n)}" for n in range(1, 12)]),
    # seed 004: reworded questions in bold, answers indented
    "paraphrased_bold_questions": lambda a: "# QUESTIONS\n\n" + _join(
        [f"{n}. **{PARAPHRASE[n]}**  \n\n   " + _text(n).replace("\n", "\n   ")
         for n in range(1, 12)]),
    "q_colon_prompt": lambda a: _join([f"Q{n}: {_prompt(a, n)}\n{_text(n)}"
                                       for n in range(1, 12)]),
    "question_word_own_line": lambda a: _join(
        [f"Question {n}\n{_prompt(a, n)}\n\n{_text(n)}" for n in range(1, 12)]),
    "question_hash_number": lambda a: _join(
        [f"Question #{n}: {_prompt(a, n)}\nAnswer: {_text(n)}" for n in range(1, 12)]),
    "number_paren_answer": lambda a: _join([f"{n}) {_text(n)}" for n in range(1, 12)]),
    "bracket_q": lambda a: _join([f"[Q{n}] {_text(n)}" for n in range(1, 12)]),
    "ans_word": lambda a: _join([f"Ans {n}\n{_text(n)}" for n in range(1, 12)]),
    "answer_word_colon": lambda a: _join([f"Answer {n}: {_text(n)}" for n in range(1, 12)]),
    "ans_no_space": lambda a: _join([f"Ans{n}: {_text(n)}" for n in range(1, 12)]),
    "exercise_heading": lambda a: _join([f"## Exercise {n}\n\n{_text(n)}"
                                         for n in range(1, 12)]),
    "number_dash_prompt": lambda a: _join([f"{n} - {_prompt(a, n)}\n\n{_text(n)}"
                                           for n in range(1, 12)]),
    "number_colon_answer": lambda a: _join([f"{n}: {_text(n)}" for n in range(1, 12)]),
    "roman_numerals": lambda a: _join([f"{ROMAN[n - 1]}. {_prompt(a, n)}\n\n{_text(n)}"
                                       for n in range(1, 12)]),
    "roman_in_heading": lambda a: _join([f"## Question {ROMAN[n - 1].lower()}\n\n{_text(n)}"
                                         for n in range(1, 12)]),
    # the hard one: bare numbers, no prompt, numbered lists at column 0 inside answers
    "bare_number_answer_lists_inside": lambda a: _join([f"{n}. {_text(n)}"
                                                        for n in range(1, 12)]),
    "bare_number_answer_no_blank_lines": lambda a: "\n".join(f"{n}. {_text(n)}"
                                                             for n in range(1, 12)),
    "bold_q_label_inline": lambda a: _join([f"**Q{n}.** {_text(n)}" for n in range(1, 12)]),
    "heading_question_then_answer_heading": lambda a: _join(
        [f"## Q{n}. {_prompt(a, n)}\n\n## Answer\n\n{_text(n)}" for n in range(1, 12)]),
    "heading_question_answer_subheadings": lambda a: _join(
        [f"## Question {n}: {_prompt(a, n)}\n\n### Answer\n\n{_text(n)}" for n in range(1, 12)]),
    "hash_q_then_italic_prompt": lambda a: _join(
        [f"# Q{n}\n*{_prompt(a, n)}*\n\n{_text(n)}" for n in range(1, 12)]),
    "q_and_a_pairs": lambda a: _join([f"Q{n}. {_prompt(a, n)}\nA{n}. {_text(n)}"
                                      for n in range(1, 12)]),
    "q_dot_number": lambda a: _join([f"Q.{n} {_prompt(a, n)}\n\n{_text(n)}"
                                     for n in range(1, 12)]),
    "sub_part_letters": lambda a: _join([f"Q{n}a) {_text(n)}" for n in range(1, 12)]),
    "answers_indented_under_prompt": lambda a: _join(
        [f"{n}. {_prompt(a, n)}\n   - " + _text(n).replace("\n", "\n     ")
         for n in range(1, 12)]),
    "prompt_wrapped_over_two_lines": lambda a: _join(
        [f"{n}. {_wrap(_prompt(a, n))}\n\n{_text(n)}" for n in range(1, 12)]),
    # no numbers at all: the questions copied as titles
    "prompts_as_bold_titles": lambda a: _join([f"**{_prompt(a, n)}**\n\n{_text(n)}"
                                               for n in range(1, 12)]),
    "prompts_as_headings": lambda a: _join([f"### {_prompt(a, n)}\n{_text(n)}"
                                            for n in range(1, 12)]),
    "blockquote_labels": lambda a: _join([f"> **Question {n}**\n\n{_text(n)}"
                                          for n in range(1, 12)]),
}


@pytest.mark.parametrize("style", sorted(STYLES))
def test_every_labelling_style(style: str, assignment: Assignment, tmp_path: Path) -> None:
    got = _answers(STYLES[style](assignment), assignment, tmp_path)
    _check(got, assignment, ALL)
    assert all(x.label in ("heading", "content") for x in got.values())  # type: ignore[attr-defined]


@pytest.mark.parametrize("ext", ["md", "txt"])
def test_text_formats(ext: str, assignment: Assignment, tmp_path: Path) -> None:
    got = _answers(STYLES["bold_number_and_prompt"](assignment), assignment, tmp_path,
                   f"bob.{ext}")
    _check(got, assignment, ALL)


# --------------------------------------------------------------------- labels vs content
def _doc(parts: list[str]) -> str:
    return "\n\n".join(parts)


def test_answers_out_of_order(assignment: Assignment, tmp_path: Path) -> None:
    text = _doc([f"### Q{n}\n{_text(n)}" for n in [1, 2, 4, 3, 5, 6, 7, 8, 9, 10, 11]])
    _check(_answers(text, assignment, tmp_path), assignment, ALL)


def test_swapped_labels_content_decides(assignment: Assignment, tmp_path: Path) -> None:
    swap = {4: 5, 5: 4}
    text = _doc([f"### Q{swap.get(n, n)}\n{_text(n)}" for n in range(1, 12)])
    got = _answers(text, assignment, tmp_path)
    _check(got, assignment, ALL)
    for q in ("q4", "q5"):
        assert got[q].label == "content"  # type: ignore[attr-defined]
        assert "labelled" in got[q].note  # type: ignore[attr-defined]
    assert got["q3"].label == "heading"  # type: ignore[attr-defined]


def test_repeated_label_content_decides(assignment: Assignment, tmp_path: Path) -> None:
    text = _doc([f"### Q{3 if n == 4 else n}\n{_text(n)}" for n in range(1, 12)])
    got = _answers(text, assignment, tmp_path)
    _check(got, assignment, ALL)
    assert got["q4"].label == "content"  # type: ignore[attr-defined]


def test_copied_prompt_contradicts_number(assignment: Assignment, tmp_path: Path) -> None:
    which = {3: 4, 4: 3}
    text = _doc([f"Q{n}: {_prompt(assignment, which.get(n, n))}\n{_text(which.get(n, n))}"
                 for n in range(1, 12)])
    got = _answers(text, assignment, tmp_path)
    _check(got, assignment, ALL)
    assert "question 3" in got["q3"].note or "question 4" in got["q3"].note  # type: ignore[attr-defined]


def test_unlabelled_run_placed_by_content(assignment: Assignment, tmp_path: Path) -> None:
    text = _doc([f"### Q{n}\n{_text(n)}" if n <= 5 else _text(n) for n in range(1, 12)])
    got = _answers(text, assignment, tmp_path)
    _check(got, assignment, ALL)
    assert got["q8"].label == "content"  # type: ignore[attr-defined]


def test_unlabelled_first_answer_after_name(assignment: Assignment, tmp_path: Path) -> None:
    text = _doc(["Name: Jane Doe, student 1234", _text(1)]
                + [f"### Q{n}\n{_text(n)}" for n in range(2, 12)])
    got = _answers(text, assignment, tmp_path)
    _check(got, assignment, ALL)
    assert "Jane" not in got["q1"].text  # type: ignore[attr-defined]


def test_skipped_and_empty_answers(assignment: Assignment, tmp_path: Path) -> None:
    text = _doc([f"### Q{n}" + ("" if n == 5 else f"\n{_text(n)}")
                 for n in range(1, 12) if n != 9])
    f = tmp_path / "s.md"
    f.write_text(text)
    sub = ingest(f, tmp_path, assignment)
    got = {x.question_id: x for x in sub.answers}
    _check(got, assignment, {n: None if n in (5, 9) else n for n in range(1, 12)})
    assert any("5, 9" in p.message for p in sub.problems)


def test_question_list_then_bare_answers(assignment: Assignment, tmp_path: Path) -> None:
    text = _doc(["\n".join(f"{n}. {_prompt(assignment, n)}" for n in range(1, 12))]
                + [f"{n}. {_text(n)}" for n in range(1, 12)])
    _check(_answers(text, assignment, tmp_path), assignment, ALL)


def test_code_part_ends_last_answer(assignment: Assignment, tmp_path: Path) -> None:
    text = _doc([f"**{n}. {_prompt(assignment, n)}**\n\n{_text(n)}" for n in range(1, 12)]
                + ["## Part B: code\n\n```python\ndef huber_fn(y_true, y_pred):\n    return 0\n"
                   "```\n\nNotes about my code."])
    got = _answers(text, assignment, tmp_path)
    _check(got, assignment, ALL)
    assert "huber_fn" not in got["q11"].text  # type: ignore[attr-defined]
    assert "Notes about" not in got["q11"].text  # type: ignore[attr-defined]


def test_subheadings_stay_inside_answer(assignment: Assignment, tmp_path: Path) -> None:
    text = _doc([f"## Question {n}\n\n#### My answer\n\n{_text(n)}\n\n#### Example\n\n"
                 f"Example number {n}." for n in range(1, 12)])
    got = _answers(text, assignment, tmp_path)
    _check(got, assignment, ALL)
    assert "Example number 3." in got["q3"].text  # type: ignore[attr-defined]


def test_no_labels_in_order(assignment: Assignment, tmp_path: Path) -> None:
    text = _doc([_text(n).replace("\n", " ") for n in range(1, 12)])
    got = _answers(text, assignment, tmp_path)
    _check(got, assignment, ALL, full=False)
    assert {x.label for x in got.values()} == {"order"}  # type: ignore[attr-defined]


def test_no_labels_by_content(assignment: Assignment, tmp_path: Path) -> None:
    # 8 answers, no numbers, some questions skipped: only the content can place them
    picked = [1, 2, 3, 4, 6, 7, 9, 11]
    text = _doc([_text(n).replace("\n", " ") for n in picked])
    got = _answers(text, assignment, tmp_path)
    _check(got, assignment, {n: n if n in picked else None for n in range(1, 12)},
           full=False)
    assert {x.label for x in got.values()} == {"content"}  # type: ignore[attr-defined]


def test_single_answer(assignment: Assignment, tmp_path: Path) -> None:
    got = _answers(f"### Q7\n{_text(7)}", assignment, tmp_path)
    _check(got, assignment, {n: 7 if n == 7 else None for n in range(1, 12)})


def test_segment_chunks_direct(assignment: Assignment) -> None:
    ctx = make_context(assignment)
    chunks = split_text(STYLES["bracket_q"](assignment), "x.md")
    answers = segment_chunks(chunks, ctx)
    assert [a.question_id for a in answers] == [f"q{n}" for n in range(1, 12)]
    assert all(a.file == "x.md" for a in answers)
    assert answers[0].cells == (0,)


def test_tagged_chunks_win(assignment: Assignment) -> None:
    ctx = make_context(assignment)
    chunks = [
        Chunk("text", "### Q1\n" + _text(1), "n.ipynb", 0),
        Chunk("text", _text(2), "n.ipynb", 1, tags=("q2",)),
        Chunk("text", "### Q3\nThis heading says 3 but the tag says 4.\n" + _text(4),
              "n.ipynb", 2, tags=("answer-4",)),
        Chunk("text", _text(3), "n.ipynb", 3, meta="q3"),
    ]
    got = {a.question_id: a for a in segment_chunks(chunks, ctx)}
    assert got["q1"].label == "heading" and _marker(1) in got["q1"].text
    assert got["q2"].label == "tag" and _marker(2) in got["q2"].text
    assert got["q4"].label == "tag" and _marker(4) in got["q4"].text
    assert got["q3"].label == "metadata" and _marker(3) in got["q3"].text
    assert _marker(4) not in got["q3"].text


def test_repeated_tag_content_decides(assignment: Assignment) -> None:
    ctx = make_context(assignment)
    chunks = [Chunk("text", _text(n), "n.ipynb", n, tags=(f"q{3 if n == 4 else n}",))
              for n in range(1, 12)]
    got = {a.question_id: a for a in segment_chunks(chunks, ctx)}
    assert sorted(got, key=lambda q: int(q[1:])) == [f"q{n}" for n in range(1, 12)]
    assert _marker(3) in got["q3"].text and _marker(4) not in got["q3"].text
    assert _marker(4) in got["q4"].text and got["q4"].label == "content"
    assert "question 4" in got["q4"].note
    # a tag repeated on two parts of the same answer keeps both parts
    chunks = [Chunk("text", "First part: " + _text(2), "n.ipynb", 0, tags=("q2",)),
              Chunk("text", "Second part: tensors are immutable.", "n.ipynb", 1, tags=("q2",))]
    (only,) = segment_chunks(chunks, ctx)
    assert only.question_id == "q2" and "Second part" in only.text and only.label == "tag"


# --------------------------------------------------------------------- the five seeds
SEED_MARKERS: dict[str, dict[int, str]] = {
    "000": {1: "open-source machine learning library developed by Google",
            2: "not a direct drop-in replacement", 3: "dtype=int64, numpy=array",
            4: "Ragged Tensors", 5: "Subclassing keras.losses.Loss (More Complex Cases)",
            6: "Subclassing keras.metrics.Metric (More Complex Cases)",
            7: "reusable building block", 8: "Gradient Clipping: This technique",
            9: "Lego bricks", 10: "Use tf.py_function (Careful Consideration)",
            11: "class DynamicModel(keras.Model)"},
    "001": {1: "Visualization Tools", 2: "Computation Graph vs. Eager Execution",
            3: "NumPy's default data type for integers is `int64`", 4: "RaggedTensor",
            5: "class CustomLoss(keras.losses.Loss)", 6: "running averages or moving averages",
            7: "Siamese networks, GANs", 8: "Gated Networks",
            9: "decorators like `@tf.function`", 10: "Opt for Vectorized Operations",
            11: "Dynamic Routing in Capsule Networks"},
    "002": {1: "Deeplearning4j, Caffe, Chainer, and JAX", 2: "aren't swappable",
            3: "shape=(10,), dtype=int64)", 4: "ragged tensors: a tensor with one or more",
            5: "To save and load a loss that takes parameters",
            6: "isn't an average of batch metrics", 7: "keeps the abstraction clean",
            8: "more than one optimizer", 9: "trace phase of autograph",
            10: "prefer vectorized implementation over loops",
            11: "I lean towards print statements"},
    "003": {1: "Keras (which is now integrated into TensorFlow), and MXNet",
            2: "tensors are also not immediately evaluated",
            3: "the latter converts a NumPy array", 4: "QueueRunners",
            5: "custom logic in the `__init__` and `call` methods",
            6: "maintain state between batches or epochs",
            7: "Custom models encapsulate the entire model structure",
            8: "Implementing advanced learning rate schedules",
            9: "recommended to make custom components convertible",
            10: "`tf.while_loop`) for conditional and loop operations",
            11: "architecture within the `__init__` method"},
    "004": {1: "Caffe2, and Chainer", 2: "`tf.transpose()` creates a transposed copy",
            3: "TensorFlow defaults to 32 bits", 4: "sparse tensors, tensor arrays, ragged",
            5: "loss function must support some hyperparameters",
            6: "precision and recall metrics", 7: "internal components of your model",
            8: "Wide & Deep paper", 9: "wrap it in a `tf.py_function()` operation",
            10: "Please refer to Chapter 12", 11: "use any Python debugger"},
}
# what each answer starts with (the student's first words, the prompt removed)
SEED_STARTS: dict[str, dict[int, str]] = {
    "000": {1: "TensorFlow is an open-source", 3: "In [2]:", 4: "1. **Variables:**",
            11: "There are several scenarios"},
    "001": {1: "**TensorFlow** is", 4: "Beyond regular tensors", 11: "Creating a dynamic"},
    "002": {1: "Tensorflow is a numerical", 3: "No, `tf.range(10)`", 11: "This wasn't obvious"},
    "003": {1: "- TensorFlow is an open-source", 11: "- You would create a dynamic"},
    "004": {1: "TensorFlow is an open-source", 10: "Please refer", 11: "Creating a dynamic"},
}


def test_five_seeds_present() -> None:
    assert [p.name[:3] for p in SEEDS] == ["000", "001", "002", "003", "004"]


@pytest.mark.parametrize("seed", SEEDS, ids=lambda p: p.name[:3])
def test_seed_split_into_eleven_answers(seed: Path, assignment: Assignment) -> None:
    sub = ingest(seed, seed.parent, assignment)
    key = seed.name[:3]
    assert not [p for p in sub.problems if p.fatal]
    assert [a.question_id for a in sub.answers] == [f"q{n}" for n in range(1, 12)]
    markers = SEED_MARKERS[key]
    for a in sub.answers:
        n = int(a.question_id[1:])
        assert a.label == "heading", a
        assert markers[n] in a.text, f"{key} q{n}: {a.text[:300]!r}"
        for k, m in markers.items():
            if k != n:
                assert m not in a.text, f"{key} q{n} holds q{k}'s answer"
        assert _prompt(assignment, n)[:45] not in a.text, f"{key} q{n} holds the prompt"
        assert PARAPHRASE[n][:40] not in a.text
    for n, start in SEED_STARTS[key].items():
        assert sub.answers[n - 1].text.startswith(start), sub.answers[n - 1].text[:80]
    # q4 of every seed is about sparse/ragged tensors, q3 about the dtypes / values
    assert "ragged" in sub.answers[3].text.lower()
    assert "int" in sub.answers[2].text.lower()


def test_seed_answer_keeps_code_output(assignment: Assignment) -> None:
    seed = next(p for p in SEEDS if p.name.startswith("000"))
    q3 = ingest(seed, seed.parent, assignment).answer("q3")
    assert q3 is not None
    assert "dtype=int32" in q3.text and "dtype=int64" in q3.text


# --------------------------------------------------------------------- label detection
@pytest.mark.parametrize(("line", "number"), [
    ("### Ans 3", 3), ("**3. Do you get the same result?**", 3), ("Q3: text", 3),
    ("Question 3", 3), ("3) text", 3), ("[Q3] text", 3), ("Ans 3", 3), ("Answer 3: No", 3),
    ("## Exercise 3", 3), ("3 - text", 3), ("III. text", 3), ("## Question IV", 4),
    ("**Q3:** Both", 3), ("Question #3:", 3), ("Q.3 text", 3), ("Q-3 text", 3),
    ("A3. yes", 3), ("3a) text", 3), ("Q3.1 text", 3), ("(3) text", 3), ("3: text", 3),
    ("__3.__ text", 3), ("*Question 5*", 5), ("# Q 3", 3), ("> **Question 3**", 3),
    ("Ans3: x", 3), ("### 10. text", 10), ("11. text", 11),
])
def test_label_detected(line: str, number: int) -> None:
    lab = detect(line, NUMBERS, 11)
    assert lab is not None and lab.number == number and not lab.boundary


@pytest.mark.parametrize("line", [
    "a 3-layer network", "I think so", "A. foo", "0.5 points", "In [2]:", "3 apples",
    "   - TensorFlow is", "#3", "12. text", "", "3.5x faster", "Step 3: train",
])
def test_not_a_label(line: str) -> None:
    lab = detect(line, NUMBERS, 11)
    assert lab is None


@pytest.mark.parametrize("line", ["## Part B", "## Exercise 12", "C1 Huber loss", "## C3",
                                  "**Part B - Coding**", "## Task 2", "Code tasks"])
def test_boundary_detected(line: str) -> None:
    lab = detect(line, NUMBERS, 11)
    assert lab is not None and lab.boundary


def test_nested_list_item_is_weaker_than_question_label() -> None:
    outer = detect("**4. Can you name six other data structures?**", NUMBERS, 11)
    inner = detect("1. **SparseTensor:** efficient for zeros", NUMBERS, 11)
    deep = detect("     1. Sparse Tensors: zeros", NUMBERS, 11)
    assert outer and inner and deep
    assert outer.weight > inner.weight > deep.weight
    assert outer.signature != inner.signature != deep.signature


@pytest.mark.parametrize(("s", "v"), [("iv", 4), ("XI", 11), ("ix", 9), ("iiii", None),
                                      ("vx", None), ("q", None)])
def test_roman(s: str, v: int | None) -> None:
    assert roman(s) == v
