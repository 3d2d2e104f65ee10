"""Grade fixtures for the report tests, built from the frozen dataclasses directly.

Imported by tests/test_report.py and tests/test_report_browser.py.
``python tests/data/report/fixtures.py OUT`` renders the demo class into OUT.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from grader.assignment import Assignment, CodeTask, Question, RubricPoint
from grader.models import (
    Answer,
    CellReport,
    CodeRun,
    Grade,
    PointResult,
    Problem,
    SourceFile,
    Submission,
    TaskResult,
)

SCRIPT = "<script>alert(1)</script>"
TEMPLATE = "{{ 7*7 }}"
HOSTILE_ID = "O'Brien <b>Ünïcødé</b> & co/../x"


def demo_assignment() -> Assignment:
    def rp(pid: str, pts: float, desc: str, **kw: object) -> RubricPoint:
        return RubricPoint(id=pid, points=pts, description=desc, **kw)  # type: ignore[arg-type]

    q1 = Question(
        id="q1", number=1, title="Describe TensorFlow; main features; other DL libraries",
        prompt="How would you describe TensorFlow in a short sentence? What are its main "
               "features? Can you name other popular Deep Learning libraries?",
        max_points=3.0,
        points=(rp("q1.definition", 1, "describes TensorFlow as an (open-source) library for "
                   "numerical computation or machine/deep learning"),
                rp("q1.features", 1, "names at least two main features"),
                rp("q1.libraries", 1, "names at least two other deep learning libraries")),
    )
    q2 = Question(
        id="q2", number=2, title="Is TensorFlow a drop-in replacement for NumPy?",
        prompt="Is TensorFlow a drop-in replacement for NumPy? What are the main differences?",
        max_points=3.0,
        points=(rp("q2.verdict", 1, "says it is **not** a drop-in replacement"),
                rp("q2.differences", 2, "k of n, 1 each, max 2: names differ, immutability, "
                   "dtypes, GPUs, autodiff, graphs", kind="k_of_n", per_item=1.0)),
    )
    q3 = Question(
        id="q3", number=3, title="Same result with tf.range(10) and tf.constant(np.arange(10))?",
        prompt="Do you get the same result with tf.range(10) and tf.constant(np.arange(10))?",
        max_points=2.0,
        points=(rp("q3.values", 1, "says both hold the integers 0 to 9"),
                rp("q3.dtype", 1, "says the dtypes differ: int32 vs int64")),
    )
    c1 = CodeTask(id="c1", title="Huber loss function", max_points=3.0,
                  points=(rp("c1.values", 2, "huber_fn returns the right values"),
                          rp("c1.dtype", 1, "keeps float32")), names=("huber_fn",))
    c2 = CodeTask(id="c2", title="Custom training loop", max_points=3.0,
                  points=(rp("c2.converges", 2, "the loss goes down"),
                          rp("c2.config", 1, "get_config round-trips")),
                  names=("train_custom_loop",), device="auto")
    return Assignment(
        id="demo_assignment", title="DL Assignment 4 — Custom Models and Training",
        root=Path("/nonexistent/demo"), rubric_path=Path("/nonexistent/demo/rubric.yaml"),
        questions=(q1, q2, q3), tasks=(c1, c2), total=14.0, content_hash="ab" * 32,
    )


def pr(pid: str, awarded: float, mx: float, verdict: str = "", **kw: object) -> PointResult:
    if not verdict:
        verdict = "awarded" if awarded >= mx else "partial" if awarded > 0 else "not_awarded"
    return PointResult(point_id=pid, owner_id=pid.split(".")[0], awarded=awarded,
                       max_points=mx, verdict=verdict, **kw)  # type: ignore[arg-type]


def submission(sid: str, answers: dict[str, str], *, problems: tuple[Problem, ...] = (),
               file: str | None = None) -> Submission:
    file = file or f"{sid}.ipynb"
    return Submission(
        student_id=sid, path=file, content_hash="f" * 64,
        files=(SourceFile(path=file, kind="ipynb", sha256="e" * 64, size=12345),),
        answers=tuple(Answer(question_id=q, text=t, file=file, cells=(i + 1,), label="heading")
                      for i, (q, t) in enumerate(answers.items())),
        code_cells=(), problems=problems,
    )


def grade(sid: str, sub: Submission, written: tuple[PointResult, ...], code: CodeRun | None,
          *, status: str = "", errors: tuple[str, ...] = (), max_total: float = 14.0) -> Grade:
    pts = written + (tuple(p for t in code.tasks for p in t.points) if code else ())
    if not status:
        status = "needs_review" if any(p.needs_review for p in pts) else "graded"
    return Grade(student_id=sid, assignment_id="demo_assignment", submission=sub,
                 written=written, code=code, total=sum(p.awarded for p in pts),
                 max_total=max_total, status=status, errors=errors)  # type: ignore[arg-type]


def ok_run(c1: float = 3, c2: float = 3, *, c2_status: str = "ok", c2_message: str = "",
           stdout: str = "", cells: tuple[CellReport, ...] = ()) -> CodeRun:
    t1 = TaskResult(task_id="c1", status="ok", message="all checks ran",
                    points=(pr("c1.values", min(c1, 2), 2,
                               feedback="huber_fn gives the right values on 32 random inputs"),
                            pr("c1.dtype", max(c1 - 2, 0), 1,
                               feedback="dtype is float32" if c1 > 2 else "returned float64")),
                    duration_s=0.42, stdout=stdout)
    t2 = TaskResult(task_id="c2", status=c2_status,  # type: ignore[arg-type]
                    message=c2_message or "all checks ran",
                    points=(pr("c2.converges", min(c2, 2), 2,
                               feedback="loss went from 2.31 to 0.41" if c2 else "no result"),
                            pr("c2.config", max(c2 - 2, 0), 1)),
                    duration_s=12.5 if c2_status == "ok" else 300.0, device="cpu",
                    detail="reference loss 0.39")
    return CodeRun(load_status="ok", load_message="", cells=cells, tasks=(t1, t2),
                   layers=("namespaces", "seccomp", "landlock", "rlimits"), duration_s=14.0)


LONG_ANSWER = "\n".join(
    f"Paragraph {i}: TensorFlow builds computation graphs and tensors are immutable; "
    f"NumPy arrays are mutable. " * 3 for i in range(60)
) + "\nThe end: autodiff is the key difference. " + "x" * 400  # one unbroken word


def demo_grades() -> tuple[list[Grade], list[tuple[str, str]]]:
    """Six students (good, hostile, needs review, failed ingest, timeout, empty) + a failure."""
    alice_text = {
        "q1": "TensorFlow is an open-source library for numerical computation and large-scale "
              "machine learning. Main features: GPU support, autodiff, distributed computing. "
              "Other libraries: PyTorch, JAX.",
        "q2": "No. TensorFlow is not a drop-in replacement: function names differ "
              "(tf.reduce_sum vs np.sum) and tensors are immutable.",
        "q3": "Both hold 0..9, but tf.range gives int32 while np.arange gives int64.",
    }
    alice = grade("alice", submission("alice", alice_text), (
        pr("q1.definition", 1, 1, evidence="an open-source library for numerical computation",
           feedback="Clear definition.", confidence=0.97),
        pr("q1.features", 1, 1, evidence="GPU support, autodiff, distributed computing",
           confidence=0.93),
        pr("q1.libraries", 1, 1, evidence="PyTorch, JAX", confidence=0.99),
        pr("q2.verdict", 1, 1, evidence="TensorFlow is not a drop-in replacement"),
        pr("q2.differences", 2, 2, evidence="function names differ … tensors are immutable",
           feedback="Two valid differences."),
        pr("q3.values", 1, 1, evidence="Both hold 0..9"),
        pr("q3.dtype", 1, 1, evidence="tf.range gives int32 while np.arange gives int64"),
    ), ok_run(3, 3, stdout="epoch 1 loss 2.31\nepoch 2 loss 0.87\nepoch 3 loss 0.41\n"))

    hostile_text = {
        "q1": f"TensorFlow is a library {SCRIPT} for ML. Template: {TEMPLATE} and "
              "{% raw %}{% endraw %}. Ünïcødé: 深度学习, emoji 🧠, RTL \u202etxet\u202c, "
              "<img src=x onerror=alert(2)> & &amp; done.",
        "q2": LONG_ANSWER,
    }
    hostile = grade(HOSTILE_ID, submission(HOSTILE_ID, hostile_text, file="weird <name>.ipynb"), (
        pr("q1.definition", 1, 1, evidence=f"a library {SCRIPT} for ML",
           feedback=f"Evidence quoted: {SCRIPT}", detail=f"detail {TEMPLATE} <b>x</b>"),
        pr("q1.features", 0, 1, feedback="No features named."),
        pr("q1.libraries", 0, 1),
        pr("q2.verdict", 0, 1, feedback="No verdict given."),
        pr("q2.differences", 2, 2, evidence="tensors are immutable; autodiff is the key difference"),
    ), ok_run(2, 2, stdout="\x1b[31mred <b>bold</b>\x1b[0m\n" + SCRIPT + "\n\x00ctl\n"))

    carol = grade("carol", submission("carol", {
        "q1": "It is Google's ML framework; features maybe graphs. Libraries: Torch.",
        "q3": "Same values, maybe different types?",
    }), (
        pr("q1.definition", 1, 1, evidence="Google's ML framework", confidence=0.55,
           needs_review=True, detail="scorer unsure: 'framework' without 'ML library'"),
        pr("q1.features", 0.5, 1, verdict="partial", evidence="maybe graphs", confidence=0.4,
           needs_review=True, feedback="A hedged feature does not count."),
        pr("q1.libraries", 0, 1, feedback="Only one other library named."),
        pr("q3.values", 1, 1, evidence="Same values"),
        pr("q3.dtype", 0, 1, evidence="maybe different types?", confidence=0.5,
           needs_review=True),
    ), ok_run(1, 3))

    dave = grade("dave", submission("dave", {}, problems=(
        Problem(file="dave.ipynb", message="not valid JSON (line 1, column 1)",
                fix="re-export the notebook from Jupyter (File > Save) and resubmit",
                fatal=True),
    )), (), None, status="error", errors=("dave.ipynb: the notebook could not be read",),
        )

    cells = (
        CellReport(file="erin.ipynb", index=3, status="error",
                   message="the cell raised an exception; later cells still ran",
                   ename="NameError", evalue="name 'tf' is not defined",
                   traceback="\x1b[0;31mNameError\x1b[0m: name 'tf' is not defined"),
        CellReport(file="erin.ipynb", index=5, status="skipped",
                   message="IPython magic %pip is not run by the grader"),
        CellReport(file="erin.ipynb", index=6, status="ok"),
    )
    erin = grade("erin", submission("erin", {"q2": "Not a drop-in replacement."}), (
        pr("q2.verdict", 1, 1, evidence="Not a drop-in replacement."),
        pr("q2.differences", 0, 2, feedback="No difference named."),
    ), ok_run(3, 0, c2_status="timeout",
              c2_message="time limit of 300 s hit: the training loop never finished",
              cells=cells, stdout="epoch 1 loss nan\n" * 200))

    frank = grade("frank", submission("frank", {}), (), None)

    failures = [("zoe_submission.zip", "not a folder, .ipynb, .py, .md or .txt file")]
    return [alice, hostile, carol, dave, erin, frank], failures


def class_of(n: int, seed: int = 4) -> list[Grade]:
    """``n`` plausible students (for scale and for the histogram)."""
    rng = random.Random(seed)
    a = demo_assignment()
    out = []
    for i in range(n):
        skill = rng.betavariate(5, 2)
        written = []
        answers = {}
        for q in a.questions:
            answers[q.id] = f"Answer of student {i} to {q.id}. " * rng.randint(1, 12)
            for p in q.points:
                r = rng.random()
                aw = p.points if r < skill else (p.points / 2 if r < skill + 0.1 else 0.0)
                written.append(pr(p.id, aw, p.points, needs_review=rng.random() < 0.02,
                                  confidence=round(rng.uniform(0.5, 1), 2)))
        c1 = 3 if rng.random() < skill else 1
        status = "ok" if rng.random() < 0.9 else rng.choice(["timeout", "limit", "error"])
        c2 = (3 if rng.random() < skill else 2) if status == "ok" else 0
        sid = f"s{i:04d}"
        out.append(grade(sid, submission(sid, answers), tuple(written),
                         ok_run(c1, c2, c2_status=status)))
    return out


if __name__ == "__main__":
    from grader.report import ReportOptions, render_reports

    grades, failures = demo_grades()
    grades += class_of(int(sys.argv[2]) if len(sys.argv) > 2 else 40)
    paths = render_reports(grades, demo_assignment(), Path(sys.argv[1]),
                           options=ReportOptions(failures=failures,
                                                 generated_at="2025-01-01 12:00 UTC"))
    print("\n".join(str(p) for p in paths[:3]), f"... ({len(paths)} pages)")
