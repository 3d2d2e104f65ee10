"""GPU inventory and assignment, with a simulated inventory (no GPU needed)."""

from __future__ import annotations

import dataclasses

import pytest

from grader.sandbox import gpus
from tests.sandbox_support import ASSIGNMENT, DATA, linux_only, submission, task


def test_detect_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert gpus.detect() == ["2", "3"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert gpus.detect() == []
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert gpus.detect() == []


def test_assign_round_robin() -> None:
    assert gpus.assign(3, []) == [None, None, None]
    assert gpus.assign(5, ["0", "1"]) == ["0", "1", "0", "1", "0"]
    assert gpus.assign(1, ["7"]) == ["7"]


@pytest.mark.parametrize(("device", "gpu", "cuda", "want"), [
    ("cpu", "0", True, "cpu"), ("cpu", None, False, "cpu"),
    ("auto", "0", True, "gpu"), ("auto", None, True, "cpu"), ("auto", "0", False, "cpu"),
    ("gpu", "0", True, "gpu"), ("gpu", None, True, None), ("gpu", "0", False, None),
])
def test_resolve(device: str, gpu: str | None, cuda: bool, want: str | None) -> None:
    assert gpus.resolve(device, gpu, cuda) == want


@linux_only
def test_engine_with_a_simulated_inventory() -> None:
    from grader.assignment import load_assignment
    from grader.sandbox import Engine

    a = load_assignment(ASSIGNMENT)
    keep = {"t1": "cpu", "t4": "auto", "t5": "gpu"}
    a = dataclasses.replace(
        a, reference=DATA / "reference_numpy.py",
        tasks=tuple(dataclasses.replace(t, device=keep[t.id]) for t in a.tasks if t.id in keep))
    sub = submission("np", "import numpy as np\ndef square(x):\n    return x * x\n"
                     "def scale_data(p):\n    a = np.load(p)\n    return a / a.max()\n")
    # workers without TensorFlow start in a fraction of a second
    with Engine(a, jobs=3, seed=1, gpus=["0", "1"], preload=(), cuda=True) as engine:
        assert [w.gpu for w in engine.workers] == ["0", "1", "0"]
        assert [w.ready.get("cuda_visible_devices") for w in engine.workers] == ["0", "1", "0"]
        run = engine.run(sub)
        assert {t.task_id: t.device for t in run.tasks} == {"t1": "cpu", "t4": "gpu",
                                                           "t5": "gpu"}
        assert all(t.status == "ok" for t in run.tasks), [t.message for t in run.tasks]
        assert sum(p.awarded for t in run.tasks for p in t.points) == 4
        # the same inventory with a TensorFlow built without CUDA: gpu tasks cannot run
        engine.cuda = False
        run = engine.run(sub)
        assert task(run, "t4").device == "cpu" and task(run, "t4").status == "ok"
        t5 = task(run, "t5")
        assert t5.status == "not_runnable" and "needs a GPU" in t5.message
        assert all(p.needs_review and p.awarded == 0 for p in t5.points)
    with Engine(a, jobs=2, seed=1, gpus=[], preload=()) as engine:
        assert [w.gpu for w in engine.workers] == [None, None]
        assert [w.ready.get("cuda_visible_devices") for w in engine.workers] == ["", ""]
        run = engine.run(sub)
        assert task(run, "t4").device == "cpu" and task(run, "t5").status == "not_runnable"
