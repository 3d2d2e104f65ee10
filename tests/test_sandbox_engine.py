"""The engine end to end on the sandbox's own test assignment: reference, judging,
cells, messages, concurrency, caching."""

from __future__ import annotations

import dataclasses
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from grader.models import CodeRun
from tests.sandbox_support import DATA, linux_only, score, shared, split_cells, submission, task

pytestmark = linux_only

GOOD = (DATA / "submissions" / "good.py").read_text()
FULL = {"t1": 2.0, "t2": 2.0, "t3": 2.0, "t4": 1.0, "t5": 0.0}


@pytest.fixture(scope="module")
def engine():  # type: ignore[no-untyped-def]
    return shared("fast")[0]


@pytest.fixture(scope="module")
def good_run(engine) -> CodeRun:  # type: ignore[no-untyped-def]
    return engine.run(submission("good", GOOD))  # type: ignore[no-any-return]


def test_reference_observations(engine) -> None:  # type: ignore[no-untyped-def]
    ref = engine.reference()
    assert set(ref) == {"t1", "t2", "t3", "t4", "t5"}
    assert not engine.reference_problems
    assert ref["t1"].status == "ok" and ref["t1"].get("values").shape == (5, 3)
    assert ref["t2"].get("traces") <= 2 and ref["t3"].get("accuracy") > 0.8
    assert np.allclose(ref["t4"].get("values").max(), 1.0)
    assert engine.reference() is ref  # cached
    # its own working folder names its owner, for the sweep after a SIGKILLed grader
    from grader.sandbox.engine import OWNER_FILE, _process_identity

    assert (engine.workdir / OWNER_FILE).read_text() == _process_identity(os.getpid())


def test_good_submission_earns_every_runnable_point(good_run: CodeRun) -> None:
    assert good_run.load_status == "ok" and good_run.load_message == ""
    assert score(good_run) == FULL
    assert all(t.status == "ok" for t in good_run.tasks if t.task_id != "t5")
    assert task(good_run, "t5").status == "not_runnable"  # a gpu task, no GPU here
    assert [c.status for c in good_run.cells] == ["ok"]
    assert "seccomp" in good_run.layers and "landlock" in good_run.layers
    assert "wall-timeout" in good_run.layers
    assert task(good_run, "t3").device == "cpu"  # auto without a GPU


def test_notebook_cells_run_in_order_with_errors_allowed(engine) -> None:  # type: ignore[no-untyped-def]
    cells = split_cells((DATA / "submissions" / "notebook_cells.py").read_text())[1:]
    run = engine.run(submission("nb", cells, file="work.ipynb"))
    assert run.load_status == "ok"
    status = [c.status for c in run.cells]
    assert status == ["ok", "skipped", "ok", "error", "ok", "ok"]
    assert "%%bash" in run.cells[1].message
    assert run.cells[3].ename == "NameError" and "undefined_name" in run.cells[3].evalue
    assert 'File "work.ipynb", cell 3, line 1' in run.cells[3].traceback
    assert "grader" not in run.cells[3].traceback.replace("work.ipynb", "")
    assert "%matplotlib inline" in run.cells[0].message
    for bit in ("not executed", "%matplotlib inline", "!pip install nothing", "%%bash"):
        assert bit in run.load_message
    # square (under %%time) and cube_sum (after the failing cell) exist
    s = score(run)
    assert s["t1"] == 2 and s["t2"] == 1 and s["t4"] == 0  # cube_sum retraces; wrong scale
    assert task(run, "t3").status == "missing"
    assert "`train_small` is not defined" in task(run, "t3").message


def test_missing_functions_and_no_code(engine) -> None:  # type: ignore[no-untyped-def]
    run = engine.run(submission("empty", "x = 1\n"))
    assert all(t.status == "missing" for t in run.tasks if t.task_id != "t5")
    assert all(p.awarded == 0 for t in run.tasks for p in t.points)
    none = engine.run(submission("none", ["", "  \n"]))
    assert none.load_status == "no_code" and none.cells == ()
    assert all(t.status == "missing" and "no code" in t.message for t in none.tasks)


def test_errors_show_only_the_students_own_lines(engine) -> None:  # type: ignore[no-untyped-def]
    src = "import numpy as np\n\ndef square(x):\n    y = x.reshape(-1)\n    return y[100]\n"
    run = engine.run(submission("err", src))
    t1 = task(run, "t1")
    assert t1.status == "ok" and sum(p.awarded for p in t1.points) == 0
    fb = " ".join(p.feedback for p in t1.points)
    assert "IndexError" in fb and "line 5 of solution.py" in fb
    assert "observe_t1" not in fb and "hidden" not in fb


def test_a_wrong_answer_gets_feedback_without_expected_values(engine) -> None:  # type: ignore[no-untyped-def]
    run = engine.run(submission("wrong", "def square(x):\n    return x * 2\n"))
    p = task(run, "t1").points[0]
    assert p.awarded == 0 and "differ from the reference" in p.feedback


def test_concurrent_runs_do_not_interfere(engine, good_run) -> None:  # type: ignore[no-untyped-def]
    subs = [submission(f"s{i}", GOOD if i % 2 == 0 else "def square(x):\n    return x*x\n")
            for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(engine.run, subs))
    assert score(runs[0]) == score(runs[2]) == score(good_run)
    assert score(runs[1])["t1"] == 2 and score(runs[1])["t2"] == 0


def test_reference_cache_on_disk(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from grader.sandbox import Engine

    ref = engine.reference()
    twin = Engine(engine.assignment, jobs=1, seed=engine.seed, cache_dir=tmp_path)
    cache = twin._cache_file()
    assert cache is not None and not cache.exists()
    raw = {t: {"outcome": "ended", "status": "ok", "records": [], "errors": {}}
           for t in ref}
    raw["t1"]["records"] = [["values", {"$nd": "a0"}, 0]]
    from grader.sandbox.channel import arrays_to_npz

    twin._save_cache(cache, raw, [arrays_to_npz({"a0": ref["t1"].get("values")})])
    cached = twin.reference()  # from disk: no worker is started
    assert twin.workers == []
    assert np.array_equal(cached["t1"].get("values"), ref["t1"].get("values"))
    other = Engine(engine.assignment, jobs=1, seed=engine.seed + 1, cache_dir=tmp_path)
    assert other._cache_file() != cache  # another seed, another entry
    twin.close()
    other.close()


def test_public_only_selects_public_tasks_and_tests(engine) -> None:  # type: ignore[no-untyped-def]
    from grader.sandbox import Engine

    e = Engine(engine.assignment, jobs=1, public_only=True)
    assert [t.id for t in e.tasks] == ["t1", "t2"]
    assert e.tests_path == engine.assignment.public_tests
    e.close()


@pytest.mark.slow
def test_public_only_run(engine) -> None:  # type: ignore[no-untyped-def]
    from grader.sandbox import Engine

    with Engine(engine.assignment, jobs=1, public_only=True, seed=3) as e:
        run = e.run(submission("good", GOOD))
    assert [t.task_id for t in run.tasks] == ["t1", "t2"] and score(run) == {"t1": 2, "t2": 2}


def test_load_limits_are_separate_from_task_limits(engine) -> None:  # type: ignore[no-untyped-def]
    # 3 s of top-level work: under the 8 s load limit, and not charged to any 5 s task
    src = "import time\ntime.sleep(3)\ndef square(x):\n    time.sleep(3)\n    return x * x\n"
    run = engine.run(submission("slowload", src))
    assert run.load_status == "ok"
    t1 = task(run, "t1")
    assert t1.status == "ok" and sum(p.awarded for p in t1.points) == 2
    assert 3 <= t1.duration_s < 5


def test_task_limits_are_per_assignment(engine) -> None:  # type: ignore[no-untyped-def]
    a = engine.assignment
    assert {t.id: t.limits.wall_s for t in a.tasks}["t3"] == 60
    assert dataclasses.replace(a.tasks[0].limits, wall_s=1).wall_s == 1


@pytest.mark.slow
def test_memory_limits_are_per_task(engine) -> None:  # type: ignore[no-untyped-def]
    # the load and t2 may hold 1,024 MB, t1 only 300 MB: the same 629 MB array is over
    # t1's limit and within t2's (cgroup switched per phase where there is one, the soft
    # RLIMIT_DATA everywhere)
    from grader.sandbox import Engine
    from tests.sandbox_support import with_limits

    a = with_limits(engine.assignment, 20, 20, memory_mb=1024)
    a = dataclasses.replace(a, tasks=tuple(
        dataclasses.replace(t, limits=dataclasses.replace(t.limits, memory_mb=300))
        if t.id == "t1" else t for t in a.tasks))
    src = ("import numpy as np\nimport tensorflow as tf\n\n"
           "def square(x):\n    hoard = np.ones((600, 2**17))\n    return x * x\n\n"
           "def cube_sum(x):\n    hoard = np.ones((600, 2**17))\n"
           "    return tf.reduce_sum(x ** 3)\n")
    # memory the top level still holds (524 MB) is over t1's limit before t1 does anything
    held = ("import numpy as np\nimport tensorflow as tf\nHOARD = np.ones((500, 2**17))\n\n"
            "def square(x):\n    return x * x\n\n"
            "def cube_sum(x):\n    return tf.reduce_sum(x ** 3)\n")
    with Engine(a, jobs=1, seed=3) as e:
        runs = [e.run(submission("hoarder", src)), e.run(submission("holder", held))]
    for run in runs:
        t1, t2 = task(run, "t1"), task(run, "t2")
        assert t1.status == "limit" and t1.message == "memory limit of 300 MB hit", t1
        assert t2.status == "ok" and {p.point_id: p.awarded for p in t2.points}[
            "t2.values"] == 1, t2


def test_stale_working_folders_of_killed_graders_are_swept(tmp_path: Path) -> None:
    import subprocess

    from grader.sandbox.engine import OWNER_FILE, _process_identity, sweep_stale_workdirs

    gone = subprocess.Popen(["true"])
    gone.wait()
    me = _process_identity(os.getpid())
    assert me is not None
    folders = {
        "dead": f"{gone.pid} 1",                   # its grader was SIGKILLed
        "reused": f"{os.getpid()} 1",              # the pid now belongs to another process
        "alive": me,                               # a grader still running
        "no-owner": None,                          # not ours to judge
    }
    for name, owner in folders.items():
        d = tmp_path / f"grader-sb-{name}"
        (d / "run-x").mkdir(parents=True)
        if owner is not None:
            (d / OWNER_FILE).write_text(owner)
    (tmp_path / "unrelated").mkdir()
    removed = sweep_stale_workdirs(tmp_path)
    assert sorted(p.name for p in removed) == ["grader-sb-dead", "grader-sb-reused"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "grader-sb-alive", "grader-sb-no-owner", "unrelated"]
