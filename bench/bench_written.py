"""Accuracy and speed of the written scorer on hand-labelled answers.

Prints, per split, the agreement with the labels per rubric point (clear labels only:
borderline calls are excluded), the overall agreement, and the mean absolute error of the
question scores; then the speed (answers scored per second after the model is loaded) on
copies of the five real submissions, and what that means for a batch of 500.

Splits (tests/data/written/): ``seed`` (the five real submissions) and ``tune`` were used
to write the rubric hints and choose thresholds; ``test`` and ``test2`` are held out.

    .venv/bin/python bench/bench_written.py                  # backend auto
    .venv/bin/python bench/bench_written.py --backend lexical
    .venv/bin/python bench/bench_written.py --speed-copies 0  # accuracy only
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grader.assignment import load_assignment  # noqa: E402
from grader.models import Answer, Submission  # noqa: E402
from grader.written import load_scorer  # noqa: E402
from grader.written.evaluate import Labelled, evaluate, load_dev, load_seeds  # noqa: E402

DATA = ROOT / "tests" / "data" / "written"
SPLITS = {"seed": "seed_labels.yaml", "tune": "dev_tune.yaml", "test": "dev_test.yaml",
          "test2": "dev_test2.yaml"}


def _copies(subs: list[Submission], n: int) -> list[Submission]:
    """n copies of each submission, each line altered by extra spaces after its first word
    (same words, different text), so that no sentence is found in the embedding cache, as
    with 500 different students."""
    out = []
    for k in range(n):
        for s in subs:
            answers = tuple(
                Answer(a.question_id, "\n".join(line.replace(" ", " " * (k + 2), 1)
                                                for line in a.text.splitlines()),
                       a.file, a.cells, a.label) for a in s.answers)
            out.append(replace(s, student_id=f"{s.student_id}-{k}", answers=answers))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--splits", default="seed,tune,test,test2")
    ap.add_argument("--speed-copies", type=int, default=4,
                    help="copies of the 5 real submissions to time (0: skip)")
    ap.add_argument("--show", action="store_true", help="list the disagreements")
    args = ap.parse_args()
    assignment = load_assignment(ROOT / "assignments" / "dl_assignment_4")
    t0 = time.perf_counter()
    scorer = load_scorer(args.backend)
    print(f"backend: {scorer.backend_name} (loaded in {time.perf_counter() - t0:.1f} s)"
          + (f"; note: {scorer.note}" if scorer.note else ""))

    seeds: list[Labelled] = []
    for split in args.splits.split(","):
        if split == "seed":
            items = seeds = load_seeds(DATA / SPLITS["seed"], ROOT / "examples" / "submissions",
                                       assignment)
        else:
            items = load_dev(DATA / SPLITS[split], split)
        rep = evaluate(scorer, items, assignment)
        held = "held out" if split.startswith("test") else "used for tuning"
        print(f"\n== split {split} ({held}): {len(items)} submissions, {rep.n()} clear labels, "
              f"{rep.n(False) - rep.n()} borderline")
        print("  " + "  ".join(f"{pid} {ok}/{n}" for pid, (ok, n) in rep.per_point().items()))
        print(f"  agreement (clear labels) = {rep.agreement():.3f}   all labels = "
              f"{rep.agreement(False):.3f}   question-score MAE = {rep.question_mae():.3f}")
        if args.show:
            for st, pid, lab, got, bl in rep.disagreements():
                tag = " (borderline)" if bl else ""
                print(f"    {st} {pid}: label {lab:g}, scored {got:g}{tag}")

    if args.speed_copies > 0:
        if not seeds:
            seeds = load_seeds(DATA / SPLITS["seed"], ROOT / "examples" / "submissions",
                               assignment)
        subs = _copies([s.submission for s in seeds], args.speed_copies)
        n_answers = sum(len(s.answers) for s in subs)
        t0 = time.perf_counter()
        results = scorer.score_many(subs, assignment)
        dt = time.perf_counter() - t0
        review = sum(r.needs_review for res in results for r in res)
        per_sub = dt / len(subs)
        print(f"\nspeed: {len(subs)} submissions (copies of the 5 real ones), {n_answers} "
              f"answers in {dt:.1f} s = {n_answers / dt:.1f} answers/s, "
              f"{per_sub:.2f} s per submission after loading")
        print(f"  500 submissions like these: about {per_sub * 500 / 60:.1f} min of written "
              f"scoring; {review / len(subs):.1f} points per submission sent to review")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
