"""Cells: magics, real files, student-only tracebacks; tests files cut down for the
sandbox; the JSON + npz channel. No sandbox processes here."""

from __future__ import annotations

import os
import struct

import numpy as np
import pytest

from grader.models import CodeCell
from grader.sandbox import cells as cellmod
from grader.sandbox.channel import (
    HEADER,
    MAGIC,
    NotObservable,
    Reader,
    Writer,
    arrays_to_npz,
    decode,
    encode,
    npz_to_arrays,
)
from grader.sandbox.observe_source import child_source
from tests.sandbox_support import ASSIGNMENT


def prep(src: str, file: str = "nb.ipynb", index: int = 0, line: int = 1) -> cellmod.PreparedCell:
    return cellmod.prepare_cell(CodeCell(source=src, file=file, index=index, line=line))


def test_line_magics_and_shell_escapes_are_not_executed_and_listed() -> None:
    src = ("import numpy as np\n%matplotlib inline\n!pip install foo\nfiles = !ls -l\n"
           "t = %timeit -o np.zeros(3)\nnp.sum?\nfor i in range(2):\n    !echo hi\nx = 1\n")
    c = prep(src)
    lines = c.source.split("\n")
    assert len(lines) == len(src.split("\n"))  # line numbers kept
    assert lines[1] == "pass" and lines[2] == "pass"
    assert lines[3] == "files = None" and lines[4] == "t = None"
    assert lines[5] == "pass" and lines[7] == "    pass" and lines[8] == "x = 1"
    compile(c.source, "x", "exec")
    text = " | ".join(c.skipped)
    for bit in ("%matplotlib inline", "!pip install foo", "files = !ls -l", "np.sum?",
                "(line 2)", "(line 8)"):
        assert bit in text
    assert cellmod.not_executed([c])[0].startswith("nb.ipynb, cell 0: line magic")


def test_percent_and_bang_inside_code_strings_and_brackets_are_kept() -> None:
    src = ('s = """\n%not a magic\n!nor a shell\n"""\ny = (1 +\n     2)\nz = 5 % 2\n'
           'w = 1 != 2\nv = x if x else "!"\nu = [\n  "%s" % 3,\n]\n')
    c = prep(src)
    assert c.source == src and not c.skipped


def test_cell_magics() -> None:
    skipped = prep("%%bash\nrm -rf /\n")
    assert not skipped.run and "%%bash" in skipped.skipped[0]
    assert not prep("%%writefile x.py\nprint(1)\n").run
    timed = prep("%%time\ndef f():\n    return 1\n")
    assert timed.run and timed.source.startswith("# %%time")
    assert timed.source.count("\n") == 3
    assert prep("%%capture out\nx = 1\n").run


def test_get_ipython_calls_in_exported_notebooks() -> None:
    c = prep("get_ipython().run_line_magic('matplotlib', 'inline')\n"
             "get_ipython().system('pip install x')\n"
             "get_ipython().run_cell_magic('time', '', 'x = 1\\n')\n")
    assert c.run and len(c.skipped) == 2
    assert "magic %matplotlib" in c.skipped[0] and "shell command" in c.skipped[1]


def test_judge_source_joins_executed_cells_only() -> None:
    cs = [prep("a = 1"), prep("%%bash\necho"), prep("b = 2\n!ls")]
    assert cellmod.judge_source(cs) == "a = 1\n\nb = 2\npass"


def test_where_and_filenames() -> None:
    nb = prep("x", file="a b.ipynb", index=3)
    py = prep("x", file="sol.py", line=10)
    assert nb.where(2) == "cell 3, line 2" and py.where(2) == "line 11"
    assert cellmod.cell_filename(nb, 4) == "004_a_b_cell3.py"


def test_student_traceback_keeps_only_the_students_frames(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cell = prep("def f(x):\n    return 1 / x\n", file="sub.py", line=20)
    path = tmp_path / "000_sub_cell0.py"
    path.write_text(cell.source)
    ns: dict[str, object] = {}
    exec(compile(cell.source, str(path), "exec"), ns)

    def grader_side() -> None:
        ns["f"](0)  # type: ignore[operator]

    with pytest.raises(ZeroDivisionError) as info:
        grader_side()
    loc = cellmod.student_traceback(info.value, {str(path): cell})
    assert 'File "sub.py", line 21, in f' in loc.text
    assert "return 1 / x" in loc.text
    assert "grader_side" not in loc.text and str(tmp_path) not in loc.text
    assert loc.text.endswith("ZeroDivisionError: division by zero")
    assert (loc.file, loc.line) == ("sub.py", 21)


def test_syntax_error_location(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cell = prep("x = 1\ny = (\n", file="nb.ipynb", index=2)
    path = tmp_path / "c.py"
    with pytest.raises(SyntaxError) as info:
        compile(cell.source, str(path), "exec")
    loc = cellmod.student_traceback(info.value, {str(path): cell})
    assert 'File "nb.ipynb", cell 2' in loc.text and "SyntaxError" in loc.text


def test_tests_file_is_cut_down_to_the_observe_side() -> None:
    text = (ASSIGNMENT / "tests" / "hidden.py").read_text()
    cut = child_source(text)
    assert cut.count("\n") == text.count("\n")  # line numbers kept
    assert "def judge_" not in cut and "SECRET_EXPECTED" not in cut and "1234.5" not in cut
    assert "def observe_t1" in cut and "suite = Suite()" in cut
    compile(cut, "hidden.py", "exec")
    # a helper and a constant used by an observe function stay; judge-only ones go
    src = ("import numpy as np\nfrom grader.codetest import Suite, Check\nsuite = Suite()\n"
           "SIZES = (3, 4)\nEXPECTED = [1, 2]\n\n"
           "def make(rng):\n    return rng.normal(size=SIZES)\n\n"
           "def expected():\n    return EXPECTED\n\n@suite.observe('a')\ndef obs(ns, ctx):\n"
           "    ctx.record('v', ns['f'](make(ctx.rng)))\n\n@suite.judge('a')\n"
           "def jud(s, r, ctx):\n    yield Check('a.v', s.get('v') == expected())\n")
    cut = child_source(src)
    assert "SIZES = (3, 4)" in cut and "def make" in cut
    assert "EXPECTED" not in cut and "def expected" not in cut and "def jud" not in cut


def test_encode_decode_roundtrip_without_pickle() -> None:
    value = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": [1, 2.5, True, None, "s"],
             "c": (np.int64(3), np.float32(0.5)), 7: {"nested": np.array([1, 2])},
             "s": np.array(["x", "y"])}
    enc, arrays = encode(value)
    blob = arrays_to_npz(arrays)
    back = decode(enc, npz_to_arrays(blob))
    assert back["a"].dtype == np.float32 and np.array_equal(back["a"], value["a"])
    assert back["b"] == [1, 2.5, True, None, "s"] and back["c"] == [3, 0.5]
    assert np.array_equal(back[7]["nested"], [1, 2])
    assert list(back["s"]) == ["x", "y"]


def test_objects_are_not_observable() -> None:
    with pytest.raises(NotObservable):
        encode(object())
    with pytest.raises(NotObservable):
        encode(np.array([object()], dtype=object))
    # an .npz holding pickled objects is refused when read
    import io

    buf = io.BytesIO()
    np.savez(buf, a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ValueError):
        npz_to_arrays(buf.getvalue())


def test_reader_accepts_frames_and_detects_tampering() -> None:
    r, w = os.pipe()
    token = b"t" * 16
    writer = Writer(w, token)
    writer.send({"t": "rec", "key": "k"}, b"blob")
    writer.send({"t": "task_end"})
    os.close(w)
    data = os.read(r, 1 << 16)
    os.close(r)
    reader = Reader(token)
    got = list(reader.feed(data[:7])) + list(reader.feed(data[7:]))  # split frames are fine
    assert [m["t"] for m, _ in got] == ["rec", "task_end"] and got[0][1] == b"blob"
    assert not reader.broken
    forged = HEADER.pack(MAGIC, b"x" * 16, 2, 0) + b"{}"
    assert not list(reader.feed(forged)) and "bad header" in (reader.broken or "")
    plain = Reader(token)
    assert not list(plain.feed(b'{"t": "task_end", "task": "t1"}\n' + b"\0" * 40))
    assert plain.broken
    junk = Reader(token)
    frame = HEADER.pack(MAGIC, token, 3, 0) + b"{x}"
    assert not list(junk.feed(frame)) and junk.broken
    assert struct.calcsize("!4s16sII") == HEADER.size
