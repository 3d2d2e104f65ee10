"""External benchmark: the written scorer's reference-answer mode on Mohler et al. (2011).

2,273 real student answers to 81 data-structures questions, each with the instructor's
reference answer and the average of two human graders (0-5). The features of
grader.written.reference_mode are computed for every answer; the linear model is fitted
leaving each question out (nothing is fitted on the question being scored), and Pearson r
and RMSE against ``score_avg`` are printed over all answers, with the speed.

    .venv/bin/python bench/bench_mohler.py                 # model backend (auto)
    .venv/bin/python bench/bench_mohler.py --backend lexical
    .venv/bin/python bench/bench_mohler.py --fit           # print the all-data fit to ship
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grader.written.embed import load_embedder  # noqa: E402
from grader.written.reference_mode import (  # noqa: E402
    FEATURES_LEXICAL,
    FEATURES_MODEL,
    fit,
    lexical_features,
    model_features,
)

DEFAULT_CSV = ROOT.parent / "shared" / "benchmarks" / "mohler_2011" / "mohler_2011_v2.csv"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--fit", action="store_true", help="print the all-data fit")
    ap.add_argument("--limit", type=int, default=0, help="first N answers only (smoke test)")
    args = ap.parse_args()
    if not args.csv.is_file():
        print(f"benchmark data not found: {args.csv}", file=sys.stderr)
        return 2
    with args.csv.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if args.limit:
        rows = rows[: args.limit]
    y = np.array([float(r["score_avg"]) for r in rows])
    qid = np.array([r["question_id"] for r in rows])
    items = [(r["question"], r["reference_answer"], r["student_answer"]) for r in rows]

    t0 = time.perf_counter()
    emb, note = load_embedder(args.backend)
    load_s = time.perf_counter() - t0
    print(f"backend: {emb.name}{' (' + note + ')' if note else ''}; model loaded in {load_s:.1f} s")

    t0 = time.perf_counter()
    if emb.has_tokens:
        x, names = model_features(emb, items), FEATURES_MODEL
    else:
        x = np.asarray([lexical_features(*t) for t in items], dtype=np.float64)
        names = FEATURES_LEXICAL
    feat_s = time.perf_counter() - t0
    n_texts = len({t for trip in items for t in trip})
    print(f"scored {len(rows)} answers ({n_texts} distinct texts) in {feat_s:.1f} s: "
          f"{len(rows) / feat_s:.1f} answers/s after loading")

    frac = y / 5.0
    pred = np.zeros(len(y))
    for q in np.unique(qid):
        test = qid == q
        model = fit(x[~test], frac[~test], names)
        pred[test] = model.predict(x[test]) * 5.0
    r = float(np.corrcoef(pred, y)[0, 1])
    rmse = float(np.sqrt(np.mean((pred - y) ** 2)))
    print(f"leave-one-question-out over {len(np.unique(qid))} questions, {len(y)} answers:")
    print(f"  Pearson r = {r:.3f}   RMSE = {rmse:.3f}   (published best 0.592 / 0.887; "
          "human graders agree at 0.597)")
    for i, n in enumerate(names):
        print(f"  single feature {n:7s} r = {np.corrcoef(x[:, i], y)[0, 1]:.3f}")
    if args.fit:
        m = fit(x, frac, names)
        print("all-data fit:")
        print(f"    names={m.names!r},\n    mean={tuple(round(v, 5) for v in m.mean)},\n"
              f"    std={tuple(round(v, 5) for v in m.std)},\n"
              f"    weights={tuple(round(v, 5) for v in m.weights)},\n"
              f"    intercept={round(m.intercept, 5)},")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
