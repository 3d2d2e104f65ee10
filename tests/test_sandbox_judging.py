"""Judging in the grader's process: how a task's reported errors become limit messages."""

from __future__ import annotations

import pytest

from grader.codetest import ErrorInfo
from grader.sandbox.judging import process_refused


@pytest.mark.parametrize(("ename", "evalue", "refused"), [
    ("RuntimeError", "can't start new thread", True),          # threading at RLIMIT_NPROC
    ("BlockingIOError", "[Errno 11] Resource temporarily unavailable", True),  # os.fork
    ("OSError", "[Errno 11] Resource temporarily unavailable", True),
    ("RuntimeError", "Attempting to capture an EagerTensor", False),
    ("PermissionError", "[Errno 1] Operation not permitted", False),  # seccomp, not a limit
    ("ValueError", "can't start new thread", False),
])
def test_process_limit_recognised_without_a_cgroup(ename: str, evalue: str,
                                                   refused: bool) -> None:
    assert process_refused(ErrorInfo(ename=ename, evalue=evalue, traceback="")) is refused
