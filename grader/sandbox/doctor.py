"""``grader doctor``: which isolation layers work on this machine, checked for real.

A worker without TensorFlow forks one sandbox, exactly as a grading run does, and
runs a few probe cells inside it that must be refused (a socket, reading a file
outside the allow-list, writing outside scratch, starting a process). Each layer
reports whether it could be applied; each probe whether it was refused.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from grader.models import CodeCell

_LIBC = "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
# Each probe goes straight to the C library (no Python audit hook on the way), so a
# refusal here comes from the kernel-level layers (seccomp, Landlock, mounts).
PROBES = (
    ("network refused (seccomp)", _LIBC + "fd = libc.socket(2, 1, 0)\n"
     "if fd < 0: raise PermissionError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))"),
    ("unix sockets refused (seccomp)", _LIBC + "fd = libc.socket(1, 1, 0)\n"
     "if fd < 0: raise PermissionError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))"),
    ("new processes refused (seccomp)", _LIBC + "pid = libc.fork()\n"
     "if pid == 0: libc._exit(0)\n"
     "if pid < 0: raise PermissionError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))"),
    ("files outside the allow-list unreadable (Landlock)", "open({secret!r}).read()"),
    ("writes outside scratch refused (read-only mounts, Landlock)",
     "open({outside!r}, 'w').write('x')"),
    ("programs cannot run (audit hook, seccomp)", "import subprocess\nsubprocess.run(['true'])"),
    ("scratch writable", "import os\nopen(os.path.join(os.getcwd(), 'ok.txt'), 'w').write('x')"),
)


def doctor_report(with_tensorflow: bool = True) -> list[tuple[str, bool, str]]:
    """(layer, active, detail) rows for this machine."""
    from grader.sandbox import gpus, landlock, seccomp
    from grader.sandbox.cells import prepare
    from grader.sandbox.engine import Worker, child_env, thread_caps
    from grader.sandbox.limits import CgroupBase

    rows: list[tuple[str, bool, str]] = []
    if not sys.platform.startswith("linux"):
        rows.append(("linux", False, f"{sys.platform}: only rlimits and the wall-clock timeout "
                     "apply; run the grader on Linux for the full sandbox"))
    abi = landlock.abi_version()
    rows.append(("kernel", True, f"{os.uname().release}; Landlock ABI {abi or 'none'}; seccomp "
                 f"table {'yes' if seccomp.arch() else 'none for ' + os.uname().machine}"))
    rows.append(("privileges", True, "root (namespaces created directly)" if os.geteuid() == 0
                 else "not root (namespaces through a user namespace where allowed)"))
    rows.append(("cgroup", bool(CgroupBase.find().memory or CgroupBase.find().pids),
                 CgroupBase.find().detail))
    work = Path(tempfile.mkdtemp(prefix="grader-doctor-"))
    os.chmod(work, 0o755)
    secret = work / "secret.txt"
    secret.write_text("not for students")
    outside = work / "outside.txt"
    cells = [CodeCell(source=src.format(secret=str(secret), outside=str(outside)),
                      file="probe.py", index=i) for i, (_, src) in enumerate(PROBES)]
    preload = ("tensorflow",) if with_tensorflow else ()
    w = Worker(0, None, work, thread_caps(1), preload, sys.executable)
    try:
        w.start()
        ready = w.wait_ready()
        if with_tensorflow:
            tf = ready.get("tensorflow")
            rows.append(("tensorflow", bool(tf), f"TensorFlow {tf} imported once per worker, "
                         "forked per submission" if tf else "; ".join(
                             ready.get("preload_errors", ["not importable"]))))
        run_dir = work / "run"
        (run_dir / "code").mkdir(parents=True)
        meta = []
        for i, c in enumerate(prepare(cells)):
            p = run_dir / "code" / f"probe{i}.py"
            p.write_text(c.source)
            meta.append({"file": c.file, "index": c.index, "line": c.line, "run": True,
                         "notebook": False, "path": str(p)})
        req = {"op": "run", "run_dir": str(run_dir), "cells": meta, "tasks": [],
               "tests_source": None,
               "load_limits": {"wall_s": 60, "memory_mb": 2048, "processes": 64,
                               "output_kb": 64, "disk_mb": 64},
               "tests": None, "seed": 0, "data_dir": None, "read_paths": [],
               "workdir": str(work), "threads": thread_caps(1), "env": child_env(w.env),
               "switches": {}, "devices": []}
        resp, _ = w.request(req)
    finally:
        w.close()
    for name, active, detail in resp.get("layers", []):
        rows.append((str(name), bool(active), str(detail)))
    rows.append(("wall-timeout", True, "the supervisor SIGKILLs the sandbox's process group "
                 "and cgroup at the limit"))
    got = resp.get("cells", {})
    for i, (label, _) in enumerate(PROBES):
        r = got.get(str(i), {})
        if label == "scratch writable":
            ok = r.get("status") == "ok"
            detail = "yes" if ok else f"{r.get('ename')}: {r.get('evalue')}"
        else:
            ok = r.get("status") == "error" and r.get("ename") in (
                "PermissionError", "OSError", "FileNotFoundError")
            detail = (f"refused ({r.get('ename')}: {r.get('evalue')})" if ok else
                      f"NOT refused: {r.get('status')}")
        rows.append((f"check: {label}", ok, detail[:200]))
    if outside.exists():
        rows.append(("check: grader's files intact", False, f"{outside} was written"))
    ids = gpus.detect()
    # not an isolation layer: always "active", the detail says what there is
    rows.append(("gpus", True, f"GPUs {', '.join(ids)} (one per worker, round robin)" if ids
                 else "none: `auto` tasks run on the CPU, `gpu` tasks are reported not "
                 "runnable"))
    shutil.rmtree(work, ignore_errors=True)
    return rows


if __name__ == "__main__":  # pragma: no cover
    for layer, active, detail in doctor_report():
        print(f"{layer:<42} {'active ' if active else 'MISSING'}  {detail}")
