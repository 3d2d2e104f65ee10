"""The results database: SQLite (or any SQLAlchemy URL) through SQLAlchemy 2.

Every grade is committed in its own transaction as soon as it is ready, so a batch
killed at any point (even ``kill -9``) loses nothing already committed, and the next
run skips what is stored. The schema is created and changed only through Alembic
migrations (``grader/migrations``).

Tables: assignments, students, submissions (with a content hash), grading_runs,
grades (one per submission per run that graded it), point_results (per rubric
point, with evidence), task_results (per code task, with messages), answers,
cell_reports, overrides (instructor decisions, never touched by a regrade).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from alembic.util.exc import CommandError as AlembicError
from sqlalchemy import (
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from grader.errors import StoreError
from grader.models import (
    Answer,
    CellReport,
    CodeRun,
    Grade,
    PointResult,
    Problem,
    SourceFile,
    Submission,
    TaskResult,
)

MIGRATIONS = Path(__file__).parent / "migrations"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Base(DeclarativeBase):
    pass


class AssignmentRow(Base):
    __tablename__ = "assignments"
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    title: Mapped[str] = mapped_column(Text, default="")
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[str] = mapped_column(String(40), default=_now)


class StudentRow(Base):
    __tablename__ = "students"
    id: Mapped[str] = mapped_column(String(300), primary_key=True)
    created_at: Mapped[str] = mapped_column(String(40), default=_now)


class SubmissionRow(Base):
    __tablename__ = "submissions"
    __table_args__ = (UniqueConstraint("student_id", "assignment_id", "content_hash"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    student_id: Mapped[str] = mapped_column(ForeignKey("students.id"))
    assignment_id: Mapped[str] = mapped_column(ForeignKey("assignments.id"))
    path: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    files_json: Mapped[str] = mapped_column(Text, default="[]")
    problems_json: Mapped[str] = mapped_column(Text, default="[]")
    code_json: Mapped[str] = mapped_column(Text, default="[]")
    ingested_at: Mapped[str] = mapped_column(String(40), default=_now)


class RunRow(Base):
    __tablename__ = "grading_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assignment_id: Mapped[str] = mapped_column(ForeignKey("assignments.id"))
    assignment_hash: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[str] = mapped_column(String(40), default=_now)
    finished_at: Mapped[str | None] = mapped_column(String(40), nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="running")
    options_json: Mapped[str] = mapped_column(Text, default="{}")
    graded: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)


class GradeRow(Base):
    __tablename__ = "grades"
    __table_args__ = (Index("ix_grades_student_assignment", "student_id", "assignment_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("grading_runs.id"))
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"))
    student_id: Mapped[str] = mapped_column(ForeignKey("students.id"))
    assignment_id: Mapped[str] = mapped_column(ForeignKey("assignments.id"))
    assignment_hash: Mapped[str] = mapped_column(String(64))
    total: Mapped[float] = mapped_column(Float)
    max_total: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20))
    errors_json: Mapped[str] = mapped_column(Text, default="[]")
    load_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    load_message: Mapped[str] = mapped_column(Text, default="")
    layers_json: Mapped[str] = mapped_column(Text, default="[]")
    code_duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    graded_at: Mapped[str] = mapped_column(String(40), default=_now)
    points: Mapped[list[PointRow]] = relationship(cascade="all, delete-orphan")
    tasks: Mapped[list[TaskRow]] = relationship(cascade="all, delete-orphan")
    answers: Mapped[list[AnswerRow]] = relationship(cascade="all, delete-orphan")
    cells: Mapped[list[CellRow]] = relationship(cascade="all, delete-orphan")
    submission: Mapped[SubmissionRow] = relationship()


class PointRow(Base):
    __tablename__ = "point_results"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grade_id: Mapped[int] = mapped_column(ForeignKey("grades.id"), index=True)
    point_id: Mapped[str] = mapped_column(String(200))
    owner_id: Mapped[str] = mapped_column(String(200))
    awarded: Mapped[float] = mapped_column(Float)
    max_points: Mapped[float] = mapped_column(Float)
    verdict: Mapped[str] = mapped_column(String(20))
    feedback: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    evidence: Mapped[str] = mapped_column(Text, default="")
    confidence: Mapped[float] = mapped_column(Float, default=1.0)
    needs_review: Mapped[int] = mapped_column(Integer, default=0)
    kind: Mapped[str] = mapped_column(String(10), default="written")  # written | code


class TaskRow(Base):
    __tablename__ = "task_results"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grade_id: Mapped[int] = mapped_column(ForeignKey("grades.id"), index=True)
    task_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    stdout: Mapped[str] = mapped_column(Text, default="")
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    device: Mapped[str] = mapped_column(String(20), default="cpu")


class AnswerRow(Base):
    __tablename__ = "answers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grade_id: Mapped[int] = mapped_column(ForeignKey("grades.id"), index=True)
    question_id: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    file: Mapped[str] = mapped_column(Text)
    cells_json: Mapped[str] = mapped_column(Text, default="[]")
    label: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")


class CellRow(Base):
    __tablename__ = "cell_reports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grade_id: Mapped[int] = mapped_column(ForeignKey("grades.id"), index=True)
    file: Mapped[str] = mapped_column(Text)
    index: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(Text, default="")
    ename: Mapped[str] = mapped_column(Text, default="")
    evalue: Mapped[str] = mapped_column(Text, default="")
    traceback: Mapped[str] = mapped_column(Text, default="")


class OverrideRow(Base):
    __tablename__ = "overrides"
    __table_args__ = (UniqueConstraint("student_id", "assignment_id", "point_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    student_id: Mapped[str] = mapped_column(ForeignKey("students.id"))
    assignment_id: Mapped[str] = mapped_column(ForeignKey("assignments.id"))
    point_id: Mapped[str] = mapped_column(String(200))
    awarded: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[str] = mapped_column(String(40), default=_now)


# --------------------------------------------------------------------------- opening
def default_url(out_dir: Path) -> str:
    return f"sqlite:///{(out_dir / 'grader.sqlite').resolve()}"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def open_db(url: str, *, create: bool = True) -> Engine:
    """Open (and create or migrate to the newest schema) the database at ``url``.

    With ``create=False`` a missing SQLite file is an error instead of a new, empty
    database (for commands that read what a batch stored).
    """
    if url.startswith("sqlite:///") and not create:
        file = Path(url.removeprefix("sqlite:///"))
        if not file.is_file():
            raise StoreError("no database here", path=file,
                             fix="run `grader batch` first, or pass the --out/--db of that "
                                 "batch")
    try:
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        migrate(engine)
        return engine
    except (SQLAlchemyError, OSError, ImportError, AlembicError) as exc:
        raise StoreError(f"cannot open the database: {exc.__class__.__name__}: {exc}",
                         path=url, fix="check the --db URL and that its folder is writable") \
            from exc


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


# --------------------------------------------------------------------------- writing
def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def upsert_assignment(engine: Engine, assignment_id: str, title: str, content_hash: str) -> None:
    with Session(engine) as s, s.begin():
        row = s.get(AssignmentRow, assignment_id)
        if row is None:
            s.add(AssignmentRow(id=assignment_id, title=title, content_hash=content_hash))
        else:
            row.title, row.content_hash, row.updated_at = title, content_hash, _now()


def start_run(engine: Engine, assignment_id: str, assignment_hash: str,
              options: dict[str, Any]) -> int:
    """Record a new grading run; runs left 'running' by a killed batch become 'interrupted'."""
    with Session(engine) as s, s.begin():
        for old in s.scalars(select(RunRow).where(RunRow.assignment_id == assignment_id,
                                                  RunRow.status == "running")):
            old.status = "interrupted"
        run = RunRow(assignment_id=assignment_id, assignment_hash=assignment_hash,
                     options_json=_json(options))
        s.add(run)
        s.flush()
        return run.id


def finish_run(engine: Engine, run_id: int, *, graded: int, skipped: int, failed: int,
               status: str = "finished") -> None:
    with Session(engine) as s, s.begin():
        run = s.get(RunRow, run_id)
        if run is not None:
            run.status, run.finished_at = status, _now()
            run.graded, run.skipped, run.failed = graded, skipped, failed


def stored_hashes(engine: Engine, assignment_id: str) -> dict[str, tuple[str, str]]:
    """student id -> (submission content hash, assignment hash) of the latest grade."""
    out: dict[str, tuple[str, str]] = {}
    with Session(engine) as s:
        latest = (select(GradeRow.student_id, func.max(GradeRow.id).label("gid"))
                  .where(GradeRow.assignment_id == assignment_id)
                  .group_by(GradeRow.student_id).subquery())
        q = (select(GradeRow.student_id, SubmissionRow.content_hash, GradeRow.assignment_hash)
             .join(latest, GradeRow.id == latest.c.gid)
             .join(SubmissionRow, SubmissionRow.id == GradeRow.submission_id))
        for sid, chash, ahash in s.execute(q):
            out[sid] = (chash, ahash)
    return out


def save_grade(engine: Engine, run_id: int, grade: Grade, assignment_hash: str) -> int:
    """Store one grade in its own transaction; returns the grade's row id."""
    sub = grade.submission
    with Session(engine) as s, s.begin():
        if s.get(StudentRow, grade.student_id) is None:
            s.add(StudentRow(id=grade.student_id))
            s.flush()
        srow = s.scalars(select(SubmissionRow).where(
            SubmissionRow.student_id == grade.student_id,
            SubmissionRow.assignment_id == grade.assignment_id,
            SubmissionRow.content_hash == sub.content_hash)).first()
        if srow is None:
            srow = SubmissionRow(
                student_id=grade.student_id, assignment_id=grade.assignment_id, path=sub.path,
                content_hash=sub.content_hash,
                files_json=_json([asdict(f) for f in sub.files]),
                problems_json=_json([asdict(p) for p in sub.problems]),
                code_json=_json([asdict(c) for c in sub.code_cells]),
            )
            s.add(srow)
            s.flush()
        code = grade.code
        g = GradeRow(
            run_id=run_id, submission_id=srow.id, student_id=grade.student_id,
            assignment_id=grade.assignment_id, assignment_hash=assignment_hash,
            total=grade.total, max_total=grade.max_total, status=grade.status,
            errors_json=_json(list(grade.errors)),
            load_status=code.load_status if code else None,
            load_message=code.load_message if code else "",
            layers_json=_json(list(code.layers) if code else []),
            code_duration_s=code.duration_s if code else 0.0,
        )
        g.points = [_point_row(p, "written") for p in grade.written]
        if code:
            g.points += [_point_row(p, "code") for t in code.tasks for p in t.points]
            g.tasks = [TaskRow(task_id=t.task_id, status=t.status, message=t.message,
                               detail=t.detail, stdout=t.stdout, duration_s=t.duration_s,
                               device=t.device) for t in code.tasks]
            g.cells = [CellRow(**asdict(c)) for c in code.cells]
        g.answers = [AnswerRow(question_id=a.question_id, text=a.text, file=a.file,
                               cells_json=_json(list(a.cells)), label=a.label, note=a.note)
                     for a in sub.answers]
        s.add(g)
        s.flush()
        return g.id


def _point_row(p: PointResult, kind: str) -> PointRow:
    d = asdict(p)
    d["needs_review"] = int(p.needs_review)
    return PointRow(kind=kind, **d)


def set_override(engine: Engine, assignment_id: str, student_id: str, point_id: str,
                 awarded: float, reason: str, author: str = "") -> None:
    """Record (or replace) an instructor's decision on one rubric point."""
    with Session(engine) as s, s.begin():
        if s.get(StudentRow, student_id) is None:
            raise StoreError(f"no student {student_id!r} is stored for {assignment_id}",
                             fix="run `grader batch` first, or check the student id")
        row = s.scalars(select(OverrideRow).where(
            OverrideRow.student_id == student_id, OverrideRow.assignment_id == assignment_id,
            OverrideRow.point_id == point_id)).first()
        if row is None:
            s.add(OverrideRow(student_id=student_id, assignment_id=assignment_id,
                              point_id=point_id, awarded=awarded, reason=reason, author=author))
        else:
            row.awarded, row.reason, row.author, row.created_at = awarded, reason, author, _now()


def clear_override(engine: Engine, assignment_id: str, student_id: str, point_id: str) -> bool:
    with Session(engine) as s, s.begin():
        row = s.scalars(select(OverrideRow).where(
            OverrideRow.student_id == student_id, OverrideRow.assignment_id == assignment_id,
            OverrideRow.point_id == point_id)).first()
        if row is None:
            return False
        s.delete(row)
        return True


def load_overrides(engine: Engine, assignment_id: str) -> dict[tuple[str, str], tuple[float, str]]:
    """(student id, point id) -> (awarded, reason)."""
    with Session(engine) as s:
        rows = s.scalars(select(OverrideRow).where(OverrideRow.assignment_id == assignment_id))
        return {(r.student_id, r.point_id): (r.awarded, r.reason) for r in rows}


# --------------------------------------------------------------------------- reading
def load_grades(engine: Engine, assignment_id: str,
                students: Iterable[str] | None = None) -> list[Grade]:
    """The latest stored grade of every student (or of ``students``), rebuilt."""
    wanted = set(students) if students is not None else None
    with Session(engine) as s:
        latest = (select(func.max(GradeRow.id)).where(GradeRow.assignment_id == assignment_id)
                  .group_by(GradeRow.student_id))
        rows = s.scalars(select(GradeRow).where(GradeRow.id.in_(latest))
                         .order_by(GradeRow.student_id)).all()
        return [_grade(r) for r in rows if wanted is None or r.student_id in wanted]


def _grade(r: GradeRow) -> Grade:
    sr = r.submission
    sub = Submission(
        student_id=r.student_id, path=sr.path, content_hash=sr.content_hash,
        files=tuple(SourceFile(**f) for f in json.loads(sr.files_json)),
        answers=tuple(Answer(question_id=a.question_id, text=a.text, file=a.file,
                             cells=tuple(json.loads(a.cells_json)), label=a.label,  # type: ignore[arg-type]
                             note=a.note) for a in sorted(r.answers, key=lambda a: a.id)),
        code_cells=(),
        problems=tuple(Problem(**p) for p in json.loads(sr.problems_json)),
    )
    pts = sorted(r.points, key=lambda p: p.id)

    def pr(p: PointRow) -> PointResult:
        return PointResult(point_id=p.point_id, owner_id=p.owner_id, awarded=p.awarded,
                           max_points=p.max_points, verdict=p.verdict,  # type: ignore[arg-type]
                           feedback=p.feedback, detail=p.detail, evidence=p.evidence,
                           confidence=p.confidence, needs_review=bool(p.needs_review))

    written = tuple(pr(p) for p in pts if p.kind == "written")
    code: CodeRun | None = None
    if r.load_status is not None:
        tasks = tuple(
            TaskResult(task_id=t.task_id, status=t.status, message=t.message,  # type: ignore[arg-type]
                       points=tuple(pr(p) for p in pts if p.kind == "code"
                                    and p.owner_id == t.task_id),
                       duration_s=t.duration_s, detail=t.detail, stdout=t.stdout, device=t.device)
            for t in sorted(r.tasks, key=lambda t: t.id))
        cells = tuple(
            CellReport(file=c.file, index=c.index, status=c.status,  # type: ignore[arg-type]
                       message=c.message, ename=c.ename, evalue=c.evalue, traceback=c.traceback)
            for c in sorted(r.cells, key=lambda c: c.id))
        code = CodeRun(load_status=r.load_status, load_message=r.load_message,  # type: ignore[arg-type]
                       cells=cells, tasks=tasks, layers=tuple(json.loads(r.layers_json)),
                       duration_s=r.code_duration_s)
    return Grade(student_id=r.student_id, assignment_id=r.assignment_id, submission=sub,
                 written=written, code=code, total=r.total, max_total=r.max_total,
                 status=r.status, errors=tuple(json.loads(r.errors_json)))  # type: ignore[arg-type]


def list_runs(engine: Engine, assignment_id: str) -> Sequence[RunRow]:
    with Session(engine) as s:
        return s.scalars(select(RunRow).where(RunRow.assignment_id == assignment_id)
                         .order_by(RunRow.id)).all()
