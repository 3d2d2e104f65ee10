"""Running student TensorFlow code in a hardened sandbox (see :mod:`.engine`).

Public API::

    from grader.sandbox import Engine, doctor_report

    with Engine(assignment, jobs=N, seed=SEED) as engine:
        engine.reference()                  # task id -> codetest.Observation
        run = engine.run(submission)        # models.CodeRun, thread-safe

    doctor_report()                         # [(layer, active, detail), ...]

Modules: :mod:`.zygote` (workers that import TensorFlow once and fork per
submission, and supervise), :mod:`.isolation` (the layers, applied after fork),
:mod:`.seccomp`, :mod:`.landlock`, :mod:`.limits` (rlimits, cgroups),
:mod:`.channel` (JSON + npz transport), :mod:`.cells` (magics, real files,
tracebacks), :mod:`.child` (what runs inside), :mod:`.gpus`, :mod:`.doctor`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from grader.sandbox.engine import Engine

__all__ = ["Engine", "doctor_report"]


def __getattr__(name: str) -> Any:
    if name == "Engine":
        from grader.sandbox.engine import Engine

        return Engine
    raise AttributeError(name)


def doctor_report(with_tensorflow: bool = True) -> list[tuple[str, bool, str]]:
    from grader.sandbox.doctor import doctor_report as report

    return report(with_tensorflow)
