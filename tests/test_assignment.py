"""Assignment and rubric files: the shipped example matches the spec; every broken
file gives a ConfigError naming the file, the key and the fix."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from grader.assignment import find_assignment, load_assignment, load_rubric
from grader.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "assignments" / "dl_assignment_4" / "README.md"


def spec_points() -> dict[str, tuple[float, str]]:
    """Rubric-point id -> (points, description), read from the spec's tables."""
    out: dict[str, tuple[float, str]] = {}
    for line in SPEC.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) >= 4 and re.fullmatch(r"[qc]\d+\.\w+", cells[1]):
            out[cells[1]] = (float(cells[2]), "|".join(cells[3:]))
    return out


def test_spec_copy_is_the_shared_spec() -> None:
    shared = ROOT.parent / "shared" / "spec" / "dl_assignment_4.md"
    if not shared.exists():
        pytest.skip("../shared is not beside this checkout")
    assert SPEC.read_text(encoding="utf-8") == shared.read_text(encoding="utf-8")


def test_example_rubric_matches_spec_exactly(example_assignment) -> None:  # type: ignore[no-untyped-def]
    want = spec_points()
    assert len(want) == 39  # 23 written + 16 code
    got = {p.id: (p.points, p.description) for p in example_assignment.all_points()}
    assert got == want
    assert example_assignment.total == 48
    assert example_assignment.written_total == 28
    assert example_assignment.code_total == 20
    assert [q.id for q in example_assignment.questions] == [f"q{i}" for i in range(1, 12)]
    assert [t.id for t in example_assignment.tasks] == [f"c{i}" for i in range(1, 7)]


def test_example_limits_and_devices(example_assignment) -> None:  # type: ignore[no-untyped-def]
    c5 = example_assignment.task("c5")
    assert c5.limits.wall_s == 300 and c5.device == "auto"
    assert example_assignment.task("c1").limits.wall_s == 60
    assert example_assignment.task("c1").limits.memory_mb == 4096
    assert example_assignment.task("c1").limits.processes == 64
    assert example_assignment.task("c1").names == ("huber_fn",)
    assert example_assignment.load_limits.wall_s == 60


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A writable copy of the example assignment and its rubric."""
    shutil.copytree(ROOT / "assignments" / "dl_assignment_4", tmp_path / "a" / "dl_assignment_4")
    (tmp_path / "rubrics").mkdir()
    shutil.copy(ROOT / "rubrics" / "dl_assignment_4.yaml", tmp_path / "rubrics")
    # the copy sits at tmp/a/dl_assignment_4; its rubric path is ../../rubrics/...
    return tmp_path / "a" / "dl_assignment_4"


def _edit(path: Path, fn) -> None:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    fn(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def _rubric(a: Path) -> Path:
    return a.parent.parent / "rubrics" / "dl_assignment_4.yaml"


CASES = [
    ("unknown assignment key", "assignment", lambda d: d.update(colour="red"),
     "unknown key 'colour'"),
    ("unknown task in assignment", "assignment", lambda d: d["tasks"].update(c9={"names": []}),
     "task 'c9' is not in the rubric"),
    ("bad device", "assignment", lambda d: d["tasks"]["c1"].update(device="tpu"),
     "device 'tpu' is not known"),
    ("negative limit", "assignment", lambda d: d["limits"].update(wall_s=-1),
     "wall_s must be a positive number"),
    ("unknown limit", "assignment", lambda d: d["limits"].update(gpus=2), "unknown key 'gpus'"),
    ("missing rubric file", "assignment", lambda d: d.update(rubric="nope.yaml"),
     "file not found"),
    ("unknown rubric key", "rubric", lambda d: d["questions"][0].update(hint="x"),
     "unknown key 'hint'"),
    ("unknown point key", "rubric", lambda d: d["questions"][0]["points"][0].update(pts=1),
     "unknown key 'pts'"),
    ("missing point points", "rubric", lambda d: d["questions"][0]["points"][0].pop("points"),
     "missing key 'points'"),
    ("points do not add up", "rubric", lambda d: d["questions"][2].update(max_points=5),
     "max_points is 5 but its rubric points add up to 2"),
    ("total does not add up", "rubric", lambda d: d.update(total=50),
     "total is 50 but the questions and tasks add up to 48"),
    ("duplicate point id", "rubric",
     lambda d: d["questions"][1]["points"][0].update(id="q1.definition"),
     "duplicate id 'q1.definition'"),
    ("duplicate question number", "rubric", lambda d: d["questions"][1].update(number=1),
     "two questions share a number"),
    ("k_of_n without per_item", "rubric",
     lambda d: d["questions"][3]["points"][0].pop("per_item"), "needs per_item"),
    ("question without points", "rubric", lambda d: d["questions"][0].update(points=[]),
     "needs rubric points or a reference_answer"),
    ("wrong rubric assignment id", "rubric", lambda d: d.update(assignment="other"),
     "rubric is for assignment 'other'"),
    ("points not a number", "rubric",
     lambda d: d["questions"][0]["points"][0].update(points="one"), "'points' must be"),
]


@pytest.mark.parametrize(("name", "which", "edit", "message"), CASES, ids=[c[0] for c in CASES])
def test_invalid_files_name_file_key_and_fix(copy: Path, name: str, which: str, edit,  # type: ignore[no-untyped-def]
                                              message: str) -> None:
    target = copy / "assignment.yaml" if which == "assignment" else _rubric(copy)
    _edit(target, edit)
    with pytest.raises(ConfigError) as info:
        load_assignment(copy)
    err = info.value
    assert message in str(err)
    assert err.path is not None and Path(err.path).name in (target.name, "nope.yaml")
    assert err.key or "file not found" in str(err)


def test_not_yaml(copy: Path) -> None:
    _rubric(copy).write_text("questions: [unclosed", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_assignment(copy)


def test_reference_answer_mode(tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text(yaml.safe_dump({"assignment": "x", "questions": [
        {"id": "q1", "number": 1, "prompt": "Why?", "reference_answer": "Because.",
         "max_points": 5}]}), encoding="utf-8")
    aid, qs, tasks, total = load_rubric(p)
    assert (aid, total, qs[0].reference_answer, qs[0].points, tasks) == ("x", 5, "Because.", (), ())


def test_content_hash_changes_with_any_file(copy: Path) -> None:
    h1 = load_assignment(copy).content_hash
    assert load_assignment(copy).content_hash == h1
    (copy / "tests" / "hidden.py").write_text("# changed\n", encoding="utf-8")
    assert load_assignment(copy).content_hash != h1


def test_find_assignment(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no assignment found"):
        find_assignment(tmp_path)
    for n in ("a", "b"):
        (tmp_path / "assignments" / n).mkdir(parents=True)
        (tmp_path / "assignments" / n / "assignment.yaml").write_text("id: x\n")
    with pytest.raises(ConfigError, match="2 assignments found"):
        find_assignment(tmp_path)
    assert find_assignment(tmp_path, "a") == tmp_path / "assignments" / "a"
