"""Running student TensorFlow code in a hardened sandbox (see :mod:`.engine`).

Public API::

    from grader.sandbox import Engine, doctor_report

    with Engine(assignment, jobs=N, seed=SEED) as engine:
        engine.reference()                  # task id -> codetest.Observation
        run = engine.run(submission)        # models.CodeRun, thread-safe

    doctor_report()                         # [(layer, active, detail), ...]

Modules: :mod:`.engine` (the Engine), :mod:`.workers` (worker processes, seen from
the grader), :mod:`.reference` (the tests file and the reference's observations),
:mod:`.judging` (responses into results, judges in the grader's process),
:mod:`.zygote` (the worker: imports TensorFlow once, forks per submission),
:mod:`.sandboxes` (the worker's sandboxes and spares), :mod:`.keeper` (the forked
keeper and student processes), :mod:`.supervisor` (the keeper's watch over the
student), :mod:`.isolation` (the layers, applied after fork), :mod:`.seccomp`,
:mod:`.landlock`, :mod:`.limits` (rlimits, cgroups), :mod:`.channel` (JSON + npz
transport), :mod:`.cells` (magics, real files, tracebacks), :mod:`.gpus`,
:mod:`.doctor`.
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
