"""Frozen dataclasses that carry a submission through the pipeline.

ingest -> (written) score and (code) run+judge -> grade -> store -> render.

A student's failure is data here: a ``status`` and a ``message`` an instructor can
act on (which file, what was wrong, what to do), never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

FileKind = Literal["ipynb", "py", "md", "txt"]
CellKind = Literal["markdown", "code", "raw"]
LabelSource = Literal["tag", "metadata", "heading", "content", "order"]


# --------------------------------------------------------------------------- ingest
@dataclass(frozen=True)
class SourceFile:
    """One file of a submission."""

    path: str  # relative to the submissions root, POSIX separators
    kind: FileKind
    sha256: str
    size: int


@dataclass(frozen=True)
class Cell:
    """A cell of a submission, whatever the file format.

    A ``.py`` file is one code cell, or one per ``# %%`` marker; comments and
    module-level strings holding answers become markdown cells. A ``.md``/``.txt``
    file is one markdown cell per block the splitter finds.
    """

    kind: CellKind
    source: str
    file: str  # SourceFile.path
    index: int  # position inside that file
    tags: tuple[str, ...] = ()
    question_hint: str | None = None  # from cell metadata / tags, e.g. "q3"


@dataclass(frozen=True)
class Answer:
    """The student's answer to one written question."""

    question_id: str
    text: str
    file: str
    cells: tuple[int, ...]  # cell indices (in ``file``) the text came from
    label: LabelSource  # how the answer was assigned to the question
    note: str = ""  # e.g. "heading said Q4 but content matches Q5"


@dataclass(frozen=True)
class CodeCell:
    """A code cell as the sandbox will run it, in order."""

    source: str
    file: str
    index: int
    line: int = 1  # first line of the cell inside ``file`` (for error locations)


@dataclass(frozen=True)
class Problem:
    """Something wrong with the input that an instructor can act on."""

    file: str
    message: str  # what was wrong
    fix: str = ""  # what to do
    fatal: bool = False  # True when the file contributed nothing

    def describe(self) -> str:
        """One line for a person: "file: what was wrong (fix: what to do)"."""
        return f"{self.file}: {self.message}" + (f" (fix: {self.fix})" if self.fix else "")


@dataclass(frozen=True)
class Submission:
    """One student's submission after ingest."""

    student_id: str
    path: str  # the file or folder, relative to the submissions root
    content_hash: str  # sha256 over the files' paths and contents
    files: tuple[SourceFile, ...]
    answers: tuple[Answer, ...]
    code_cells: tuple[CodeCell, ...]
    problems: tuple[Problem, ...] = ()

    @property
    def ok(self) -> bool:
        """False when no file of the submission could be read at all."""
        fatal = {p.file for p in self.problems if p.fatal}
        return any(f.path not in fatal for f in self.files)

    def answer(self, question_id: str) -> Answer | None:
        for a in self.answers:
            if a.question_id == question_id:
                return a
        return None


NO_CODE_MESSAGE = ("no code found in the submission: hand in the code in notebook code cells "
                   "or a .py file")


# --------------------------------------------------------------------------- judging
Verdict = Literal["awarded", "partial", "not_awarded", "error"]


@dataclass(frozen=True)
class PointResult:
    """The outcome of one rubric point (written or code)."""

    point_id: str  # e.g. "q3.dtype", "c2.config" -- as the spec writes them
    owner_id: str  # question id ("q3") or task id ("c2")
    awarded: float
    max_points: float
    verdict: Verdict
    feedback: str = ""  # for the student: what was checked, what went wrong
    detail: str = ""  # for the instructor only (may reveal expected values)
    evidence: str = ""  # the student's span that earned (or lost) the point
    confidence: float = 1.0
    needs_review: bool = False


TaskStatus = Literal["ok", "error", "timeout", "limit", "missing", "not_runnable", "skipped"]


@dataclass(frozen=True)
class CellReport:
    """What happened to one code cell when the submission was loaded."""

    file: str
    index: int
    status: Literal["ok", "error", "skipped"]
    message: str = ""  # exception summary, or why the cell was not executed
    ename: str = ""
    evalue: str = ""
    traceback: str = ""


@dataclass(frozen=True)
class TaskResult:
    """The outcome of one code task (all its rubric points)."""

    task_id: str
    status: TaskStatus
    message: str  # student-facing summary ("time limit of 60 s hit", ...)
    points: tuple[PointResult, ...]
    duration_s: float = 0.0
    detail: str = ""  # instructor-only
    stdout: str = ""  # tail of what the student's code printed
    device: str = "cpu"


@dataclass(frozen=True)
class CodeRun:
    """Everything the sandbox produced for one submission."""

    load_status: Literal["ok", "error", "timeout", "limit", "no_code"]
    load_message: str
    cells: tuple[CellReport, ...]
    tasks: tuple[TaskResult, ...]
    layers: tuple[str, ...] = ()  # isolation layers active, e.g. ("seccomp", "landlock")
    duration_s: float = 0.0


GradeStatus = Literal["graded", "needs_review", "error"]


@dataclass(frozen=True)
class Grade:
    """A student's full result for one assignment."""

    student_id: str
    assignment_id: str
    submission: Submission
    written: tuple[PointResult, ...]
    code: CodeRun | None
    total: float
    max_total: float
    status: GradeStatus
    errors: tuple[str, ...] = field(default=())

    @property
    def points(self) -> tuple[PointResult, ...]:
        code_points = tuple(p for t in self.code.tasks for p in t.points) if self.code else ()
        return self.written + code_points
