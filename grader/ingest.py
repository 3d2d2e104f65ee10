"""Reading submissions: one file or one folder per student, into a :class:`Submission`.

``discover(root)`` lists the submissions under a folder: every entry at the top level
is one student (a file of any type, or a folder), except hidden entries (``.*``),
``__pycache__``, ``.ipynb_checkpoints``, ``__MACOSX`` and OS clutter (``Thumbs.db``,
``desktop.ini``). Files of an unsupported type are listed on purpose: ``ingest``
gives that student an error result that says what to hand in instead.

``ingest(path, root, assignment)`` never raises for anything a student handed in.
What went wrong goes into ``Submission.problems`` (which file, what was wrong, what
to do; ``fatal`` when the file contributed nothing) and the batch goes on:

* unsupported type (``.docx``, ``.pdf``, ``.zip``, ...), empty file, binary file,
  undecodable text (UTF-8, UTF-8/16/32 with a BOM and BOM-less UTF-16 are read;
  other text is read as Windows-1252/Latin-1 with a note), a file over
  ``max_file_bytes`` (20 MiB by default), a folder with more than ``max_files``
  files (50), broken notebook JSON, symbolic links (never followed);
* a notebook that fails nbformat validation but is readable is read anyway, with a
  non-fatal note; so are answers the segmenter could not find (which questions), a
  question answered in two files, and text beyond ``max_text_chars``/``max_text_lines``
  (2 M characters / 50,000 lines per file; only that much is searched for answers, so
  a huge file cannot stall the batch).

The limits are an :class:`IngestLimits` passed to ``ingest`` (defaults:
``DEFAULT_LIMITS``).

The student id is the file's stem or the folder's name. ``content_hash`` is a
sha256 over every file's relative path and bytes (a file over the size limit
contributes its size and the hashes of its first and last MiB), so it is stable
across runs and machines and changes when any file changes.

In a folder, files are read in sorted path order. Answers come from every file;
a question answered in two files keeps the better-labelled one (tag > metadata >
heading > content > order, then the longer) and a note says so. The text of a
``.py`` file without any answer label is only searched for answers when no other
file of the folder holds any. Code cells come from notebooks and ``.py`` files, in
that sorted order.
"""

from __future__ import annotations

import hashlib
import stat
from dataclasses import dataclass, replace
from pathlib import Path

from grader.assignment import Assignment
from grader.chunks import Chunk, split_text
from grader.errors import IngestError
from grader.models import Answer, CodeCell, FileKind, Problem, SourceFile, Submission
from grader.notebook import parse_notebook
from grader.pyfile import parse_py
from grader.segment import Context, make_context, segment_chunks
from grader.textio import decode

SUPPORTED: dict[str, FileKind] = {".ipynb": "ipynb", ".py": "py", ".md": "md",
                                  ".markdown": "md", ".txt": "txt"}
IGNORED = frozenset({"__pycache__", ".ipynb_checkpoints", "__MACOSX", "Thumbs.db",
                     "desktop.ini"})
_HAND_IN = "hand in .ipynb, .py, .md or .txt"
_LABEL_RANK = {"tag": 0, "metadata": 1, "heading": 2, "content": 3, "order": 4}
_MIB = 1 << 20


@dataclass(frozen=True)
class IngestLimits:
    max_file_bytes: int = 20 * _MIB
    max_files: int = 50  # files in one student's folder (all types)
    max_depth: int = 6  # folder nesting inside a student's folder
    max_text_chars: int = 2_000_000  # text of one file searched for answers (code is kept)
    max_text_lines: int = 50_000  # ... and its lines


DEFAULT_LIMITS = IngestLimits()


def _skipped(name: str) -> bool:
    return name.startswith(".") or name in IGNORED


def discover(root: Path) -> list[Path]:
    """The submissions under ``root``: one entry per student, sorted by name."""
    root = Path(root)
    if not root.is_dir():
        raise IngestError("is not a folder of submissions", path=root,
                          fix="pass the folder that holds one file or folder per student")
    return sorted((p for p in root.iterdir() if not _skipped(p.name)), key=lambda p: p.name)


# ----------------------------------------------------------------------------- files
def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name


def _file_hash(path: Path, size: int, limit: int) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        if size <= limit:
            for block in iter(lambda: fh.read(_MIB), b""):
                h.update(block)
        else:  # too large to read: its size, first and last MiB identify it
            h.update(f"size={size}".encode())
            h.update(fh.read(_MIB))
            fh.seek(max(size - _MIB, 0))
            h.update(fh.read(_MIB))
    return h.hexdigest()


@dataclass
class _Walk:
    files: list[Path]
    problems: list[Problem]


def _walk(folder: Path, root: Path, limits: IngestLimits) -> _Walk:
    found = _Walk([], [])
    stack: list[tuple[Path, int]] = [(folder, 0)]
    while stack:
        d, depth = stack.pop()
        try:
            entries = sorted(d.iterdir(), key=lambda p: p.name)
        except OSError as exc:
            found.problems.append(Problem(_rel(d, root), f"folder cannot be listed ({exc})",
                                          "check the folder's permissions", fatal=True))
            continue
        for p in entries:
            if _skipped(p.name):
                continue
            if p.is_symlink():
                found.problems.append(Problem(
                    _rel(p, root), "is a symbolic link; the grader does not follow links",
                    "copy the file itself into the submission"))
            elif p.is_dir():
                if depth + 1 > limits.max_depth:
                    found.problems.append(Problem(
                        _rel(p, root), f"is nested more than {limits.max_depth} folders deep; "
                        "it was not read", "put your files at the top of your folder"))
                else:
                    stack.append((p, depth + 1))
            elif p.is_file():
                found.files.append(p)
            if len(found.files) > limits.max_files:
                return found
    found.files.sort(key=lambda p: _rel(p, root))
    return found


@dataclass
class _Read:
    kind: FileKind
    rel: str
    chunks: list[Chunk]
    code: list[CodeCell]


def _read(path: Path, rel: str, kind: FileKind, size: int, limits: IngestLimits,
          problems: list[Problem]) -> _Read | None:
    name = path.name
    if size > limits.max_file_bytes:
        problems.append(Problem(
            rel, f"{name} is {size / _MIB:.1f} MiB, over the limit of "
            f"{limits.max_file_bytes / _MIB:g} MiB; it was not read",
            "clear the notebook's outputs (Edit > Clear All Outputs), remove embedded images "
            "or data, and hand it in again", fatal=True))
        return None
    try:
        data = path.read_bytes()
    except OSError as exc:
        problems.append(Problem(rel, f"{name} cannot be read ({exc.strerror or exc})",
                                "check the file's permissions", fatal=True))
        return None
    if not data.strip():
        problems.append(Problem(rel, f"{name} is empty ({len(data)} bytes)",
                                "hand in the file with your answers and code in it",
                                fatal=True))
        return None
    try:
        dec = decode(data)
    except IngestError as exc:
        problems.append(Problem(rel, f"{name} {exc.message}", exc.fix, fatal=True))
        return None
    if dec.note:
        problems.append(Problem(rel, f"{name} {dec.note}", "save the file as UTF-8"))
    if not dec.text.strip():
        problems.append(Problem(rel, f"{name} holds only blank characters",
                                "hand in the file with your answers and code in it",
                                fatal=True))
        return None
    chunks: list[Chunk]
    code: list[CodeCell] = []
    try:
        if kind == "ipynb":
            chunks, code, notes = parse_notebook(dec.text, rel)
            problems.extend(Problem(rel, f"{name} {n}", "open it in Jupyter and save it again")
                            for n in notes)
        elif kind == "py":
            chunks, code = parse_py(dec.text, rel)
        else:
            chunks = split_text(dec.text, rel)
    except IngestError as exc:
        problems.append(Problem(rel, f"{name} {exc.message}", exc.fix, fatal=True))
        return None
    except Exception as exc:  # a reader bug must not stop the batch
        problems.append(Problem(rel, f"{name} could not be read: internal error "
                                f"{type(exc).__name__}: {exc}",
                                "report this to the grader's maintainers", fatal=True))
        return None
    return _Read(kind, rel, _capped(chunks, limits, rel, name, problems), code)


def _capped(chunks: list[Chunk], limits: IngestLimits, rel: str, name: str,
            problems: list[Problem]) -> list[Chunk]:
    """The chunks within the text limits (segmentation work grows with the text)."""
    chars = lines = 0
    for k, c in enumerate(chunks):
        chars += len(c.text)
        lines += c.text.count("\n") + 1
        if chars > limits.max_text_chars or lines > limits.max_text_lines:
            keep_chars = len(c.text) - max(chars - limits.max_text_chars, 0)
            keep_lines = c.text.count("\n") + 1 - max(lines - limits.max_text_lines, 0)
            text = "\n".join(c.text[:keep_chars].split("\n")[:max(keep_lines, 0)])
            problems.append(Problem(
                rel, f"{name} holds more than {limits.max_text_chars:,} characters or "
                f"{limits.max_text_lines:,} lines of text; only the first ones were searched "
                "for answers", "keep long outputs and data out of the file you hand in"))
            return [*chunks[:k], replace(c, text=text)]
    return chunks


# ----------------------------------------------------------------------------- ingest
def ingest(path: Path, root: Path, assignment: Assignment,
           limits: IngestLimits = DEFAULT_LIMITS, context: Context | None = None) -> Submission:
    """One student's submission (a file or a folder under ``root``); never raises for it.

    ``context`` (from :func:`grader.segment.make_context`) can be made once per batch
    and passed in; without it, it is made for this call.
    """
    path, root = Path(path), Path(root)
    rel = _rel(path, root)
    is_dir = path.is_dir() and not path.is_symlink()
    student = path.name if is_dir else path.stem
    problems: list[Problem] = []
    if path.is_symlink():
        problems.append(Problem(rel, f"{path.name} is a symbolic link; the grader does not "
                                "follow links", "copy the file or folder itself in", True))
        return clean_text(Submission(student, rel, hashlib.sha256(_b(rel)).hexdigest(), (),
                                     (), (), tuple(problems)))
    if is_dir:
        walk = _walk(path, root, limits)
        problems += walk.problems
        if len(walk.files) > limits.max_files:
            problems.append(Problem(
                rel, f"folder {path.name} holds more than {limits.max_files} files; it was "
                "not read", "hand in only your answers and code (no data sets, no virtual "
                "environments)", fatal=True))
            return clean_text(Submission(student, rel, _hash(rel, [], root, limits), (), (),
                                         (), tuple(problems)))
        paths = walk.files
    else:
        paths = [path]
    files: list[SourceFile] = []
    reads: list[_Read] = []
    for p in paths:
        prel = _rel(p, root)
        suffix = p.suffix.lower()
        kind = SUPPORTED.get(suffix)
        if kind is None:
            what = (f"unsupported file type {suffix}" if suffix else "a file without extension")
            fix = _HAND_IN + ("; archives are not unpacked: extract it into a folder named "
                              "after the student" if suffix in (".zip", ".tar", ".gz", ".rar",
                                                                ".7z", ".tgz") else "")
            problems.append(Problem(prel, f"{p.name}: {what}", fix, fatal=not is_dir))
            continue
        try:
            size = p.stat().st_size
            if not stat.S_ISREG(p.stat().st_mode):
                raise OSError("not a regular file")
            sha = _file_hash(p, size, limits.max_file_bytes)
        except OSError as exc:
            problems.append(Problem(prel, f"{p.name} cannot be read ({exc})",
                                    "check the file's permissions", True))
            continue
        files.append(SourceFile(prel, kind, sha, size))
        got = _read(p, prel, kind, size, limits, problems)
        if got is not None:
            reads.append(got)
    if is_dir and not files and not any(pr.fatal for pr in problems):
        problems.append(Problem(rel, f"folder {path.name} holds no .ipynb, .py, .md or .txt "
                                "file", _HAND_IN, fatal=True))
    answers = _answers(reads, assignment, problems, context)
    code = tuple(c for r in reads for c in r.code)
    if assignment.questions and reads:
        _report_missing(answers, assignment, rel, problems)
    return clean_text(Submission(student, rel, _hash(rel, paths, root, limits), tuple(files),
                                 tuple(answers), code, tuple(problems)))


def _b(text: str) -> bytes:
    """Bytes of any str, lone surrogates (odd file names, "\\ud800" in JSON) included."""
    return text.encode("utf-8", "surrogatepass")


def _c(text: str) -> str:
    """Text that UTF-8 (SQLite, JSON, HTML) can hold: lone surrogates become U+FFFD."""
    return text.encode("utf-8", "replace").decode("utf-8") if not text.isascii() else text


def clean_text(sub: Submission) -> Submission:
    """The submission with every string made storable: a file name with bytes that are
    not UTF-8, or a notebook holding a lone surrogate, must not stop the batch."""
    return Submission(
        student_id=_c(sub.student_id), path=_c(sub.path), content_hash=sub.content_hash,
        files=tuple(replace(f, path=_c(f.path)) for f in sub.files),
        answers=tuple(replace(a, text=_c(a.text), file=_c(a.file), note=_c(a.note))
                      for a in sub.answers),
        code_cells=tuple(replace(c, source=_c(c.source), file=_c(c.file))
                         for c in sub.code_cells),
        problems=tuple(replace(p, file=_c(p.file), message=_c(p.message), fix=_c(p.fix))
                       for p in sub.problems),
    )


def _hash(rel: str, paths: list[Path], root: Path, limits: IngestLimits) -> str:
    h = hashlib.sha256()
    for p in sorted(paths, key=lambda x: _rel(x, root)):
        h.update(_b(_rel(p, root)) + b"\0")
        try:
            size = p.stat().st_size
            h.update(_file_hash(p, size, limits.max_file_bytes).encode())
        except OSError:
            h.update(b"<unreadable>")
    if not paths:
        h.update(_b(rel))
    return h.hexdigest()


def _answers(reads: list[_Read], assignment: Assignment, problems: list[Problem],
             context: Context | None) -> list[Answer]:
    if not assignment.questions:
        return []
    ctx = context if context is not None else make_context(assignment)
    found: list[Answer] = []
    texts = [r for r in reads if r.kind != "py"]
    for r in texts + [r for r in reads if r.kind == "py"]:
        mode = ("off" if found else "strict") if r.kind == "py" else "order"
        try:
            found += segment_chunks(r.chunks, ctx, unlabelled=mode)
        except Exception as exc:  # a segmenter bug must not stop the batch
            problems.append(Problem(r.rel, f"answers could not be split: internal error "
                                    f"{type(exc).__name__}: {exc}",
                                    "report this to the grader's maintainers"))
    best: dict[str, Answer] = {}
    for a in found:
        old = best.get(a.question_id)
        if old is None:
            best[a.question_id] = a
            continue
        keep, drop = sorted((old, a), key=lambda x: (_LABEL_RANK[x.label], -len(x.text)))
        best[a.question_id] = keep
        if keep.file != drop.file:
            problems.append(Problem(drop.file, f"question {a.question_id} is answered in both "
                                    f"{keep.file} and {drop.file}; the answer in {keep.file} "
                                    "was graded", "answer each question in one file only"))
    order = {q.id: i for i, q in enumerate(assignment.questions)}
    return sorted(best.values(), key=lambda a: order[a.question_id])


def _report_missing(answers: list[Answer], assignment: Assignment, rel: str,
                    problems: list[Problem]) -> None:
    have = {a.question_id for a in answers}
    missing = [q for q in assignment.questions if q.id not in have]
    if not missing:
        return
    if len(missing) == len(assignment.questions):
        problems.append(Problem(rel, "no answers to the written questions were found",
                                "label each answer with its question, e.g. '## Q3' or '**3.**' "
                                "or a notebook cell tag 'q3'"))
        return
    nums = ", ".join(str(q.number) for q in missing)
    problems.append(Problem(rel, f"no answer found for question{'s' if len(missing) > 1 else ''}"
                            f" {nums}", "if you answered them, label each answer with its "
                            "question number (e.g. '## Q3')"))


__all__ = ["DEFAULT_LIMITS", "IngestLimits", "discover", "ingest"]


def ingest_all(root: Path, assignment: Assignment,
               limits: IngestLimits = DEFAULT_LIMITS) -> list[Submission]:
    """Every submission under ``root``, one per student id.

    Entries that share a student id (``alice.md`` beside ``alice.py``) are graded
    together as one submission, with a note saying so, as if they were a folder.
    """
    context = make_context(assignment) if assignment.questions else None
    groups: dict[str, list[Submission]] = {}
    for path in discover(root):
        sub = ingest(path, root, assignment, limits, context)
        groups.setdefault(sub.student_id, []).append(sub)
    return [subs[0] if len(subs) == 1 else merge(subs, assignment) for subs in groups.values()]


def merge(subs: list[Submission], assignment: Assignment) -> Submission:
    """One submission from several entries of the same student (files kept in order)."""
    first = subs[0]
    names = ", ".join(s.path for s in subs)
    problems = [p for s in subs for p in s.problems]
    problems.append(Problem(first.path, f"{names} share the student id {first.student_id!r} "
                            "and were graded together as one submission",
                            "hand in one file, or one folder per student"))
    best: dict[str, Answer] = {}
    for a in (a for s in subs for a in s.answers):
        old = best.get(a.question_id)
        if old is None or (_LABEL_RANK[a.label], -len(a.text)) < (_LABEL_RANK[old.label],
                                                                   -len(old.text)):
            best[a.question_id] = a
    order = {q.id: i for i, q in enumerate(assignment.questions)}
    h = hashlib.sha256()
    for s in sorted(subs, key=lambda s: s.path):
        h.update(_b(s.path) + b"\0" + s.content_hash.encode())
    return Submission(
        student_id=first.student_id, path=names, content_hash=h.hexdigest(),
        files=tuple(f for s in subs for f in s.files),
        answers=tuple(sorted(best.values(), key=lambda a: order.get(a.question_id, 0))),
        code_cells=tuple(c for s in subs for c in s.code_cells),
        problems=tuple(problems),
    )
