"""The attack suite: hostile submissions, each ending with a clear per-task message,
no effect on another student's result, the grader's files, database and process
intact. The default run batches the quick attacks into three submissions; the heavy
ones (memory bombs, disk filler, 200 MB of output, hangs while loading, memory
scans) are marked slow."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from grader.models import CodeRun
from tests.sandbox_support import DATA, GraderFiles, linux_only, score, shared, stray_processes
from tests.sandbox_support import submission as make
from tests.sandbox_support import task as get

pytestmark = linux_only

# the other student: correct, TensorFlow-heavy enough (a tf.function), and quick
GOOD = (DATA / "submissions" / "good.py").read_text().split("def train_small")[0] + (
    "\n\ndef scale_data(path):\n    a = np.load(path)\n    return a / a.max()\n")
_BASELINE: dict[str, dict[str, float]] = {}


def attack(name: str, engine_name: str = "fast") -> tuple[CodeRun, CodeRun, Any, GraderFiles]:
    """Run an attack next to a good submission (both at once, on two workers)."""
    engine, files = shared(engine_name)
    if engine_name not in _BASELINE:
        _BASELINE[engine_name] = score(engine.run(make("baseline", GOOD)))
    with ThreadPoolExecutor(2) as pool:
        bad = pool.submit(engine.run, make("mallory", files.attack(name)))
        good = pool.submit(engine.run, make("alice", GOOD))
        bad_run, good_run = bad.result(), good.result()
    # the other student's result is unaffected
    assert score(good_run) == _BASELINE[engine_name] == {"t1": 2, "t2": 2, "t3": 0, "t4": 1,
                                                        "t5": 0}
    # the grader's files, database and process are intact; no sandbox outlives its run
    assert files.intact(), "the grader's files changed"
    assert all(w.proc is not None and w.proc.poll() is None for w in engine.workers)
    assert stray_processes(engine) == []
    os.kill(os.getpid(), 0)
    return bad_run, good_run, engine, files


def refused(cell: Any) -> bool:
    return cell.status == "error" and cell.ename in ("PermissionError", "OSError") and (
        "Operation not permitted" in cell.evalue or "Permission denied" in cell.evalue
        or "Read-only file system" in cell.evalue or "does not allow" in cell.evalue
        or "no descriptor" in cell.evalue)


def test_attacks_at_the_top_level_are_refused() -> None:
    run, _, _, _ = attack("refused.py")
    assert run.load_status == "ok"
    cells = run.cells
    labels = [line.strip()[5:] for line in (DATA / "attacks" / "refused.py").read_text()
              .splitlines() if line.startswith("# %%")]
    by = dict(zip(labels, cells[1:], strict=True))  # cells[0]: the header comment
    must_refuse = [label for label in labels if label not in (
        "SIGSTOP to itself (must not hang the grader)", "leftover threads",
        "sys.exit at the top level",
        "monkeypatched assertions + a printed fake result, with a wrong solution",
        "correct code for the other tasks")]
    assert len(must_refuse) == 21
    for label in must_refuse:
        c = by[label]
        assert refused(c), (label, c)
        assert "AttackSucceeded" not in c.ename
    assert by["sys.exit at the top level"].ename == "SystemExit"
    # SIGSTOP is ignored (pid 1 of its own pid namespace); leftover threads do no harm
    assert by["SIGSTOP to itself (must not hang the grader)"].status == "ok"
    assert by["leftover threads"].status == "ok"
    # monkeypatched assertions and a printed fake result gain nothing
    s = score(run)
    assert s["t1"] == 1 and get(run, "t1").points[0].awarded == 0  # wrong values, right dtype
    assert s["t2"] == 2 and s["t4"] == 1  # the correct functions still count
    assert "differ from the reference" in get(run, "t1").points[0].feedback
    assert run.duration_s < 30


def test_attacks_inside_tasks_end_only_their_own_task() -> None:
    run, _, _, _ = attack("tasks.py")
    assert run.load_status == "ok"
    t1, t2, t3, t4 = (get(run, t) for t in ("t1", "t2", "t3", "t4"))
    assert t1.status == "timeout" and t1.message == "time limit of 5 s hit"      # infinite loop
    assert t2.status == "error" and "ended the process (exit status 0)" in t2.message  # os._exit
    assert "leaving now" in t2.stdout
    assert "SystemExit: 1" in t3.message                                          # sys.exit
    assert t4.status == "error" and "segmentation fault" in t4.message           # segfault
    assert all(p.awarded == 0 for t in (t1, t2, t3, t4) for p in t.points)
    assert 5 <= t1.duration_s < 7


def test_forged_frames_on_the_result_channel_are_detected() -> None:
    run, _, _, _ = attack("channel.py")
    assert run.load_status == "error"
    assert "result channel" in run.load_message
    assert run.cells[0].status == "error"
    assert all(p.awarded == 0 for t in run.tasks for p in t.points)


@pytest.mark.slow
def test_memory_bombs_and_deep_recursion() -> None:
    run, _, _, _ = attack("memory.py", "slow")
    for tid in ("t1", "t2", "t4"):  # numpy, TensorFlow, Python lists
        t = get(run, tid)
        assert t.status == "limit" and t.message == "memory limit of 1024 MB hit", (tid, t)
    t3 = get(run, "t3")  # recursion through C calls overflows the C stack
    assert t3.status == "error" and "segmentation fault" in t3.message
    slow, _, _, _ = attack("memory_slow.py", "slow")
    assert get(slow, "t1").status == "limit" and "memory limit" in get(slow, "t1").message
    assert "RecursionError" in get(slow, "t2").message  # plain deep recursion


@pytest.mark.slow
def test_disk_filler_output_flood_thread_and_fork_bombs() -> None:
    run, _, _, _ = attack("disk_output.py", "slow")
    t1, t2, t3, t4 = (get(run, t) for t in ("t1", "t2", "t3", "t4"))
    assert t1.status == "limit" and t1.message == "disk limit of 64 MB (scratch folder) hit"
    # 200 MB of output: kept to its last 64 KB, and the task still counts
    assert t2.status == "ok" and get(run, "t2").points[0].awarded == 1
    assert len(t2.stdout) <= 64 * 1024 + 100 and "bytes of output not shown" in t2.stdout
    assert t3.status == "ok" and "PermissionError" in t3.message  # fork bomb: fork refused
    assert t4.status == "limit" and t4.message == "limit of 64 processes/threads hit"


@pytest.mark.slow
def test_hanging_while_loading_costs_one_timeout() -> None:
    run, _, engine, _ = attack("load_sleep.py", "slow")
    limit = engine.assignment.load_limits.wall_s
    assert run.load_status == "timeout"
    assert run.load_message.startswith(f"time limit of {limit:g} s for loading your code hit")
    assert all(t.status == "timeout" for t in run.tasks if t.task_id != "t5")
    assert run.duration_s < limit + 5  # once, not once per task


@pytest.mark.slow
def test_ending_the_process_while_loading() -> None:
    run, _, _, _ = attack("load_exit.py", "slow")
    assert run.load_status == "error" and "ended the process" in run.load_message
    assert all(p.awarded == 0 for t in run.tasks for p in t.points)


@pytest.mark.slow
def test_hidden_tests_and_reference_are_not_in_student_memory() -> None:
    run, _, _, _ = attack("memscan.py", "slow")
    out = get(run, "t1").stdout
    # the scan does find what is there, or cannot read raw memory at all (as when the
    # grader does not run as root); never "own source not found"
    assert "CONTROL: ok" in out or ("CONTROL: memory unreadable" in out
                                    and os.geteuid() != 0), out
    assert "SCAN: found nothing" in out, out


def test_closing_the_result_channel() -> None:
    run, _, _, _ = attack("close_fds.py")
    assert run.load_status == "error" and "closed the grader's result channel" in \
        run.load_message
    assert all(p.awarded == 0 for t in run.tasks for p in t.points)
