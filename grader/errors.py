"""The one exception family of grader.

Only :mod:`grader.cli` turns these into messages for people. A student's failure is
never an exception: it is data (a status and a message) in :mod:`grader.models`.
Every error carries the data needed to act on it: which file, what was wrong, and
what to do (``fix``).
"""

from __future__ import annotations

from pathlib import Path


class GraderError(Exception):
    """Base of every error grader raises on purpose."""

    def __init__(self, message: str, *, path: Path | str | None = None, fix: str = "") -> None:
        self.message = message
        self.path = str(path) if path is not None else None
        self.fix = fix
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        fix = f"\n  fix: {self.fix}" if self.fix else ""
        return f"{where}{self.message}{fix}"


class ConfigError(GraderError):
    """An assignment or rubric file is invalid."""

    def __init__(
        self, message: str, *, path: Path | str | None = None, key: str = "", fix: str = ""
    ) -> None:
        self.key = key
        if key:
            message = f"{key}: {message}"
        super().__init__(message, path=path, fix=fix)


class IngestError(GraderError):
    """A submission file cannot be read (used inside ingest; becomes data there)."""


class SandboxError(GraderError):
    """The sandbox engine itself failed (not the student's code)."""


class StoreError(GraderError):
    """The results database cannot be opened, migrated or written."""


class ScorerError(GraderError):
    """The written-answer scorer cannot be loaded or configured."""
