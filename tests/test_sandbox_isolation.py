"""The isolation layers one by one (in throw-away processes, without TensorFlow), and
`grader doctor`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from grader.sandbox import landlock, seccomp
from grader.sandbox.limits import Cgroup, CgroupBase, RunLimits
from tests.sandbox_support import linux_only

pytestmark = linux_only


def run_py(code: str, timeout: float = 60) -> dict:  # type: ignore[type-arg]
    """Run ``code`` in a fresh interpreter; it prints one JSON object last."""
    root = str(Path(__file__).resolve().parent.parent)
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, timeout=timeout, env={**os.environ, "PYTHONPATH": root})
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_seccomp_program_is_well_formed() -> None:
    if seccomp.arch() is None:
        pytest.skip("no syscall table for this machine")
    prog = seccomp.build_filter(1234)
    assert len(prog) % 8 == 0 and 20 < len(prog) // 8 < 255


@pytest.mark.skipif(seccomp.arch() is None, reason="no syscall table for this machine")
def test_seccomp_refuses_sockets_exec_fork_and_signals_but_allows_threads() -> None:
    res = run_py("""
        import ctypes, json, os, signal, threading
        from grader.sandbox import seccomp
        libc = ctypes.CDLL(None, use_errno=True)
        parent = os.getppid()
        seccomp.install()
        out = {}
        def err(r):
            return ctypes.get_errno() if r < 0 else 0
        out["socket"] = err(libc.socket(2, 1, 0))
        out["unix"] = err(libc.socket(1, 1, 0))
        out["fork"] = err(libc.fork())
        argv = (ctypes.c_char_p * 2)(b"/bin/true", None)
        out["exec"] = err(libc.execv(b"/bin/true", argv))
        out["kill_parent"] = err(libc.kill(parent, 0))
        out["kill_all"] = err(libc.kill(-1, 0))
        out["kill_self"] = err(libc.kill(os.getpid(), 0))
        out["setsid"] = err(libc.setsid())
        box = []
        t = threading.Thread(target=lambda: box.append(1)); t.start(); t.join()
        out["thread"] = box == [1]
        print(json.dumps(out))
    """)
    eperm = 1
    assert res == {"socket": eperm, "unix": eperm, "fork": eperm, "exec": eperm,
                   "kill_parent": eperm, "kill_all": eperm, "kill_self": 0, "setsid": eperm,
                   "thread": True}


@pytest.mark.skipif(landlock.abi_version() < 1, reason="no Landlock in this kernel")
def test_landlock_allow_list(tmp_path: Path) -> None:
    ok_dir, secret, scratch = tmp_path / "ok", tmp_path / "secret.txt", tmp_path / "scratch"
    ok_dir.mkdir()
    scratch.mkdir()
    (ok_dir / "a.txt").write_text("a")
    secret.write_text("s")
    res = run_py(f"""
        import json, sys, os
        from grader.sandbox import landlock, seccomp
        seccomp.no_new_privs()
        landlock.restrict([{str(ok_dir)!r}, sys.prefix, sys.base_prefix], [{str(scratch)!r}])
        out = {{}}
        def attempt(name, fn):
            try:
                fn()
                out[name] = "ok"
            except OSError as e:
                out[name] = e.errno
        attempt("read_ok", lambda: open({str(ok_dir / "a.txt")!r}).read())
        attempt("read_secret", lambda: open({str(secret)!r}).read())
        attempt("write_ok_dir", lambda: open({str(ok_dir / "b.txt")!r}, "w"))
        attempt("write_scratch", lambda: open({str(scratch / "c.txt")!r}, "w").write("c"))
        attempt("list_parent", lambda: os.listdir({str(tmp_path)!r}))
        print(json.dumps(out))
    """)
    assert res == {"read_ok": "ok", "read_secret": 13, "write_ok_dir": 13,
                   "write_scratch": "ok", "list_parent": 13}


def test_rlimits_values() -> None:
    lim = RunLimits(memory_mb=100, processes=10, disk_mb=5, cpu_s=30)
    r = lim.rlimits()
    assert r["RLIMIT_DATA"] == (100 << 20, 100 << 20) and r["RLIMIT_CORE"] == (0, 0)
    assert r["RLIMIT_FSIZE"] == (5 << 20, 5 << 20) and r["RLIMIT_CPU"] == (30, 35)
    assert "RLIMIT_AS" not in r  # it breaks TensorFlow


@pytest.mark.parametrize(("soft", "hard", "nofile", "above"), [
    (1024, 8192, 512, True),     # the usual soft limit: raised so the channel fits above
    (8192, 8192, 512, True),     # already room
    (1024, 1024, 512, True),     # the hard limit leaves some room above the student's
    (600, 600, 512, False),      # no room above: a random number below the soft limit
])
def test_channel_fd_fits_under_any_descriptor_limit(soft: int, hard: int, nofile: int,
                                                     above: bool) -> None:
    import resource

    if resource.getrlimit(resource.RLIMIT_NOFILE)[1] < hard:
        pytest.skip(f"the hard descriptor limit here is below {hard}")
    # in a throw-away process: the limits are lowered for good there
    out = run_py(f"""
        import json, os, resource
        from grader.sandbox.isolation import channel_fd
        resource.setrlimit(resource.RLIMIT_NOFILE, ({soft}, {hard}))
        fds = []
        for _ in range(20):
            fd = channel_fd({nofile})
            fds.append(os.dup2(1, fd, inheritable=False))
            os.close(fd)
        print(json.dumps({{"fds": fds}}))
    """)
    fds = out["fds"]
    assert len(set(fds)) > 1  # random
    if above:
        assert all(nofile + 64 <= fd < min(hard, nofile + 64 + 3000) for fd in fds), fds
    else:
        assert all(3 <= fd < soft for fd in fds), fds


def test_cgroup_caps_memory_and_reports_the_oom_kill() -> None:
    base = CgroupBase.find()
    if base.memory is None:
        pytest.skip(base.detail)
    cg = Cgroup(base, f"grader-{os.getpid()}-test", memory_mb=64, processes=16)
    cg.create()
    try:
        code = ("import sys, os\nsys.stdin.readline()\nx = bytearray(300 << 20)\n"
                "x[::4096] = b'1' * len(x[::4096])\nprint('survived')\n")
        proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        cg.attach(proc.pid)
        assert proc.pid in cg.pids()
        out, _ = proc.communicate("go\n", timeout=60)
        assert proc.returncode == -9 and "survived" not in out
        assert cg.oom_kills() >= 1
    finally:
        cg.remove()
    assert not cg.dirs


def test_doctor_report_shows_the_layers_and_their_checks_pass() -> None:
    from grader.sandbox import doctor_report

    t0 = time.monotonic()
    rows = doctor_report(with_tensorflow=False)
    assert time.monotonic() - t0 < 30
    by = {name: (active, detail) for name, active, detail in rows}
    for layer in ("session", "seccomp", "landlock", "rlimits", "fds", "wall-timeout"):
        assert layer in by, layer
    checks = {n: a for n, a, _ in rows if n.startswith("check: ")}
    assert checks
    seccomp_on, landlock_on = by["seccomp"][0], by["landlock"][0]
    ro_on = by.get("read-only-fs", (False, ""))[0]
    for name, ok in checks.items():
        if "(seccomp)" in name and not seccomp_on:
            continue
        if "(Landlock)" in name and not landlock_on:
            continue
        if "read-only" in name and not (ro_on or landlock_on):
            continue
        assert ok, (name, rows)
