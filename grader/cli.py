"""Command line: a thin layer over the Python API. The only place that turns a
:class:`GraderError` into a message (and an exit status)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from grader import __version__
from grader.errors import GraderError

EXIT_OK, EXIT_GRADER_FAILED, EXIT_USAGE, EXIT_CHECK_FAILED = 0, 1, 2, 3


class ProgressBar:
    """A progress bar with an ETA on a terminal; a line per 10% otherwise."""

    def __init__(self, total: int, stream: TextIO = sys.stderr) -> None:
        self.total, self.stream = total, stream
        self.tty = stream.isatty()
        self.last_decile = -1

    def __call__(self, p: object) -> None:
        from grader.batch import Progress

        assert isinstance(p, Progress)
        eta = "--:--" if p.eta_s is None else _clock(p.eta_s)
        line = (f"[{_bar(p.done, p.total)}] {p.done}/{p.total}  "
                f"elapsed {_clock(p.elapsed_s)}  ETA {eta}  {p.student_id[:30]}")
        if self.tty:
            self.stream.write("\r\x1b[2K" + line)
            if p.done == p.total:
                self.stream.write("\n")
        else:
            decile = p.done * 10 // max(p.total, 1)
            if decile != self.last_decile or p.done == p.total:
                self.last_decile = decile
                self.stream.write(line + "\n")
        self.stream.flush()


def _bar(done: int, total: int, width: int = 24) -> str:
    n = width * done // max(total, 1)
    return "#" * n + "." * (width - n)


def _clock(s: float) -> str:
    s = round(s)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else \
        f"{s // 60}:{s % 60:02d}"


def _jobs(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 0:
        raise argparse.ArgumentTypeError("must be 0 (one per core) or more")
    return n


def _templates(args: argparse.Namespace) -> Path | None:
    """--templates DIR, else ./templates when it exists (the default override folder)."""
    if getattr(args, "templates", None):
        return Path(args.templates)
    return Path("templates") if Path("templates").is_dir() else None


def _assignment(arg: str | None) -> Path:
    from grader.assignment import find_assignment

    return find_assignment(Path.cwd(), arg)


# --------------------------------------------------------------------------- commands
def cmd_batch(args: argparse.Namespace) -> int:
    from grader.assignment import load_assignment
    from grader.batch import BatchOptions, run_batch

    sub_dir = Path(args.submissions)
    if not sub_dir.is_dir():
        raise GraderError("not a folder of submissions", path=sub_dir,
                          fix="pass the folder that holds one file or folder per student")
    assignment = load_assignment(_assignment(args.assignment))
    out = Path(args.out)
    templates = _templates(args)
    opts = BatchOptions(out_dir=out, db_url=args.db, jobs=args.jobs, regrade=args.regrade,
                        seed=args.seed, backend=args.backend, templates_dir=templates,
                        run_code=not args.no_code)
    print(f"grading {sub_dir} against {assignment.id} ({assignment.total:g} points)",
          file=sys.stderr)
    bar: ProgressBar | None = None

    def progress(p: object) -> None:
        nonlocal bar
        from grader.batch import Progress

        assert isinstance(p, Progress)
        if bar is None:
            bar = ProgressBar(p.total)
        bar(p)

    s = run_batch(sub_dir, assignment, opts, progress=None if args.quiet else progress)
    print(f"{s.found} submissions: {s.graded} graded, {s.skipped} unchanged (skipped), "
          f"{s.failed} failed, {s.needs_review} need review  —  {s.duration_s:.1f} s")
    print(f"written answers scored with: {s.written_backend}")
    print(f"dashboard: {s.out_dir / 'index.html'}")
    print(f"results:   {s.out_dir / 'results.json'}, {s.out_dir / 'grades.csv'}")
    print(f"database:  {s.db_url}")
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    from grader.assignment import load_assignment

    a = load_assignment(_assignment(args.assignment))
    print(f"{a.id}: {len(a.questions)} written questions ({a.written_total:g} points), "
          f"{len(a.tasks)} code tasks ({a.code_total:g} points), total {a.total:g}: valid")
    if args.no_reference or not a.tasks:
        return EXIT_OK
    from grader.validate import format_validation, validate_reference

    report = validate_reference(a)
    print(format_validation(report))
    return EXIT_OK if report.ok else EXIT_CHECK_FAILED


def cmd_check(args: argparse.Namespace) -> int:
    from grader.assignment import load_assignment
    from grader.check import check, format_check

    path = Path(args.path)
    if not path.exists():
        raise GraderError("no such notebook or script", path=path,
                          fix="pass the .ipynb or .py file you will hand in")
    a = load_assignment(_assignment(args.assignment), private=False)
    report = check(path, a)
    print(format_check(report))
    return EXIT_OK if report.ok else EXIT_CHECK_FAILED


def cmd_doctor(args: argparse.Namespace) -> int:
    from grader.sandbox import doctor_report

    rows = doctor_report()
    width = max(len(r[0]) for r in rows)
    for layer, active, detail in rows:
        print(f"{layer:<{width}}  {'active ' if active else 'MISSING'}  {detail}")
    missing = [r[0] for r in rows if not r[1]]
    print("all isolation layers active" if not missing else
          f"running without: {', '.join(missing)} (the other layers still apply)")
    return EXIT_OK


def _db_for(args: argparse.Namespace) -> str:
    from grader import store

    return str(args.db or store.default_url(Path(args.out)))


def _existing_db(args: argparse.Namespace) -> Any:
    """The database of an earlier batch; never creates an empty one by mistake."""
    from grader import store

    return store.open_db(_db_for(args), create=False)


def cmd_override(args: argparse.Namespace) -> int:
    from grader import store
    from grader.assignment import load_assignment

    a = load_assignment(_assignment(args.assignment))
    points = {p.id: p for p in a.all_points()}
    if args.point not in points:
        raise GraderError(f"no rubric point {args.point!r} in {a.id}",
                          fix="use an id from the rubric, e.g. " + ", ".join(list(points)[:3]))
    db = _existing_db(args)
    if args.clear:
        gone = store.clear_override(db, a.id, args.student, args.point)
        print("override removed" if gone else "there was no override to remove")
    else:
        if args.awarded is None:
            raise GraderError("give the points to award, or --clear",
                              fix=f"grader override {args.student} {args.point} 1")
        mx = points[args.point].points
        if not 0 <= args.awarded <= mx:
            raise GraderError(f"{args.point} is worth 0 to {mx:g} points, not {args.awarded:g}")
        store.set_override(db, a.id, args.student, args.point, args.awarded, args.reason,
                           author=os.environ.get("USER", ""))
        print(f"{args.student} {args.point}: {args.awarded:g}/{mx:g} (override stored)")
    return _rerender(a, args)


def _rerender(a: object, args: argparse.Namespace) -> int:
    from grader import export, store
    from grader.assignment import Assignment
    from grader.review import apply_overrides

    assert isinstance(a, Assignment)
    db = _existing_db(args)
    grades = apply_overrides(store.load_grades(db, a.id), store.load_overrides(db, a.id))
    templates = _templates(args)
    export.write_all(grades, a, Path(args.out), templates_dir=templates)
    print(f"reports and exports rewritten in {args.out} ({len(grades)} students)")
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from grader.assignment import load_assignment

    return _rerender(load_assignment(_assignment(args.assignment)), args)


def cmd_review(args: argparse.Namespace) -> int:
    from grader import store
    from grader.assignment import load_assignment
    from grader.review import apply_overrides

    a = load_assignment(_assignment(args.assignment))
    db = _existing_db(args)
    grades = apply_overrides(store.load_grades(db, a.id), store.load_overrides(db, a.id))
    n = 0
    for g in grades:
        for p in g.points:
            if p.needs_review:
                n += 1
                print(f"{g.student_id}\t{p.point_id}\t{p.awarded:g}/{p.max_points:g}\t"
                      f"confidence {p.confidence:.2f}\t{p.evidence[:80]!r}")
        if g.status == "error":
            n += 1
            print(f"{g.student_id}\tFAILED\t" + "; ".join(g.errors))
    print(f"{n} item(s) to review", file=sys.stderr)
    return EXIT_OK


# --------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="grader",
        description="Grade deep-learning assignments: run students' TensorFlow code in a "
                    "sandbox against hidden tests, score written answers against rubric "
                    "points, store everything in SQLite and render HTML feedback.",
    )
    p.add_argument("--version", action="version", version=f"grader {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(sp: argparse.ArgumentParser, out: bool = True) -> None:
        sp.add_argument("--assignment", metavar="DIR",
                        help="assignment folder (default: the only one under ./assignments)")
        if out:
            sp.add_argument("--out", default="grader-out", metavar="DIR",
                            help="folder for reports, exports and the database "
                                 "(default: grader-out)")
            sp.add_argument("--db", metavar="URL",
                            help="SQLAlchemy database URL (default: sqlite file in --out)")

    b = sub.add_parser("batch", help="grade a folder of submissions",
                       description="Grade every submission (one file or folder per student) "
                                   "in SUBMISSIONS; store results; write reports and exports.")
    b.add_argument("submissions", metavar="SUBMISSIONS")
    common(b)
    b.add_argument("--jobs", type=_jobs, default=0, metavar="N",
                   help="sandbox workers (default: number of cores)")
    b.add_argument("--regrade", action="store_true",
                   help="grade again even submissions whose content and assignment are unchanged")
    b.add_argument("--seed", type=int, help="seed of the hidden tests' inputs (default: fresh)")
    b.add_argument("--backend", default="auto",
                   help="written-answer scorer: auto, lexical, or a model backend name")
    b.add_argument("--templates", metavar="DIR",
                   help="folder of template overrides (default: ./templates if present)")
    b.add_argument("--no-code", action="store_true", help="score written answers only")
    b.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=cmd_batch)

    v = sub.add_parser("validate", help="check an assignment and its reference solution",
                       description="Validate ASSIGNMENT's files; run the reference solution "
                                   "through the sandbox and fail unless it earns every code "
                                   "point.")
    v.add_argument("assignment", nargs="?", metavar="ASSIGNMENT")
    v.add_argument("--no-reference", action="store_true", help="only check the files")
    v.set_defaults(func=cmd_validate)

    c = sub.add_parser("check", help="run the public tests on your notebook or script",
                       description="For students: run the assignment's public tests on "
                                   "NOTEBOOK_OR_SCRIPT and print what passed.")
    c.add_argument("path", metavar="NOTEBOOK_OR_SCRIPT")
    common(c, out=False)
    c.set_defaults(func=cmd_check)

    d = sub.add_parser("doctor", help="show which sandbox isolation layers work here",
                       description="Print which isolation layers are active on this machine.")
    d.set_defaults(func=cmd_doctor)

    o = sub.add_parser("override", help="set a rubric point's points for a student",
                       description="Record an instructor's decision on one rubric point of "
                                   "one student (kept across regrades), then rewrite the "
                                   "reports and exports.")
    o.add_argument("student")
    o.add_argument("point", help="rubric-point id, e.g. q3.dtype")
    o.add_argument("awarded", type=float, nargs="?")
    o.add_argument("--reason", default="", help="shown to the student")
    o.add_argument("--clear", action="store_true", help="remove the override")
    common(o)
    o.set_defaults(func=cmd_override)

    r = sub.add_parser("report", help="rewrite reports and exports from the database",
                       description="Render the HTML reports, results.json and grades.csv "
                                   "again from the stored grades (with overrides).")
    common(r)
    r.add_argument("--templates", metavar="DIR", help="folder of template overrides")
    r.set_defaults(func=cmd_report)

    rv = sub.add_parser("review", help="list the points that need a person",
                        description="Print the review queue: low-confidence points and "
                                    "failed submissions.")
    common(rv)
    rv.set_defaults(func=cmd_review)
    return p


def _quiet_libraries() -> None:
    """Keep TensorFlow's and Hugging Face's start-up chatter out of the terminal (the
    instructor can still set these variables to see it)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def main(argv: Sequence[str] | None = None) -> int:
    _quiet_libraries()
    parser = build_parser()
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        rc: int = args.func(args)
        return rc
    except GraderError as exc:
        print(f"grader: error: {exc}", file=sys.stderr)
        return EXIT_GRADER_FAILED
    except OSError as exc:  # a file or folder the instructor named cannot be used
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"grader: error: {where}{exc.strerror or exc}\n  fix: check that the path "
              "exists and that you may read (and, for --out, write) it", file=sys.stderr)
        return EXIT_GRADER_FAILED
    except KeyboardInterrupt:
        print(f"\ngrader: interrupted after {time.monotonic() - started:.0f} s; what was "
              "graded is stored — run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
