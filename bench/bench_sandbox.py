"""Benchmark: the sandbox engine against two usual ways of running student code.

On the same N submissions (plus the reference solution, which every way must run
too), in one run:

* ``engine``   -- this project: zygote workers import TensorFlow once and fork a
  hardened sandbox per submission (:mod:`grader.sandbox`);
* ``fresh``    -- a fresh Python interpreter per task (TensorFlow imported, the
  student's code loaded, one task observed, every time);
* ``nbclient`` -- one Jupyter kernel per notebook through nbclient (the nbgrader/otter
  way): the student's cells, then one cell that observes every task.

Each way runs the same observe functions on the same cells, ``--jobs`` at a time,
with the same thread caps. For each submission, *overhead* is the wall time beyond
the work itself: wall - (the student's top-level code, once) - (each task's observe
time), divided by the number of tasks; importing TensorFlow is overhead everywhere
(the notebooks get it as a first cell of their own). The report gives the median overhead per
task and the batch's wall time, and the ratios against the engine.

    python bench/bench_sandbox.py                      # the test assignment, N=8
    python bench/bench_sandbox.py --tasks t1,t2,t4     # its tasks without a Keras fit
    python bench/bench_sandbox.py --assignment assignments/dl_assignment_4 \\
        --submissions examples/submissions -n 8
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_ASSIGNMENT = ROOT / "tests" / "data" / "sandbox" / "assignment"


# --------------------------------------------------------------------------- harness
def observe_tasks(ns: dict[str, Any], tests_source: str, tests_name: str,
                  task_ids: list[str], seed: int, data_dir: str | None) -> dict[str, float]:
    """Run observe functions in this process (no sandbox); return each one's time."""
    from grader.sandbox import child
    from grader.sandbox.channel import Writer

    suite = child.load_tests(tests_source, tests_name)
    assert suite is not None
    writer = Writer(os.open(os.devnull, os.O_WRONLY), b"0" * 16)
    scratch = Path(tempfile.mkdtemp(prefix="bench-scratch-"))
    out = {}
    for tid in task_ids:
        t = suite.tasks.get(tid)
        ctx = child.ObserveCtx(tid, seed, Path(data_dir) if data_dir else None, scratch,
                               writer, {}, "cpu")
        child._set_seeds(child.derived_seed(seed, tid))
        t0 = time.perf_counter()
        try:
            if t is not None and t.observe is not None:
                t.observe(ns, ctx)
        except BaseException:
            pass
        out[tid] = time.perf_counter() - t0
    shutil.rmtree(scratch, ignore_errors=True)
    return out


def load_cells(ns: dict[str, Any], paths: list[str]) -> float:
    t0 = time.perf_counter()
    for p in paths:
        with contextlib.suppress(BaseException):  # Run all, errors allowed
            exec(compile(Path(p).read_text(), p, "exec", dont_inherit=True), ns)
    return time.perf_counter() - t0


def fresh_task_main(spec_path: str) -> None:
    """One task in a fresh interpreter: import TensorFlow, load the code, observe."""
    spec = json.loads(Path(spec_path).read_text())
    import keras  # noqa: F401
    import tensorflow  # noqa: F401

    from grader.sandbox import child

    ns = child.student_namespace()
    load = load_cells(ns, spec["cells"])
    work = observe_tasks(ns, spec["tests_source"], spec["tests_name"], [spec["task"]],
                         spec["seed"], spec["data_dir"])
    print(json.dumps({"load": load, "work": work[spec["task"]]}))


# --------------------------------------------------------------------------- inputs
def collect(assignment: Any, submissions: Path | None, n: int) -> list[tuple[str, list[Any]]]:
    """N (name, code cells) pairs: the example submissions with code, then copies of the
    reference solution to fill up."""
    from grader.sandbox.engine import reference_cells

    found: list[tuple[str, list[Any]]] = []
    if submissions is not None:
        from grader.ingest import discover, ingest

        for p in discover(submissions):
            try:
                s = ingest(p, submissions, assignment)
            except Exception:
                continue
            if s.code_cells:
                found.append((s.student_id, list(s.code_cells)))
    ref = reference_cells(Path(assignment.reference))
    i = 0
    while len(found) < n:
        found.append((f"reference_copy{i}", list(ref)))
        i += 1
    return found[:n]


def stage(cells: list[Any], folder: Path) -> list[str]:
    from grader.sandbox.cells import cell_filename, prepare

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, c in enumerate(prepare(cells)):
        if c.run:
            p = folder / cell_filename(c, k)
            p.write_text(c.source)
            paths.append(str(p))
    return paths


def child_env(jobs: int) -> dict[str, str]:
    from grader.sandbox.engine import thread_caps, worker_env

    env = dict(os.environ)
    env.update({k: v for k, v in worker_env(None, thread_caps(jobs), (), "/tmp").items()
                if k not in ("HOME", "TMPDIR", "PATH", "GRADER_PRELOAD")})
    env["PYTHONPATH"] = str(ROOT)
    return env


def summarize(per_sub: list[dict[str, float]], n_tasks: int) -> dict[str, float]:
    over = [max(0.0, s["wall"] - s["load"] - s["work"]) / n_tasks for s in per_sub]
    return {"sum_wall_s": sum(s["wall"] for s in per_sub),
            "sum_load_s": sum(s["load"] for s in per_sub),
            "sum_work_s": sum(s["work"] for s in per_sub),
            "median_overhead_ms": 1000 * statistics.median(over),
            "mean_overhead_ms": 1000 * statistics.fmean(over),
            "median_work_s": statistics.median(s["work"] for s in per_sub)}


# --------------------------------------------------------------------------- the three ways
def bench_engine(assignment: Any, subs: list[tuple[str, list[Any]]], jobs: int, seed: int
                 ) -> dict[str, Any]:
    from grader.models import Submission
    from grader.sandbox import Engine

    t0 = time.monotonic()
    per: list[dict[str, float]] = []
    with Engine(assignment, jobs=jobs, seed=seed) as engine:
        t_ready = time.monotonic() - t0
        # no separate engine.reference(): as in a batch, students run while the
        # reference (needed only to judge) is computed on a worker

        def one(item: tuple[str, list[Any]]) -> dict[str, float]:
            name, cells = item
            s = Submission(student_id=name, path=f"{name}.py", content_hash=name, files=(),
                           answers=(), code_cells=tuple(cells))
            run, st = engine.run_with_stats(s)
            return {"wall": st["wall_s"], "load": st.get("load_work_s") or 0.0,
                    "work": sum(st.get("task_work_s", {}).values()),
                    "setup": st.get("setup_s") or 0.0,
                    "points": sum(p.awarded for t in run.tasks for p in t.points)}

        with ThreadPoolExecutor(jobs) as pool:
            per = list(pool.map(one, subs))
    batch = time.monotonic() - t0
    n_tasks = len(engine.tasks)
    return {"batch_s": batch, "start_s": t_ready,
            "median_setup_ms": 1000 * statistics.median(p["setup"] for p in per),
            "points": [p["points"] for p in per], **summarize(per, n_tasks)}


def bench_fresh(assignment: Any, subs: list[tuple[str, list[Any]]], jobs: int, seed: int,
                tests_source: str, work: Path) -> dict[str, Any]:
    tasks = [t.id for t in assignment.tasks]
    env = child_env(jobs)
    t0 = time.monotonic()
    jobs_list = []
    for k, (_, cells) in enumerate([("reference", None), *subs]):
        from grader.sandbox.engine import reference_cells

        cs = cells if cells is not None else reference_cells(Path(assignment.reference))
        paths = stage(cs, work / f"fresh{k}")
        for tid in tasks:
            spec = work / f"fresh{k}-{tid}.json"
            spec.write_text(json.dumps({
                "cells": paths, "task": tid, "tests_source": tests_source,
                "tests_name": str(assignment.hidden_tests), "seed": seed,
                "data_dir": str(assignment.data_dir) if assignment.data_dir else None}))
            jobs_list.append((k, tid, spec))

    def one(item: tuple[int, str, Path]) -> tuple[int, float, dict[str, float]]:
        k, _, spec = item
        t = time.monotonic()
        out = subprocess.run([sys.executable, __file__, "--fresh-task", str(spec)],
                             capture_output=True, text=True, env=env, cwd=str(work))
        wall = time.monotonic() - t
        try:
            res = json.loads(out.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            res = {"load": 0.0, "work": 0.0}
        return k, wall, res

    with ThreadPoolExecutor(jobs) as pool:
        results = list(pool.map(one, jobs_list))
    batch = time.monotonic() - t0
    per: dict[int, dict[str, float]] = {}
    for k, wall, res in results:
        if k == 0:
            continue
        d = per.setdefault(k, {"wall": 0.0, "load": 0.0, "work": 0.0})
        d["wall"] += wall
        d["load"] = max(d["load"], res["load"])  # the student's top level, counted once
        d["work"] += res["work"]
    return {"batch_s": batch, "processes": len(results),
            **summarize(list(per.values()), len(tasks))}


_NB_CELL = """\
import json as _json, sys as _sys
_sys.path.insert(0, {bench!r})
from bench_sandbox import observe_tasks as _observe
print("BENCH" + _json.dumps(_observe(globals(), {src!r}, {name!r}, {tasks!r}, {seed!r},
                                     {data!r})))
"""


def bench_nbclient(assignment: Any, subs: list[tuple[str, list[Any]]], jobs: int, seed: int,
                   tests_source: str, work: Path) -> dict[str, Any]:
    import nbformat
    from nbclient import NotebookClient

    from grader.sandbox.cells import prepare
    from grader.sandbox.engine import reference_cells

    tasks = [t.id for t in assignment.tasks]
    env = child_env(jobs)
    os.environ.update({k: v for k, v in env.items() if k.startswith(
        ("TF_", "OMP_", "MKL_", "OPENBLAS_", "MALLOC_", "KERAS_", "CUDA_"))})
    os.environ["PYTHONPATH"] = str(ROOT)
    t0 = time.monotonic()

    def one(item: tuple[int, list[Any]]) -> dict[str, float]:
        _, cells = item
        nb = nbformat.v4.new_notebook()
        student = [c.source for c in prepare(cells) if c.run]
        # the usual preamble: TensorFlow imported before the student's cells (not counted
        # as the student's own top-level work)
        nb.cells = [nbformat.v4.new_code_cell("import tensorflow, keras")]
        nb.cells += [nbformat.v4.new_code_cell(s) for s in student]
        nb.cells.append(nbformat.v4.new_code_cell(_NB_CELL.format(
            bench=str(Path(__file__).resolve().parent), src=tests_source,
            name=str(assignment.hidden_tests), tasks=tasks, seed=seed,
            data=str(assignment.data_dir) if assignment.data_dir else None)))
        t = time.monotonic()
        client = NotebookClient(nb, timeout=1800, kernel_name="python3", allow_errors=True,
                                record_timing=True, resources={"metadata": {"path": str(work)}})
        client.execute()
        wall = time.monotonic() - t
        load = 0.0
        for c in nb.cells[1:-1]:
            ex = c.metadata.get("execution", {})
            a, b = ex.get("iopub.execute_input"), ex.get("shell.execute_reply")
            if a and b:
                from datetime import datetime

                load += (datetime.fromisoformat(b.replace("Z", "+00:00"))
                         - datetime.fromisoformat(a.replace("Z", "+00:00"))).total_seconds()
        res: dict[str, float] = {}
        for out in nb.cells[-1].get("outputs", []):
            text = out.get("text", "")
            if "BENCH" in text:
                res = json.loads(text.split("BENCH", 1)[1].splitlines()[0])
        return {"wall": wall, "load": load, "work": sum(res.values())}

    ref = reference_cells(Path(assignment.reference))
    items = [(0, ref)] + [(k + 1, cells) for k, (_, cells) in enumerate(subs)]
    with ThreadPoolExecutor(jobs) as pool:
        per = list(pool.map(one, items))
    batch = time.monotonic() - t0
    return {"batch_s": batch, "kernels": len(items), **summarize(per[1:], len(tasks))}


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--assignment", type=Path, default=DEFAULT_ASSIGNMENT)
    ap.add_argument("--submissions", type=Path, default=None,
                    help="folder of submissions (default: copies of the reference)")
    ap.add_argument("-n", type=int, default=8, help="number of submissions")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--methods", default="engine,fresh,nbclient")
    ap.add_argument("--tasks", default=None, help="only these task ids (comma-separated)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    ap.add_argument("--fresh-task", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.fresh_task:
        fresh_task_main(args.fresh_task)
        return 0

    from grader.assignment import load_assignment
    from grader.sandbox.observe_source import child_source

    a = load_assignment(args.assignment)
    # GPU-only tasks cannot run everywhere; the benchmark runs every task on the CPU
    keep = set(args.tasks.split(",")) if args.tasks else None
    a = replace(a, tasks=tuple(t for t in a.tasks if t.device != "gpu"
                               and (keep is None or t.id in keep)))
    subs = collect(a, args.submissions, args.n)
    tests_source = child_source(Path(a.hidden_tests).read_text())
    work = Path(tempfile.mkdtemp(prefix="bench-sandbox-"))
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    print(f"assignment {a.id}: {len(a.tasks)} tasks; {len(subs)} submissions "
          f"({', '.join(sorted({n for n, _ in subs}))}) + the reference; jobs={args.jobs}; "
          f"{os.cpu_count()} cores", flush=True)
    results: dict[str, dict[str, Any]] = {}
    try:
        for m in methods:
            t = time.monotonic()
            if m == "engine":
                results[m] = bench_engine(a, subs, args.jobs, args.seed)
            elif m == "fresh":
                results[m] = bench_fresh(a, subs, args.jobs, args.seed, tests_source, work)
            elif m == "nbclient":
                results[m] = bench_nbclient(a, subs, args.jobs, args.seed, tests_source, work)
            else:
                raise SystemExit(f"unknown method {m}")
            r = results[m]
            print(f"  {m:<9} batch {r['batch_s']:7.1f} s   overhead/task median "
                  f"{r['median_overhead_ms']:8.1f} ms   (took {time.monotonic() - t:.0f} s)",
                  flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(f"{'method':<10}{'batch wall':>12}{'overhead/task':>16}{'batch ratio':>14}"
          f"{'overhead ratio':>16}")
    base = results.get("engine")
    for m, r in results.items():
        br = r["batch_s"] / base["batch_s"] if base else float("nan")
        orr = (r["median_overhead_ms"] / base["median_overhead_ms"]
               if base and base["median_overhead_ms"] > 0 else float("nan"))
        print(f"{m:<10}{r['batch_s']:>10.1f} s{r['median_overhead_ms']:>13.1f} ms"
              f"{br:>13.2f}x{orr:>15.1f}x")
    if base:
        print(f"\nengine: workers ready in {base['start_s']:.1f} s, sandbox set-up (hand-over "
              "to the student's first line) median "
              f"{base['median_setup_ms']:.0f} ms per submission; median task work "
              f"{base['median_work_s']:.2f} s per submission")
        ok = base["median_overhead_ms"] <= 50
        print(f"target overhead <= 50 ms per task: {'met' if ok else 'NOT met'} "
              f"({base['median_overhead_ms']:.1f} ms)")
        if "nbclient" in results:
            ratio = results["nbclient"]["batch_s"] / base["batch_s"]
            print(f"target batch >= 4x faster than kernel-per-notebook: "
                  f"{'met' if ratio >= 4 else 'NOT met'} ({ratio:.2f}x)")
            # no engine can beat the work itself: the students' top-level code and task
            # work (the same in every method), plus the reference's, spread over the jobs
            n = len(base["points"])
            work = (base["sum_work_s"] + base["sum_load_s"]) * (n + 1) / n / args.jobs
            print(f"work-bound ceiling (zero overhead, {work:.1f} s of student work per "
                  f"job): {results['nbclient']['batch_s'] / work:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
