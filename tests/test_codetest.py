"""The instructor's test-writing API (grader.codetest): pieces usable without a sandbox."""

from __future__ import annotations

import pytest

from grader.codetest import ErrorInfo

_TF_MSG = ('in user code:\n\n    File "/tmp/grader-sb-x/run-y/code/002_alice_cell4.py", '
           'line 9, in huber_fn  *\n        return tf.where(a, b)\n\n    TypeError: bad')


@pytest.mark.parametrize(("traceback", "evalue", "line", "file", "where"), [
    ('Traceback (most recent call last):\n  File "alice.ipynb", cell 3, line 7, in f\n'
     '  File "alice.ipynb", cell 4, line 2, in g\n', "x", None, None,
     " (alice.ipynb, cell 4, line 2)"),                          # the last own frame
    ('  File "bob.py", line 12, in loss\n', "x", 3, "bob.py", " (bob.py, line 12)"),
    ("", _TF_MSG, None, None, " (inside a tf.function: cell 4, line 9)"),
    ("", _TF_MSG.replace("_cell4", "_cell0"), None, None,
     " (inside a tf.function: line 9)"),                          # a script: no cells
    ("", "x", 5, "carol.py", " (carol.py, line 5)"),             # only the recorded line
    ("", "x", None, None, ""),
])
def test_error_location_for_feedback(traceback: str, evalue: str, line: int | None,
                                     file: str | None, where: str) -> None:
    e = ErrorInfo(ename="TypeError", evalue=evalue, traceback=traceback, line=line, file=file)
    assert e.where() == where
