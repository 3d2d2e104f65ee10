"""Judging: turning what a worker sent back into :class:`~grader.models.CodeRun` results.

Everything here runs in the grader's process, on observations that came back as JSON +
``.npz``: decoding them (:func:`observation`), naming how a sandbox ended
(:func:`death`), the per-cell and per-task reports, and running each task's judge
function (:func:`judge_task`).
"""

from __future__ import annotations

import json
import signal
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from grader.assignment import CodeTask, Limits
from grader.codetest import Check, ErrorInfo, JudgeContext, Observation, Suite
from grader.models import CellReport, CodeRun, PointResult, TaskResult
from grader.sandbox import cells as cellmod
from grader.sandbox.channel import decode, npz_to_arrays

_SIGNAMES = {signal.SIGSEGV: "a segmentation fault", signal.SIGABRT: "an abort (SIGABRT)",
             signal.SIGBUS: "a bus error", signal.SIGFPE: "a floating-point exception",
             signal.SIGILL: "an illegal instruction", signal.SIGKILL: "SIGKILL",
             signal.SIGXCPU: "the CPU time limit (SIGXCPU)", signal.SIGSYS: "a forbidden syscall"}


def no_points(task: CodeTask, feedback: str, verdict: str = "not_awarded", detail: str = "",
              review: bool = False) -> tuple[PointResult, ...]:
    return tuple(PointResult(point_id=p.id, owner_id=task.id, awarded=0.0, max_points=p.points,
                             verdict=verdict, feedback=feedback, detail=detail,  # type: ignore[arg-type]
                             needs_review=review) for p in task.points)


def error_info(d: Mapping[str, Any] | None) -> ErrorInfo | None:
    if not d:
        return None
    return ErrorInfo(ename=str(d.get("ename", "")), evalue=str(d.get("evalue", "")),
                     traceback=str(d.get("traceback", "")),
                     line=d.get("line") if isinstance(d.get("line"), int) else None,
                     file=d.get("file") if isinstance(d.get("file"), str) else None)


def limit_word(lim: Limits, kind: str) -> str:
    return {"memory": f"memory limit of {lim.memory_mb} MB",
            "processes": f"limit of {lim.processes} processes/threads",
            "cpu": "CPU time limit",
            "disk": f"disk limit of {lim.disk_mb} MB (scratch folder)"}[kind]


def process_refused(e: ErrorInfo) -> bool:
    """The error a new thread or process meets at the process limit where no cgroup
    counts them (RLIMIT_NPROC: Python's "can't start new thread", fork's EAGAIN)."""
    return ((e.ename == "RuntimeError" and "can't start new thread" in e.evalue)
            or (e.ename in ("BlockingIOError", "OSError") and "[Errno 11]" in e.evalue))


@dataclass(frozen=True)
class Judging:
    """What judging a submission needs from the engine."""

    tasks: tuple[CodeTask, ...]
    load_limits: Limits
    suite: Suite | None
    seed: int
    reference_problems: Mapping[str, str]


def observation(r: Mapping[str, Any], blobs: list[bytes]) -> tuple[Observation, str]:
    """Decode one task's records into an :class:`Observation`; also a problem, if any."""
    values: dict[str, Any] = {}
    problem = ""
    for key, value, idx in r.get("records", []):
        try:
            arrays = npz_to_arrays(blobs[idx]) if idx is not None else {}
            values[key] = decode(value, arrays)
        except Exception as exc:  # a malformed observation: treat as not recorded
            problem = f"observation {key!r} could not be read: {exc}"
    errors = {k: e for k, v in (r.get("errors") or {}).items() if (e := error_info(v))}
    status = "ok"
    if r.get("outcome") != "ended":
        status = "error"
        problem = problem or f"the task did not finish ({r.get('outcome')})"
    elif r.get("status") != "ok":
        status = "error"
        if r.get("status") == "missing":
            problem = f"names not defined: {', '.join(r.get('missing', []))}"
        elif r.get("status") == "no_tests":
            problem = "no observe function for this task in the tests file"
        elif r.get("error"):
            e = error_info(r["error"])
            problem = f"observe raised {e.summary() if e else ''}"
            errors = {**errors, "_observe": e} if e else errors
    if errors and not problem:
        problem = "; ".join(f"{k}: {e.summary()}" for k, e in errors.items())
    return Observation(values=values, errors=errors, status=status,
                       stdout=str(r.get("stdout", ""))), problem


def build_run(ctx: Judging, resp: Mapping[str, Any], blobs: list[bytes],
              prepared: Sequence[cellmod.PreparedCell], ref: Mapping[str, Observation],
              devices: Mapping[str, str | None], duration: float,
              active: tuple[str, ...]) -> CodeRun:
    """The :class:`CodeRun` of one submission from its worker's response."""
    load = resp.get("load", {})
    load_status, load_message = load_outcome(load, prepared, ctx.load_limits)
    cells = cell_reports(resp, prepared, load_status, load_message)
    source = cellmod.judge_source(prepared)
    skipped = cellmod.not_executed(prepared)
    tasks = []
    for t in ctx.tasks:
        if devices.get(t.id) is None:
            msg = "not run: this task needs a GPU and there is none on this machine"
            tasks.append(TaskResult(task_id=t.id, status="not_runnable", message=msg,
                                    points=no_points(t, msg, "error", msg, True),
                                    device="gpu"))
            continue
        if load_status != "ok":
            msg = f"not run: {load_message}"
            det = json.dumps({k: v for k, v in load.items() if k != "stdout"})[:4000]
            tasks.append(TaskResult(task_id=t.id, status=load_status,  # type: ignore[arg-type]
                                    message=msg, points=no_points(t, msg), detail=det,
                                    device=str(devices[t.id])))
            continue
        r = resp.get("tasks", {}).get(t.id)
        tasks.append(task_result(ctx, t, r, blobs, ref.get(t.id), source,
                                 str(devices[t.id]), cells))
    if skipped:
        load_message = (load_message + "; " if load_message else "") + (
            "not executed: " + "; ".join(skipped[:10]) + (
                f" (and {len(skipped) - 10} more)" if len(skipped) > 10 else ""))
    return CodeRun(load_status=load_status, load_message=load_message,  # type: ignore[arg-type]
                   cells=cells, tasks=tuple(tasks), layers=active, duration_s=duration)


def death(info: Mapping[str, Any], lim: Limits) -> tuple[str, str]:
    """(status, message) for a sandbox that ended before its phase did."""
    why = info.get("outcome")
    if why == "timeout":
        return "timeout", f"time limit of {lim.wall_s:g} s hit"
    if why == "tamper":
        return "error", ("the grader's result channel received data that the grader did "
                         "not write (something in your code wrote into it)")
    sig = info.get("signal")
    out = str(info.get("stdout", ""))
    if info.get("oom_kills") or "std::bad_alloc" in out or (
            sig == signal.SIGKILL and info.get("peak_mb", 0) >= lim.memory_mb * 0.95):
        return "limit", limit_word(lim, "memory") + " hit"
    if sig == signal.SIGXCPU:
        return "limit", "CPU time limit hit"
    if sig is not None:
        name = _SIGNAMES.get(sig, f"signal {sig}")
        return "error", f"the process crashed ({name})"
    if info.get("code") == 73:
        return "error", ("your code closed the grader's result channel (a file descriptor "
                         "it did not open), so nothing more could be checked")
    if info.get("code") == 72:
        return "error", "the grader's sandbox failed (not your code)"
    if "code" in info:
        return "error", (f"your code ended the process (exit status {info['code']}): "
                         "sys.exit/os._exit stop the grader's run too")
    return "error", "the process ended unexpectedly"


def load_outcome(load: Mapping[str, Any], prepared: Sequence[cellmod.PreparedCell],
                 lim: Limits) -> tuple[str, str]:
    """(status, message) of loading the student's cells."""
    if load.get("status") == "ok":
        return "ok", ""
    status, msg = death(load, lim)
    where = ""
    cell = load.get("cell")
    if isinstance(cell, int) and 0 <= cell < len(prepared):
        c = prepared[cell]
        where = f" while running {c.file}, {c.where()}" if c.notebook else \
            f" while running {c.file} ({c.where()})"
    if status == "timeout":
        return "timeout", f"time limit of {lim.wall_s:g} s for loading your code hit{where}"
    return status, f"loading your code failed{where}: {msg}"


def cell_reports(resp: Mapping[str, Any], prepared: Sequence[cellmod.PreparedCell],
                 load_status: str, load_message: str) -> tuple[CellReport, ...]:
    out = []
    got = resp.get("cells", {})
    for i, c in enumerate(prepared):
        note = ("not executed: " + "; ".join(c.skipped)) if c.skipped else ""
        r = got.get(str(i))
        if not c.run:
            out.append(CellReport(file=c.file, index=c.index, status="skipped",
                                  message="; ".join(c.skipped)))
        elif r is None and i == resp.get("load", {}).get("cell") and load_message:
            out.append(CellReport(file=c.file, index=c.index, status="error",
                                  message=load_message))
        elif r is None:
            why = load_message or "loading stopped before it"
            out.append(CellReport(file=c.file, index=c.index, status="skipped",
                                  message=f"not run: {why}"))
        elif r.get("status") == "error":
            ename, evalue = str(r.get("ename", "")), str(r.get("evalue", ""))
            msg = f"{ename}: {evalue}" + (f"; {note}" if note else "")
            out.append(CellReport(file=c.file, index=c.index, status="error", message=msg,
                                  ename=ename, evalue=evalue,
                                  traceback=str(r.get("traceback", ""))))
        else:
            out.append(CellReport(file=c.file, index=c.index, status="ok", message=note))
    return tuple(out)


def task_result(ctx: Judging, t: CodeTask, r: Mapping[str, Any] | None, blobs: list[bytes],
                ref: Observation | None, source: str, device: str,
                cells: Sequence[CellReport]) -> TaskResult:
    lim = t.limits
    if r is None:
        msg = "not run (the sandbox stopped before this task)"
        return TaskResult(task_id=t.id, status="error", message=msg,
                          points=no_points(t, msg, "error", msg, True), device=device)
    dur = float(r.get("duration", 0.0))
    stdout = str(r.get("stdout", ""))
    cap = lim.output_kb * 1024
    if len(stdout) > cap + 200:  # the worker keeps the tail already; a safety net
        stdout = f"[... {len(stdout) - cap} characters not shown ...]\n" + stdout[-cap:]
    outcome = r.get("outcome")
    detail = {k: v for k, v in r.items() if k not in ("records", "errors", "stdout")}
    det = json.dumps(detail, default=str)[:4000]
    if outcome == "reload_failed":
        info = dict(r.get("reload", {}))
        _, why = death(info, ctx.load_limits)
        msg = ("not run: an earlier task ended the process and loading your code again "
               f"failed ({why})")
        return TaskResult(task_id=t.id, status="error", message=msg, points=no_points(t, msg),
                          duration_s=dur, detail=det, stdout=stdout, device=device)
    if outcome != "ended":
        status, msg = death(r, lim)
        return TaskResult(task_id=t.id, status=status, message=msg,  # type: ignore[arg-type]
                          points=no_points(t, msg), duration_s=dur, detail=det, stdout=stdout,
                          device=device)
    st = r.get("status")
    if st == "missing":
        names = ", ".join(f"`{n}`" for n in r.get("missing", []))
        msg = f"{names} {'is' if len(r.get('missing', [])) == 1 else 'are'} not defined " \
              "in your code"
        if any(c.status == "error" for c in cells):
            msg += " (a cell of your code raised an error while loading: see above)"
        return TaskResult(task_id=t.id, status="missing", message=msg, points=no_points(t, msg),
                          duration_s=dur, detail=det, stdout=stdout, device=device)
    if st == "no_tests":
        msg = "this task could not be checked (no tests for it)"
        return TaskResult(task_id=t.id, status="error", message=msg,
                          points=no_points(t, msg, "error", "no observe function in the "
                                         "tests file for this task", True),
                          duration_s=dur, detail=det, stdout=stdout, device=device)
    obs, _ = observation(r, blobs)
    all_errors = list(obs.errors.values())
    err = error_info(r.get("error"))
    if err:
        all_errors.append(err)
    limit_kind = None
    if r.get("memory") or any(e.ename in ("MemoryError", "ResourceExhaustedError")
                              or "std::bad_alloc" in e.evalue for e in all_errors):
        limit_kind = "memory"
    elif any(("[Errno 28]" in e.evalue or "[Errno 27]" in e.evalue
              or (e.ename == "OSError" and "File too large" in e.evalue)) for e in all_errors):
        limit_kind = "disk"
    elif (r.get("pids_hit") and all_errors) or any(process_refused(e) for e in all_errors):
        limit_kind = "processes"
    if limit_kind:
        msg = limit_word(lim, limit_kind) + " hit"
        return TaskResult(task_id=t.id, status="limit", message=msg, points=no_points(t, msg),
                          duration_s=dur, detail=det, stdout=stdout, device=device)
    points = judge_task(ctx, t, obs, ref or Observation(status="error"), source)
    status = "ok" if st == "ok" else "error"
    got = sum(p.awarded for p in points)
    msg = f"{got:g} of {t.max_points:g} points"
    if err:
        msg = f"your code raised {err.summary()}; {msg}"
    elif obs.errors:
        first = next(iter(obs.errors.values()))
        msg += f"; your code raised {first.summary()}"
    if r.get("threads_left"):
        det += f"\nthreads still running after the task: {r['threads_left']}"
    return TaskResult(task_id=t.id, status=status, message=msg, points=points,  # type: ignore[arg-type]
                      duration_s=dur, detail=det, stdout=stdout, device=device)


def judge_task(ctx: Judging, t: CodeTask, student: Observation, reference: Observation,
               source: str) -> tuple[PointResult, ...]:
    """Run the task's judge function (here, in the grader's process) into point results."""
    tests = ctx.suite.tasks.get(t.id) if ctx.suite else None
    judge = tests.judge if tests else None
    ref_problem = ctx.reference_problems.get(t.id, "")
    if judge is None:
        msg = "this task could not be checked (no judge for it)"
        return no_points(t, msg, "error", "no judge function in the tests file", True)
    checks: dict[str, Check] = {}
    judge_error = ""
    stray: list[str] = []
    try:
        for chk in judge(student, reference, JudgeContext(t.id, source, ctx.seed)):
            if isinstance(chk, Check):
                checks[chk.point] = chk
            else:
                stray.append(repr(chk)[:200])
    except Exception:
        judge_error = traceback.format_exc()
    known = {p.id for p in t.points}
    stray += [k for k in checks if k not in known]
    out = []
    for p in t.points:
        c = checks.get(p.id)
        review = bool(ref_problem)
        notes = [f"reference: {ref_problem}"] if ref_problem else []
        if stray:
            notes.append(f"judge yielded unknown checks: {', '.join(stray)}")
        if c is None:
            if judge_error:
                out.append(PointResult(
                    point_id=p.id, owner_id=t.id, awarded=0.0, max_points=p.points,
                    verdict="error", feedback="this check could not be completed; an "
                    "instructor will review it", detail="\n".join(
                        [*notes, "judge raised:", judge_error]), needs_review=True))
            else:
                out.append(PointResult(
                    point_id=p.id, owner_id=t.id, awarded=0.0, max_points=p.points,
                    verdict="not_awarded", feedback="not checked",
                    detail="\n".join([*notes, "the judge gave no verdict for this point"]),
                    needs_review=True))
            continue
        out.append(PointResult(
            point_id=p.id, owner_id=t.id, awarded=p.points if c.passed else 0.0,
            max_points=p.points, verdict="awarded" if c.passed else "not_awarded",
            feedback=c.feedback, detail="\n".join([*notes, c.detail]).strip(),
            needs_review=review))
    return tuple(out)
