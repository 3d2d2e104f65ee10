"""Scale of Part B on the sandbox engine: per-task times of the reference, and the wall
time for N submissions (default 50) on J workers (default 2).

    .venv/bin/python bench/bench_partb.py [--n 50] [--jobs 2] [--seed S] [--mix all|reference]

The N submissions cycle through the reference solution, the correct examples and the
bug samples of tests/data/partb (``--mix all``, a realistic class), or are N copies
of the reference (``--mix reference``). Each is ingested and run as its own student.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.assignment import load_assignment  # noqa: E402
from grader.ingest import ingest  # noqa: E402
from grader.sandbox import Engine  # noqa: E402

EXAMPLE = ROOT / "assignments" / "dl_assignment_4"
CORRECT = [ROOT / "examples" / "submissions" / n for n in
           ("alice_ref_style.ipynb", "bob_solution.py", "dave_textbook.ipynb", "erin")]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--mix", choices=("all", "reference"), default="all")
    args = ap.parse_args(argv)

    assignment = load_assignment(EXAMPLE)
    assert assignment.reference is not None
    pool_paths = [assignment.reference]
    if args.mix == "all":
        pool_paths += CORRECT + sorted((ROOT / "tests" / "data" / "partb").glob("*.py"))
    paths = [pool_paths[i % len(pool_paths)] for i in range(args.n)]

    print(f"machine: {os.cpu_count()} cores; jobs={args.jobs}; seed={args.seed}; "
          f"N={args.n} ({args.mix})")
    t0 = time.monotonic()
    with Engine(assignment, jobs=args.jobs, seed=args.seed) as engine:
        t_start = time.monotonic() - t0
        t1 = time.monotonic()
        engine.reference()
        t_ref = time.monotonic() - t1
        print(f"engine start (workers import TensorFlow): {t_start:.1f} s")
        print(f"reference observations (once per batch):  {t_ref:.1f} s")

        ref_sub = ingest(assignment.reference, assignment.reference.parent, assignment)
        run = engine.run(ref_sub, assignment.reference.parent)
        got = sum(p.awarded for t in run.tasks for p in t.points)
        print(f"\nreference as a submission: {got:g}/{assignment.code_total:g} points, "
              f"{run.duration_s:.1f} s in all")
        for t in run.tasks:
            print(f"  {t.task_id}: {t.duration_s:6.2f} s  {t.status}")

        subs = [(p, ingest(p, p.parent, assignment)) for p in paths]
        t2 = time.monotonic()
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            runs = list(pool.map(lambda ps: engine.run(ps[1], ps[0].parent), subs))
        wall = time.monotonic() - t2
    per_task: dict[str, list[float]] = defaultdict(list)
    for r in runs:
        for t in r.tasks:
            per_task[t.task_id].append(t.duration_s)
    per_sub = [r.duration_s for r in runs]
    print(f"\n{args.n} submissions on {args.jobs} workers: {wall:.1f} s wall "
          f"({wall / args.n:.2f} s per submission; each took {statistics.mean(per_sub):.1f} s "
          f"on average, max {max(per_sub):.1f} s)")
    for tid, ds in sorted(per_task.items()):
        print(f"  {tid}: mean {statistics.mean(ds):6.2f} s  max {max(ds):6.2f} s")
    print(f"total including engine start: {time.monotonic() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
