"""Ingesting submissions: every format, folders, and every kind of bad input.

Bad input never raises: the student gets a Submission whose problems say which
file, what was wrong and what to do, and the batch goes on. No TensorFlow here.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from grader.assignment import Assignment
from grader.errors import IngestError
from grader.ingest import IngestLimits, discover, ingest
from grader.models import Submission
from grader.textio import decode

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data" / "ingest"
BANK: dict[str, dict[str, str]] = yaml.safe_load((DATA / "answers.yaml").read_text())


@pytest.fixture(scope="module")
def a(example_assignment: Assignment) -> Assignment:
    return example_assignment


def _marker(n: int) -> str:
    return BANK[f"q{n}"]["marker"]


def _text(n: int) -> str:
    return BANK[f"q{n}"]["text"]


def _md_answers(ns: range = range(1, 12)) -> str:
    return "\n\n".join(f"## Q{n}\n{_text(n)}" for n in ns)


def _fatal(sub: Submission) -> list[str]:
    return [p.message for p in sub.problems if p.fatal]


def _assert_error_result(sub: Submission, *words: str) -> None:
    """An error result: not ok, a fatal problem naming the file and saying what to do."""
    assert not sub.ok
    fatal = [p for p in sub.problems if p.fatal]
    assert fatal, sub.problems
    msg = " ".join(p.message for p in fatal).lower()
    for w in words:
        assert w.lower() in msg, msg
    assert all(p.fix for p in fatal)
    assert all(Path(p.file).name in p.message or p.file in p.message for p in fatal)


# ----------------------------------------------------------------------------- notebooks
def _cell(kind: str, source: str | list[str], minor: int, k: int, **extra: Any) -> dict[str, Any]:
    cell: dict[str, Any] = {"cell_type": kind, "metadata": extra.pop("metadata", {}),
                            "source": source}
    if kind == "code":
        cell.update(execution_count=None, outputs=extra.pop("outputs", []))
    if minor >= 5:
        cell["id"] = f"cell-{k}"
    return cell


def _notebook(cells: list[tuple[str, Any, dict[str, Any]]], minor: int = 5) -> dict[str, Any]:
    return {
        "nbformat": 4, "nbformat_minor": minor,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}},
        "cells": [_cell(kind, src, minor, k, **dict(extra)) for k, (kind, src, extra)
                  in enumerate(cells)],
    }


def _stream(text: str) -> dict[str, Any]:
    return {"output_type": "stream", "name": "stdout", "text": text}


def _result(text: str) -> dict[str, Any]:
    return {"output_type": "execute_result", "execution_count": 1, "metadata": {},
            "data": {"text/plain": text}}


def _typical_notebook(minor: int = 5) -> dict[str, Any]:
    cells: list[tuple[str, Any, dict[str, Any]]] = [("markdown", "# Assignment 4\nJane Doe", {})]
    for n in range(1, 12):
        cells.append(("markdown", f"### Question {n}\n\n{_text(n)}", {}))
        if n == 3:
            out = _stream("tf.Tensor([0 1 2 3 4 5 6 7 8 9], dtype=int32)\n")
            cells.append(("code", "import numpy as np\nprint(tf.range(10))", {"outputs": [out]}))
    cells.append(("markdown", "## Part B: code", {}))
    cells.append(("code", ["%pip install nothing\n", "def huber_fn(y_true, y_pred):\n",
                           "    return y_true - y_pred\n"], {}))
    cells.append(("code", "@tf.function(reduce_retracing=True)\ndef tf_cube_sum(x):\n"
                  "    return tf.reduce_sum(x ** 3)", {"outputs": [_result("<fn>")]}))
    return _notebook(cells, minor)


@pytest.mark.parametrize("minor", [0, 1, 2, 3, 4, 5])
def test_notebook_any_v4_minor(minor: int, a: Assignment, tmp_path: Path) -> None:
    f = tmp_path / "carol.ipynb"
    f.write_text(json.dumps(_typical_notebook(minor)))
    sub = ingest(f, tmp_path, a)
    assert sub.ok and sub.student_id == "carol" and sub.path == "carol.ipynb"
    assert not sub.problems, sub.problems
    assert [x.question_id for x in sub.answers] == [f"q{n}" for n in range(1, 12)]
    for n in range(1, 12):
        ans = sub.answers[n - 1]
        assert _marker(n) in ans.text and ans.label == "heading" and ans.file == "carol.ipynb"
    q3 = sub.answer("q3")
    assert q3 is not None and "dtype=int32" in q3.text and "print(tf.range(10))" in q3.text
    q11 = sub.answer("q11")
    assert q11 is not None and "huber_fn" not in q11.text and "Part B" not in q11.text
    # code cells in run order, raw source (magics kept), cell index, first line 1
    assert [c.index for c in sub.code_cells] == [4, 14, 15]
    assert sub.code_cells[1].source.startswith("%pip install nothing\ndef huber_fn")
    assert all(c.line == 1 and c.file == "carol.ipynb" for c in sub.code_cells)
    assert sub.files[0].kind == "ipynb" and sub.files[0].size == f.stat().st_size


def test_notebook_tags_and_metadata(a: Assignment, tmp_path: Path) -> None:
    nb = _notebook([
        ("markdown", "Question 1: describe TensorFlow (instructor's cell)", {}),
        ("markdown", _text(1), {"metadata": {"tags": ["q1"]}}),
        ("markdown", _text(2), {"metadata": {"tags": ["answer-2", "graded"]}}),
        ("markdown", _text(3), {"metadata": {"tags": ["Question 3"]}}),
        ("code", "tf.range(10)", {"outputs": [_result("<tf.Tensor: dtype=int32>")]}),
        ("markdown", _text(4), {"metadata": {"question": "q4"}}),
        ("markdown", _text(5), {"metadata": {"question": 5}}),
        ("markdown", _text(6), {"metadata": {"nbgrader": {"grade_id": "q6", "solution": True}}}),
        # the tag says 8 even though the student's heading says 7: the tag is the label
        ("markdown", "### Q7\n" + _text(8), {"metadata": {"tags": ["q8"]}}),
        ("markdown", "### Q7\n" + _text(7), {}),
    ])
    f = tmp_path / "dan.ipynb"
    f.write_text(json.dumps(nb))
    sub = ingest(f, tmp_path, a)
    got = {x.question_id: x for x in sub.answers}
    assert [got[f"q{n}"].label for n in (1, 2, 3, 4, 5, 6, 8)] == [
        "tag", "tag", "tag", "metadata", "metadata", "metadata", "tag"]
    assert got["q7"].label == "heading"
    for n in range(1, 9):
        assert _marker(n) in got[f"q{n}"].text
    assert "dtype=int32" in got["q3"].text and got["q3"].cells == (3, 4)
    assert "instructor" not in got["q1"].text


def test_notebook_label_in_code_comment(a: Assignment, tmp_path: Path) -> None:
    cells: list[tuple[str, Any, dict[str, Any]]] = []
    for n in range(1, 12):
        if n == 3:  # the answer is the code and its output, labelled by a comment
            out = _stream("tf.Tensor([0 1 2 3 4 5 6 7 8 9], shape=(10,), dtype=int32)\n"
                          "tf.Tensor([0 1 2 3 4 5 6 7 8 9], shape=(10,), dtype=int64)\n")
            cells.append(("code", "# Question 3\nprint(tf.range(10))\n"
                          "print(tf.constant(np.arange(10)))", {"outputs": [out]}))
        else:
            cells.append(("markdown", f"Q{n}. {_text(n)}", {}))
    f = tmp_path / "jo.ipynb"
    f.write_text(json.dumps(_notebook(cells)))
    sub = ingest(f, tmp_path, a)
    assert [x.question_id for x in sub.answers] == [f"q{n}" for n in range(1, 12)]
    q3 = sub.answer("q3")
    assert q3 is not None and q3.cells == (2,) and "dtype=int64" in q3.text
    assert q3.text.startswith("```python\n# Question 3\nprint(tf.range(10))")
    q2 = sub.answer("q2")
    assert q2 is not None and q2.text.endswith("64-bit in NumPy")  # its own list item 3


def test_notebook_code_part_without_heading(a: Assignment, tmp_path: Path) -> None:
    cells: list[tuple[str, Any, dict[str, Any]]] = []
    for n in range(1, 12):
        cells.append(("markdown", f"**Q{n}.** {_text(n)}", {}))
        if n == 3:  # set-up code inside an answer neither ends it nor joins its text
            cells.append(("code", "import numpy as np\n%matplotlib inline", {}))
            cells.append(("code", "tf.range(10)", {"outputs": [_result("<tf.Tensor int32>")]}))
    cells += [("code", "import tensorflow as tf\nimport numpy as np", {}),
              ("code", "def helper(x):\n    return x", {}),
              ("code", "def huber_fn(y_true, y_pred):\n    return helper(y_true)", {}),
              ("code", "class HuberLoss:\n    pass", {"outputs": [_stream("done\n")]})]
    f = tmp_path / "dee.ipynb"
    f.write_text(json.dumps(_notebook(cells)))
    sub = ingest(f, tmp_path, a)
    assert [x.question_id for x in sub.answers] == [f"q{n}" for n in range(1, 12)]
    q3, q11 = sub.answer("q3"), sub.answer("q11")
    assert q3 is not None and "<tf.Tensor int32>" in q3.text and "import numpy" not in q3.text
    assert q11 is not None and q11.text == _text(11)
    assert len(sub.code_cells) == 6


@pytest.mark.parametrize("damage", ["extra_key", "missing_metadata", "bad_output"])
def test_notebook_failing_validation_still_read(damage: str, a: Assignment,
                                                tmp_path: Path) -> None:
    nb = _typical_notebook(5)
    if damage == "extra_key":
        nb["cells"][1]["unexpected"] = True  # not allowed by the schema
    elif damage == "missing_metadata":
        del nb["cells"][2]["metadata"]  # nbformat's reader itself refuses this one
    else:
        nb["cells"][4]["outputs"][0]["output_type"] = "weird"
    f = tmp_path / "erin.ipynb"
    f.write_text(json.dumps(nb))
    sub = ingest(f, tmp_path, a)
    assert sub.ok and len(sub.answers) == 11 and len(sub.code_cells) == 3
    notes = [p for p in sub.problems if "does not validate" in p.message]
    assert len(notes) == 1 and not notes[0].fatal and notes[0].fix
    assert notes[0].message.startswith("erin.ipynb does not validate")
    assert "read anyway" in notes[0].message


def test_notebook_unknown_minor_and_source_lists(a: Assignment, tmp_path: Path) -> None:
    nb = _typical_notebook(4)
    nb["nbformat_minor"] = 99
    for c in nb["cells"]:
        if isinstance(c["source"], str):
            c["source"] = c["source"].splitlines(keepends=True)
    f = tmp_path / "fay.ipynb"
    f.write_text(json.dumps(nb))
    sub = ingest(f, tmp_path, a)
    assert sub.ok and len(sub.answers) == 11 and len(sub.code_cells) == 3
    assert not any(p.fatal for p in sub.problems)


def test_notebook_v3_worksheets(a: Assignment, tmp_path: Path) -> None:
    nb = {"nbformat": 3, "nbformat_minor": 0, "metadata": {},
          "worksheets": [{"cells": [
              {"cell_type": "markdown", "source": _md_answers(range(1, 4)), "metadata": {}},
              {"cell_type": "code", "input": "x = 1", "language": "python", "outputs": [],
               "metadata": {}}]}]}
    f = tmp_path / "gus.ipynb"
    f.write_text(json.dumps(nb))
    sub = ingest(f, tmp_path, a)
    assert sub.ok and [x.question_id for x in sub.answers] == ["q1", "q2", "q3"]
    assert [c.source for c in sub.code_cells] == ["x = 1"]


def test_notebook_broken_json(a: Assignment, tmp_path: Path) -> None:
    f = tmp_path / "hal.ipynb"
    f.write_text(json.dumps(_typical_notebook())[:-200])
    sub = ingest(f, tmp_path, a)
    _assert_error_result(sub, "hal.ipynb", "not valid json", "line")
    assert sub.files and sub.files[0].path == "hal.ipynb"


def test_notebook_json_but_not_notebook(a: Assignment, tmp_path: Path) -> None:
    f = tmp_path / "ida.ipynb"
    f.write_text('{"hello": [1, 2]}')
    _assert_error_result(ingest(f, tmp_path, a), "not a jupyter notebook")


# ----------------------------------------------------------------------------- .py
PY = '''"""DL assignment 4 -- Kim."""
import tensorflow as tf

# %% [markdown]
# ## Q1
# TensorFlow is an open-source library for numerical computation and deep learning.

# %%
# Q2: No, it is not a drop-in replacement: function names differ and tensors are
# immutable while NumPy arrays are mutable.
x = tf.range(10)

# %% tags=["q3"]
"""Both hold the integers 0 to 9, but tf.range(10) gives int32 while
tf.constant(np.arange(10)) gives int64."""

# %%
answer_4 = """Beyond regular tensors there are SparseTensor, RaggedTensor, TensorArray,
queues, string tensors and sets."""


# %% C1 Huber loss
def huber_fn(y_true, y_pred):
    # the error
    err = y_true - y_pred
    return err


%timeit huber_fn(1, 2)
'''


def test_py_cells_comments_and_strings(a: Assignment, tmp_path: Path) -> None:
    f = tmp_path / "kim.py"
    f.write_text(PY)
    sub = ingest(f, tmp_path, a)
    got = {x.question_id: x for x in sub.answers}
    assert sorted(got) == ["q1", "q2", "q3", "q4"]
    assert "open-source library" in got["q1"].text and got["q1"].label == "heading"
    assert got["q2"].text.startswith("No, it is not a drop-in") and "x = tf" not in got["q2"].text
    assert got["q3"].label == "tag" and "integers 0 to 9" in got["q3"].text
    assert got["q4"].label == "metadata" and "RaggedTensor" in got["q4"].text
    assert "the error" not in got["q4"].text
    lines = PY.splitlines()
    # code cells: the preamble, then one per "# %%" (markdown cells are not code)
    assert [c.index for c in sub.code_cells] == [0, 2, 3, 4, 5]
    for c in sub.code_cells:
        first = next(s for s in c.source.splitlines() if s.strip())
        assert lines[c.line - 1 + c.source.splitlines().index(first)] == first
    assert sub.code_cells[0].line == 1
    assert sub.code_cells[-1].source.rstrip().endswith("%timeit huber_fn(1, 2)")


def test_py_plain_one_cell(a: Assignment, tmp_path: Path) -> None:
    src = "import numpy as np\n\n\ndef tf_cube_sum(x):\n    return (x ** 3).sum()\n"
    f = tmp_path / "lee.py"
    f.write_text(src)
    sub = ingest(f, tmp_path, a)
    assert sub.ok and not sub.answers
    assert [(c.index, c.line, c.source) for c in sub.code_cells] == [(0, 1, src.rstrip("\n"))]
    assert any("no answers" in p.message and not p.fatal for p in sub.problems)


def test_py_answers_in_comments_without_markers(a: Assignment, tmp_path: Path) -> None:
    src = "\n".join(f"# Question {n}\n# " + _text(n).replace("\n", "\n# ") + "\n"
                    for n in range(1, 12))
    src += "\nimport tensorflow as tf\n\ndef huber_fn(t, p):\n    # not an answer\n    return t\n"
    f = tmp_path / "max.py"
    f.write_text(src)
    sub = ingest(f, tmp_path, a)
    assert [x.question_id for x in sub.answers] == [f"q{n}" for n in range(1, 12)]
    for n in range(1, 12):
        assert _marker(n) in sub.answers[n - 1].text
    assert "not an answer" not in sub.answers[-1].text
    assert len(sub.code_cells) == 1


def test_py_nbconvert_export_and_syntax_error(a: Assignment, tmp_path: Path) -> None:
    src = ("#!/usr/bin/env python\n# coding: utf-8\n\n# # Q1\n# " + _text(1).replace("\n", " ")
           + "\n\n# In[1]:\n\n\nprint('hi'\n\n\n# In[2]:\n\n\n# Q2\n'''" + _text(2) + "'''\n")
    f = tmp_path / "ned.py"
    f.write_text(src)
    sub = ingest(f, tmp_path, a)
    assert sub.ok
    assert [x.question_id for x in sub.answers] == ["q1", "q2"]
    assert _marker(2) in sub.answers[1].text
    assert [c.source.strip() for c in sub.code_cells][1] == "print('hi'"


def test_py_labelled_answers_in_one_docstring(a: Assignment, tmp_path: Path) -> None:
    src = ('"""\n' + "\n\n".join(f"Q{n}: {_text(n)}" for n in range(1, 12))
           + '\n"""\nimport tensorflow as tf\n')
    f = tmp_path / "uli.py"
    f.write_text(src)
    sub = ingest(f, tmp_path, a)
    assert [x.question_id for x in sub.answers] == [f"q{n}" for n in range(1, 12)]
    assert all(_marker(int(x.question_id[1:])) in x.text for x in sub.answers)


def test_py_answers_dict(a: Assignment, tmp_path: Path) -> None:
    src = "ANSWERS = {\n    'q1': '''" + _text(1) + "''',\n    5: '''" + _text(5) + "''',\n}\n"
    f = tmp_path / "ola.py"
    f.write_text(src)
    sub = ingest(f, tmp_path, a)
    got = {x.question_id: x for x in sub.answers}
    assert sorted(got) == ["q1", "q5"] and got["q5"].label == "metadata"
    assert _marker(5) in got["q5"].text


# ----------------------------------------------------------------------------- text files
@pytest.mark.parametrize("ext", [".md", ".txt", ".markdown"])
def test_text_files(ext: str, a: Assignment, tmp_path: Path) -> None:
    f = tmp_path / f"pat{ext}"
    f.write_text(_md_answers())
    sub = ingest(f, tmp_path, a)
    assert sub.ok and sub.student_id == "pat" and len(sub.answers) == 11
    assert sub.files[0].kind == ("md" if ext != ".txt" else "txt")
    assert not sub.code_cells and not sub.problems


def test_windows_line_endings_and_tabs(a: Assignment, tmp_path: Path) -> None:
    text = "\r\n\r\n".join(f"**{n}.**\t{_text(n)}".replace("\n", "\r\n") for n in range(1, 12))
    f = tmp_path / "win.md"
    f.write_bytes(text.encode())
    sub = ingest(f, tmp_path, a)
    assert [x.question_id for x in sub.answers] == [f"q{n}" for n in range(1, 12)]
    assert "\r" not in sub.answers[1].text and sub.answers[1].text.startswith("No, it is not")


# ----------------------------------------------------------------------------- folders
def test_folder_mixing_answers_md_and_solution_py(a: Assignment, tmp_path: Path) -> None:
    d = tmp_path / "quinn"
    d.mkdir()
    (d / "answers.md").write_text(_md_answers())
    (d / "solution.py").write_text("# C1: the Huber loss as a function\n"
                                   "def huber_fn(y_true, y_pred):\n    return y_true\n")
    (d / ".DS_Store").write_bytes(b"\0\0junk")
    (d / "__pycache__").mkdir()
    (d / "__pycache__" / "solution.cpython-311.pyc").write_bytes(b"\0pyc")
    sub = ingest(d, tmp_path, a)
    assert sub.ok and sub.student_id == "quinn" and sub.path == "quinn"
    assert [f.path for f in sub.files] == ["quinn/answers.md", "quinn/solution.py"]
    assert len(sub.answers) == 11 and all(x.file == "quinn/answers.md" for x in sub.answers)
    assert [c.file for c in sub.code_cells] == ["quinn/solution.py"]
    assert not sub.problems


def test_folder_answers_split_over_files(a: Assignment, tmp_path: Path) -> None:
    d = tmp_path / "rae"
    (d / "part2").mkdir(parents=True)
    (d / "part1.md").write_text(_md_answers(range(1, 7)))
    (d / "part2" / "rest.txt").write_text(_md_answers(range(6, 12)))  # q6 twice
    (d / "notes.docx").write_bytes(b"PK\x03\x04 docx")
    sub = ingest(d, tmp_path, a)
    assert [x.question_id for x in sub.answers] == [f"q{n}" for n in range(1, 12)]
    assert {x.file for x in sub.answers} == {"rae/part1.md", "rae/part2/rest.txt"}
    msgs = [p.message for p in sub.problems]
    assert any("q6 is answered in both" in m for m in msgs)
    assert any("notes.docx" in m and "unsupported" in m for m in msgs)
    assert sub.ok and not any(p.fatal for p in sub.problems)


def test_folder_notebook_and_py_code_order(a: Assignment, tmp_path: Path) -> None:
    d = tmp_path / "sam"
    d.mkdir()
    (d / "b_solution.py").write_text("y = 2\n")
    (d / "a_answers.ipynb").write_text(json.dumps(_typical_notebook()))
    sub = ingest(d, tmp_path, a)
    assert [c.file for c in sub.code_cells] == ["sam/a_answers.ipynb"] * 3 + ["sam/b_solution.py"]
    assert len(sub.answers) == 11


def test_folder_too_many_files(a: Assignment, tmp_path: Path) -> None:
    d = tmp_path / "tom"
    d.mkdir()
    for i in range(60):
        (d / f"f{i:02}.txt").write_text("x")
    _assert_error_result(ingest(d, tmp_path, a), "tom", "more than 50 files")
    sub = ingest(d, tmp_path, a, IngestLimits(max_files=100))
    assert sub.ok


def test_folder_empty_or_unsupported_only(a: Assignment, tmp_path: Path) -> None:
    (tmp_path / "uma").mkdir()
    _assert_error_result(ingest(tmp_path / "uma", tmp_path, a), "holds no")
    (tmp_path / "vic").mkdir()
    (tmp_path / "vic" / "answers.pdf").write_bytes(b"%PDF-1.4")
    sub = ingest(tmp_path / "vic", tmp_path, a)
    assert not sub.ok and any("answers.pdf" in p.message for p in sub.problems)


def test_symlinks_not_followed(a: Assignment, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("## Q1\nsecret answer")
    d = tmp_path / "subs"
    (d / "wes").mkdir(parents=True)
    (d / "wes" / "answers.md").symlink_to(secret)
    (d / "xia.md").symlink_to(secret)
    sub = ingest(d / "wes", d, a)
    assert not sub.ok and "symbolic link" in " ".join(p.message for p in sub.problems)
    assert all("secret" not in x.text for x in sub.answers)
    sub = ingest(d / "xia.md", d, a)
    _assert_error_result(sub, "symbolic link")


# ----------------------------------------------------------------------------- bad files
def test_unsupported_type_at_top_level(a: Assignment, tmp_path: Path) -> None:
    f = tmp_path / "yan.docx"
    f.write_bytes(b"PK\x03\x04 word")
    sub = ingest(f, tmp_path, a)
    _assert_error_result(sub, "yan.docx", "unsupported file type .docx")
    assert "hand in .ipynb, .py, .md or .txt" in sub.problems[0].fix
    assert sub.student_id == "yan"
    z = tmp_path / "zed.zip"
    z.write_bytes(b"PK\x03\x04")
    assert "extract" in ingest(z, tmp_path, a).problems[0].fix


@pytest.mark.parametrize(("name", "data", "words"), [
    ("empty.md", b"", ("empty",)),
    ("blank.txt", b"  \n\n\t \n", ("empty",)),
    ("blank16.txt", "   \n".encode("utf-16"), ("blank",)),
    ("binary.txt", b"\x00\x01\x02\x03\xff\xfe\xfa" * 50, ("binary",)),
    ("image.md", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, ("png image",)),
    ("doc.py", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\x00", ("pdf",)),
    ("nb.ipynb", b"\x00" * 100, ("binary",)),
    ("ctrl.txt", bytes(range(1, 9)) * 300, ("binary",)),
    ("bad.ipynb", b'{"cells": [', ("not valid json",)),
    ("bad2.ipynb", b"not json at all", ("not valid json",)),
    ("list.ipynb", b"[1, 2, 3]", ("not a jupyter notebook",)),
])
def test_unreadable_file_gives_error_result(name: str, data: bytes, words: tuple[str, ...],
                                            a: Assignment, tmp_path: Path) -> None:
    f = tmp_path / name
    f.write_bytes(data)
    sub = ingest(f, tmp_path, a)
    _assert_error_result(sub, name, *words)
    assert sub.student_id == Path(name).stem and not sub.answers and not sub.code_cells


def test_file_over_size_limit(a: Assignment, tmp_path: Path) -> None:
    f = tmp_path / "big.md"
    with f.open("wb") as fh:  # 50 MB, sparse: quick to make, never read whole
        fh.write(b"## Q1\n")
        fh.truncate(50 * 1000 * 1000)
    sub = ingest(f, tmp_path, a)
    _assert_error_result(sub, "big.md", "47.7 mib", "limit of 20 mib")
    assert "clear" in sub.problems[0].fix.lower()
    small = ingest(tmp_path / "big.md", tmp_path, a, IngestLimits(max_file_bytes=10**9))
    assert small.files[0].size == 50 * 1000 * 1000


def test_configurable_size_limit(a: Assignment, tmp_path: Path) -> None:
    f = tmp_path / "mid.md"
    f.write_text(_md_answers())
    assert ingest(f, tmp_path, a).ok
    _assert_error_result(ingest(f, tmp_path, a, IngestLimits(max_file_bytes=100)), "limit")


@pytest.mark.parametrize(("encoding", "note"), [
    ("utf-8", None), ("utf-8-sig", None), ("utf-16", None), ("utf-32", None),
    ("utf-16-le", "utf-16-le"), ("cp1252", "windows-1252"), ("latin-1", "windows-1252"),
])
def test_encodings(encoding: str, note: str | None, a: Assignment, tmp_path: Path) -> None:
    text = _md_answers(range(1, 4)) + "\n\nCafé — naïve résumé “quoted”"
    if encoding == "latin-1":
        text = text.replace("—", "-").replace("“", '"').replace("”", '"')
    f = tmp_path / "enc.md"
    f.write_bytes(text.encode(encoding))
    sub = ingest(f, tmp_path, a)
    assert sub.ok and [x.question_id for x in sub.answers] == ["q1", "q2", "q3"]
    assert "Café" in sub.answers[2].text
    notes = [p for p in sub.problems if "enc.md" in p.message]
    if note is None:
        assert not notes
    else:
        assert notes and not notes[0].fatal and note in notes[0].message.lower()


def test_stray_nul_bytes_dropped(a: Assignment, tmp_path: Path) -> None:
    f = tmp_path / "nul.md"
    f.write_bytes(_md_answers().encode().replace(b"Both hold", b"Both\x00 hold"))
    sub = ingest(f, tmp_path, a)
    assert sub.ok and len(sub.answers) == 11
    assert any("NUL" in p.message and not p.fatal for p in sub.problems)


def test_decode_rejects_bad_bom() -> None:
    with pytest.raises(IngestError):
        decode(b"\xff\xfe\x00\xd8")  # UTF-16 BOM, then a lone surrogate


# ----------------------------------------------------------------------------- hashing
def test_content_hash_stable_and_sensitive(a: Assignment, tmp_path: Path) -> None:
    d = tmp_path / "ann"
    d.mkdir()
    (d / "a.md").write_text(_md_answers(range(1, 3)))
    (d / "b.py").write_text("x = 1\n")
    h1 = ingest(d, tmp_path, a).content_hash
    assert h1 == ingest(d, tmp_path, a).content_hash
    # the same content elsewhere gives the same hash (relative paths only)
    other = tmp_path / "copy"
    other.mkdir()
    (other / "ann").mkdir()
    for f in d.iterdir():
        (other / "ann" / f.name).write_bytes(f.read_bytes())
    assert ingest(other / "ann", other, a).content_hash == h1
    (d / "b.py").write_text("x = 2\n")
    assert ingest(d, tmp_path, a).content_hash != h1
    (d / "b.py").rename(d / "c.py")
    assert ingest(d, tmp_path, a).content_hash not in (h1,)
    single = tmp_path / "one.md"
    single.write_bytes(b"## Q1\nhi")
    sub = ingest(single, tmp_path, a)
    assert sub.files[0].sha256 == hashlib.sha256(b"## Q1\nhi").hexdigest()
    assert len(sub.content_hash) == 64


# ----------------------------------------------------------------------------- discover
def test_discover(tmp_path: Path) -> None:
    for name in ["bob.ipynb", "alice.md", "carl.docx", "Dave.txt", ".hidden.md"]:
        (tmp_path / name).write_text("x")
    for name in ["eve", "__pycache__", ".ipynb_checkpoints", ".git", "__MACOSX"]:
        (tmp_path / name).mkdir()
    (tmp_path / "Thumbs.db").write_bytes(b"\0")
    assert [p.name for p in discover(tmp_path)] == [
        "Dave.txt", "alice.md", "bob.ipynb", "carl.docx", "eve"]
    with pytest.raises(IngestError):
        discover(tmp_path / "nope")


def test_batch_goes_on(a: Assignment, tmp_path: Path) -> None:
    (tmp_path / "good.md").write_text(_md_answers())
    (tmp_path / "empty.md").write_bytes(b"")
    (tmp_path / "broken.ipynb").write_text("{")
    (tmp_path / "bin.txt").write_bytes(b"\x00\x01" * 10)
    (tmp_path / "word.docx").write_bytes(b"PK")
    (tmp_path / "nb.ipynb").write_text(json.dumps(_typical_notebook()))
    subs = {s.student_id: s for s in (ingest(p, tmp_path, a) for p in discover(tmp_path))}
    assert sorted(subs) == ["bin", "broken", "empty", "good", "nb", "word"]
    assert subs["good"].ok and subs["nb"].ok and len(subs["nb"].answers) == 11
    for bad in ("bin", "broken", "empty", "word"):
        assert not subs[bad].ok


@pytest.mark.parametrize("seed", range(20))
def test_never_raises_on_garbage(seed: int, a: Assignment, tmp_path: Path) -> None:
    import random

    rng = random.Random(seed)
    ext = [".md", ".txt", ".py", ".ipynb"][seed % 4]
    kind = seed // 4
    if kind == 0:
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 3000)))
    elif kind == 1:  # plausible text with labels in odd places
        words = ["Q3:", "###", "**", "1.", "(2)", "[Q4]", "```", "# %%", "\n", "?", "Answer",
                 "tf.range", "IV.", "Part B", "def huber_fn():", '"""', "'''", "\t", "—"]
        data = " ".join(rng.choice(words) for _ in range(400)).encode()
    elif kind == 2:  # a notebook with odd cell contents
        data = json.dumps({"nbformat": 4, "nbformat_minor": 2, "metadata": {}, "cells": [
            {"cell_type": rng.choice(["markdown", "code", "raw", "odd"]),
             "source": rng.choice([None, 3, ["a", "b"], "### Q1\nx"]),
             "metadata": rng.choice([None, {"tags": "q1"}, {"tags": [None, 3]},
                                     {"question": ["x"]}]),
             "outputs": rng.choice([None, [1], [{"output_type": "stream"}]])}
            for _ in range(10)]}).encode()
    elif kind == 3:  # deeply nested brackets / huge line
        data = ("[" * 5000 + "\n" + "x" * 200_000).encode()
    else:
        data = ("\n".join(f"{i}. " + "1. " * (i % 7) for i in range(3000))).encode()
    f = tmp_path / f"g{ext}"
    f.write_bytes(data)
    sub = ingest(f, tmp_path, a)
    assert isinstance(sub, Submission) and sub.student_id == "g"
    assert not any("internal error" in p.message for p in sub.problems), sub.problems


def test_ingest_does_not_import_tensorflow(tmp_path: Path) -> None:
    (tmp_path / "x.ipynb").write_text(json.dumps(_typical_notebook()))
    (tmp_path / "y.py").write_text(PY)
    code = (
        "import sys\nfrom pathlib import Path\nfrom grader.assignment import load_assignment\n"
        "from grader.ingest import discover, ingest\n"
        f"a = load_assignment({str(ROOT / 'assignments' / 'dl_assignment_4')!r})\n"
        f"root = Path({str(tmp_path)!r})\n"
        "subs = [ingest(p, root, a) for p in discover(root)]\n"
        "assert all(s.ok for s in subs)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')]\n"
        "assert not bad, bad\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)


def test_entries_sharing_a_student_id_are_one_submission(tmp_path: Path) -> None:
    from grader.assignment import load_assignment
    from grader.ingest import ingest_all

    a = load_assignment(Path(__file__).resolve().parent.parent / "assignments" / "dl_assignment_4")
    (tmp_path / "alice.md").write_text("## Q1\nTensorFlow is an open-source library.\n",
                                       encoding="utf-8")
    (tmp_path / "alice.py").write_text("def huber_fn(y_true, y_pred):\n    return 0\n",
                                       encoding="utf-8")
    (tmp_path / "bob.md").write_text("## Q1\nA library.\n", encoding="utf-8")
    subs = ingest_all(tmp_path, a)
    assert [s.student_id for s in subs] == ["alice", "bob"]
    alice = subs[0]
    assert {f.path for f in alice.files} == {"alice.md", "alice.py"}
    assert alice.answer("q1") is not None and alice.code_cells
    assert any("graded together" in p.message and not p.fatal for p in alice.problems)
    again = ingest_all(tmp_path, a)[0]
    assert again.content_hash == alice.content_hash


def test_odd_bytes_and_lone_surrogates_never_stop_a_batch(tmp_path: Path) -> None:
    import os as _os

    from grader.assignment import load_assignment
    from grader.ingest import ingest_all

    a = load_assignment(Path(__file__).resolve().parent.parent / "assignments" / "dl_assignment_4")
    _os.makedirs(tmp_path, exist_ok=True)
    with open(_os.path.join(_os.fsencode(tmp_path), b"bad\xffname.md"), "wb") as fh:
        fh.write(b"## Q1\nTensorFlow is a library.\n")
    nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": "## Q1\nlone \\ud800 x"}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "sur.ipynb").write_text(json.dumps(nb).replace("\\\\ud800", "\\ud800"),
                                        encoding="utf-8")
    subs = ingest_all(tmp_path, a)
    assert len(subs) == 2
    for s in subs:
        json.dumps([s.student_id, s.path, [x.text for x in s.answers]]).encode("utf-8")
        for ans in s.answers:
            ans.text.encode("utf-8")
        s.student_id.encode("utf-8")
