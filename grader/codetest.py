"""The format instructors write code tests in: observe in the student's process,
judge in the grader's.

A tests file (``hidden_tests`` / ``public_tests`` of an assignment) defines a
module-level ``suite = Suite()`` and, per code task, one *observe* function and one
*judge* function::

    from grader.codetest import Suite, Check, close

    suite = Suite()

    @suite.observe("c1")
    def observe_c1(ns, ctx):
        huber_fn = ns["huber_fn"]             # the student's (or the reference's) object
        x = ctx.rng.normal(size=(32, 4)).astype("float32")
        with ctx.section("values"):           # an exception here is recorded, not fatal
            ctx.record("values", huber_fn(x, x * 0.5))

    @suite.judge("c1")
    def judge_c1(student, reference, ctx):
        ok, why = close(student.get("values"), reference.get("values"), atol=1e-4)
        yield Check("c1.values", ok, feedback="..." if ok else why)

The observe function runs twice with the same seed: once in a sandbox on the
instructor's reference solution, once in a sandbox on the student's code. It only
*records observations* (numbers, arrays, strings, configs, trained weights). Those
travel to the grader's process as JSON plus ``.npz`` (``allow_pickle=False``), never
pickle. The judge function runs in the grader's process only: it compares the two
:class:`Observation` objects and yields one :class:`Check` per rubric point. Expected
values therefore never enter the student's process, and nothing the student's code
does to numpy, TensorFlow or assertions can change a verdict.

``Check.feedback`` is shown to the student: say what was tested and what went wrong,
never the hidden inputs or expected values. ``Check.detail`` is for the instructor.

Where each half runs (the runtime is :mod:`grader.sandbox`):

* Only the *observe side* of a tests file enters the sandbox: before it gets there,
  the file is cut down (statically) to the observe functions and the module-level
  names they reach (helpers, constants, imports); judge functions, and constants
  only judges use, are blanked out. Keep expected values in judges (or let them come
  from the reference's observations), never in what an observe function uses.
* An observe function runs after the student's cells were loaded, in order, each task
  under its own time limit; ``ns`` is the student's namespace (a task whose
  ``names`` are not all defined is not observed and scores 0). Inside the sandbox:
  no network, no new processes, the file system read-only except ``ctx.scratch``;
  ``ctx.data_dir`` (the assignment's ``data:`` folder) is readable. Import
  TensorFlow/Keras inside the observe functions (they are already loaded, so this
  is free), and only NumPy and this module at the top of the file, so that the
  grader's process does not import TensorFlow to run the judges.
* Before each task the Python, NumPy and Keras/TensorFlow seeds are set from
  ``(seed, task id)``; ``ctx.rng`` is a fresh generator from the same pair. Draw
  every random input from ``ctx.rng`` before calling student code, so the reference
  and every student see the same inputs.
* ``ctx.record`` takes None, bool, int, float, str, NumPy arrays (numeric or string),
  tensors (via ``.numpy()``), and lists/tuples/dicts of those; anything else is
  recorded as that key's error. An exception inside ``ctx.section(key)`` (anything,
  ``SystemExit`` included) is recorded with a traceback of the student's own lines.
  A ``MemoryError`` (or TensorFlow's out-of-memory error) anywhere in a task makes it
  hit the memory limit: the task scores 0, whatever was recorded.
* ``ctx.task_id`` and ``ctx.device`` (``"cpu"`` or ``"gpu"``) are there too.
* A judge runs in the grader's process on two :class:`Observation` objects; if it
  raises, or yields no :class:`Check` for a rubric point, that point goes to review.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

# A value that can be observed: None, bool, int, float, str, numpy arrays (or
# anything with .numpy()), and lists / dicts (str keys) of those.
Observable = Any


@dataclass(frozen=True)
class ErrorInfo:
    """An exception raised by the student's code while observing (data, not raised)."""

    ename: str
    evalue: str
    traceback: str  # student-visible: frames of the student's own files only
    line: int | None = None  # the student's own line where it happened
    file: str | None = None

    def summary(self) -> str:
        where = f" (line {self.line} of {self.file})" if self.line and self.file else ""
        return f"{self.ename}: {self.evalue}{where}"

    def where(self) -> str:
        """Where in the student's own code it happened, for feedback: " (FILE, cell N,
        line M)" from the last frame of the student's traceback; for an error raised
        inside a ``tf.function``, the cell and line TensorFlow names in its "in user
        code:" message; else the recorded line; "" if none is known."""
        frames = _FRAME.findall(self.traceback or "")
        if frames:
            file, loc = frames[-1]
            return f" ({file}, {loc})"
        inner = _TF_FRAME.findall(self.evalue or "")
        if inner:
            cell, line = inner[-1]
            return (f" (inside a tf.function: {'cell ' + cell + ', ' if cell != '0' else ''}"
                    f"line {line})")
        return f" ({self.file}, line {self.line})" if self.line and self.file else ""


# a frame of the student's own traceback: '  File "name.ipynb", cell 3, line 7'
_FRAME = re.compile(r'^  File "([^"]+)", ((?:cell \d+, )?line \d+)', re.M)
# a frame of the student's cell file (grader.sandbox.cells.cell_filename) inside
# TensorFlow's "in user code:" message
_TF_FRAME = re.compile(r'File "[^"]*/\d{3}_[^"/]*_cell(\d+)\.py", line (\d+)')


@dataclass(frozen=True)
class Check:
    """The verdict on one rubric point."""

    point: str  # rubric-point id, e.g. "c1.values"
    passed: bool
    feedback: str = ""  # for the student
    detail: str = ""  # for the instructor only


class ObserveContext(Protocol):
    """What an observe function gets besides the student's namespace."""

    seed: int  # per batch; the same for the reference and every student
    rng: np.random.Generator  # seeded from (seed, task id): fresh inputs every batch
    data_dir: Path | None  # the assignment's data folder (read-only)
    scratch: Path  # the only writable folder

    def record(self, key: str, value: Observable) -> None:
        """Record an observation (written to the channel at once)."""

    def section(self, key: str) -> Any:
        """Context manager: an exception inside is recorded as ``key``'s error."""

    def trace_count(self, fn: Any) -> int | None:
        """Number of concrete traces of a ``tf.function`` (None if not one)."""

    # also available: ``task_id: str`` and ``device: str`` ("cpu" or "gpu")


@dataclass(frozen=True)
class Observation:
    """What one run of an observe function produced, as seen by the judge."""

    values: Mapping[str, Any] = field(default_factory=dict)
    errors: Mapping[str, ErrorInfo] = field(default_factory=dict)  # section -> error
    status: str = "ok"  # ok | error (observe raised outside sections)
    stdout: str = ""

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def has(self, key: str) -> bool:
        return key in self.values

    def error(self, key: str) -> ErrorInfo | None:
        return self.errors.get(key)


@dataclass(frozen=True)
class JudgeContext:
    """What a judge function gets besides the two observations."""

    task_id: str
    source: str  # the student's code, as run (all executed cells joined)
    seed: int


ObserveFn = Callable[[Mapping[str, Any], ObserveContext], None]
JudgeFn = Callable[[Observation, Observation, JudgeContext], Iterable[Check]]


@dataclass
class TaskTests:
    task_id: str
    observe: ObserveFn | None = None
    judge: JudgeFn | None = None


class Suite:
    """The registry of observe/judge functions of one tests file."""

    def __init__(self) -> None:
        self.tasks: dict[str, TaskTests] = {}

    def _entry(self, task_id: str) -> TaskTests:
        return self.tasks.setdefault(task_id, TaskTests(task_id))

    def observe(self, task_id: str) -> Callable[[ObserveFn], ObserveFn]:
        def deco(fn: ObserveFn) -> ObserveFn:
            self._entry(task_id).observe = fn
            return fn

        return deco

    def judge(self, task_id: str) -> Callable[[JudgeFn], JudgeFn]:
        def deco(fn: JudgeFn) -> JudgeFn:
            self._entry(task_id).judge = fn
            return fn

        return deco


# --------------------------------------------------------------------------- helpers
def describe(value: Any) -> str:
    """A short student-safe description of a value: type, shape, dtype (no numbers)."""
    if value is None:
        return "nothing (None)"
    if isinstance(value, np.ndarray):
        return f"an array of shape {tuple(value.shape)} and dtype {value.dtype}"
    return f"a {type(value).__name__}"


def close(
    got: Any, want: Any, *, atol: float = 1e-4, rtol: float = 1e-4
) -> tuple[bool, str]:
    """Compare two observed values (arrays or numbers) within atol OR rtol.

    Returns (ok, student-safe reason). The reason names shapes and dtypes, and the
    size of the error, never the expected values.
    """
    if want is None:
        return False, "the reference produced no value (instructor: check the reference)"
    if got is None:
        return False, "your code produced no value"
    try:
        g = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return False, f"expected numbers, got {describe(got)}"
    w = np.asarray(want, dtype=np.float64)
    if g.shape != w.shape:
        return False, f"wrong shape: got {tuple(g.shape)}, expected {tuple(w.shape)}"
    if not np.all(np.isfinite(g) == np.isfinite(w)):
        return False, "your result has NaN or infinite values where it should not"
    fin = np.isfinite(w)
    err = np.abs(g[fin] - w[fin])
    tol = np.maximum(atol, rtol * np.abs(w[fin]))
    if err.size and not np.all(err <= tol):
        # Only a fraction: an absolute error would give the expected value away
        # whenever the student's value is 0.
        frac = float(np.mean(err > tol))
        return False, (
            f"values differ from the reference: {frac:.0%} of entries are off by more "
            f"than the tolerance ({atol:g} absolute or {rtol:g} relative)"
        )
    return True, ""


def is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
