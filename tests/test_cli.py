"""The CLI is a thin layer: every command has help, errors become messages with a fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from grader.cli import ProgressBar, build_parser, main

COMMANDS = ["batch", "validate", "check", "doctor", "override", "report", "review"]


def test_top_level_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "Grade deep-learning assignments" in out
    for c in COMMANDS:
        assert c in out


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    sub = build_parser()._subparsers._group_actions[0].choices[command]  # type: ignore[union-attr]
    assert sub.description and sub.description.split()[0] in out


def test_missing_folder_is_a_message_with_a_fix(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["batch", str(tmp_path / "nope")])
    err = capsys.readouterr().err
    assert rc == 1
    assert "not a folder of submissions" in err and "fix:" in err
    assert "Traceback" not in err


def test_bad_assignment_is_a_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "assignment.yaml").write_text("id: x\ncolour: red\n")
    rc = main(["validate", str(tmp_path / "a"), "--no-reference"])
    err = capsys.readouterr().err
    assert rc == 1 and "unknown key 'colour'" in err and "fix:" in err


def test_validate_files_only(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["validate", str(root / "assignments" / "dl_assignment_4"), "--no-reference"])
    assert rc == 0
    assert "11 written questions (28 points), 6 code tasks (20 points), total 48" in \
        capsys.readouterr().out


def test_console_script_runs() -> None:
    exe = Path(sys.executable).parent / "grader"
    proc = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and proc.stdout.startswith("grader ")


class _Stream:
    def __init__(self, tty: bool) -> None:
        self.tty, self.text = tty, ""

    def isatty(self) -> bool:
        return self.tty

    def write(self, s: str) -> None:
        self.text += s

    def flush(self) -> None:
        pass


def test_progress_bar_shows_eta() -> None:
    from grader.batch import Progress

    s = _Stream(tty=False)
    bar = ProgressBar(10, s)  # type: ignore[arg-type]
    for i in range(1, 11):
        bar(Progress(i, 10, f"s{i}", elapsed_s=float(i)))
    lines = s.text.splitlines()
    assert 2 <= len(lines) <= 11
    assert "ETA 0:09" in lines[0] and "10/10" in lines[-1]
