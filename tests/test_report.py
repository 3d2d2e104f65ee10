"""HTML reports (grader.report): content, escaping, links, statistics, overrides.

What a person sees in a real browser is checked in test_report_browser.py.
"""

from __future__ import annotations

import html
import re
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from grader import report
from grader.assignment import load_assignment
from grader.charts import histogram, histogram_bins, nice_step
from grader.errors import GraderError
from grader.report import (
    ReportOptions,
    find_evidence,
    highlight,
    render_reports,
    slugify,
    template_filter,
)
from tests.data.report import fixtures as fx

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "report"
GEN = "2025-01-01 12:00 UTC"


class Page(HTMLParser):
    """The parts of a page the tests look at: ids, links, visible text."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.tags: list[str] = []
        self._skip = 0
        self.chunks: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"] or "")
        if tag == "a" and a.get("href"):
            self.links.append(a["href"] or "")
        if tag in ("style", "title") or tag == "svg":
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "title") or tag == "svg":
            self._skip = max(0, self._skip - 1)

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.chunks.append(data)

    @property
    def text(self) -> str:
        return re.sub(r"\s+", " ", " ".join(self.chunks))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    grades, failures = fx.demo_grades()
    out = tmp_path_factory.mktemp("report")
    paths = render_reports(grades, fx.demo_assignment(), out,
                           options=ReportOptions(failures=failures, generated_at=GEN))
    pages = {p.name: p.read_text(encoding="utf-8") for p in paths}
    return {"out": out, "paths": paths, "pages": pages, "grades": grades}


def page_of(demo: dict[str, object], student_id: str) -> tuple[str, Path]:
    out = demo["out"]
    assert isinstance(out, Path)
    index = Page((out / "index.html").read_text(encoding="utf-8"))
    for link in index.links:
        if link.startswith("students/") and "#" not in link:
            path = out / link
            text = path.read_text(encoding="utf-8")
            heading = re.search(r'<h1 class="student-id">(.*?)</h1>', text, re.S)
            if heading and html.unescape(heading.group(1)) == student_id:
                return text, path
    raise AssertionError(f"no page for {student_id!r}")


# --------------------------------------------------------------------------- files, links
def test_writes_dashboard_and_one_safe_page_per_student(demo: dict[str, object]) -> None:
    paths = demo["paths"]
    out = demo["out"]
    assert isinstance(paths, list) and isinstance(out, Path)
    assert paths[0] == out / "index.html"
    students = paths[1:]
    assert len(students) == len(demo["grades"])  # type: ignore[arg-type]
    assert all(p.parent == out / "students" for p in students)
    assert len({p.name.lower() for p in students}) == len(students)
    for p in students:
        assert re.fullmatch(r"[a-z0-9_-]+\.html", p.name), p.name
    assert {"alice.html", "carol.html", "dave.html", "erin.html"} <= {p.name for p in students}


def test_every_link_resolves(demo: dict[str, object]) -> None:
    out = demo["out"]
    assert isinstance(out, Path)
    for path in [out / "index.html", *sorted((out / "students").glob("*.html"))]:
        page = Page(path.read_text(encoding="utf-8"))
        assert page.links, path
        for link in page.links:
            assert not re.match(r"[a-z]+:", link), f"{path.name}: external link {link}"
            target, _, frag = link.partition("#")
            dest = (path.parent / target).resolve() if target else path
            assert dest.is_file(), f"{path.name}: broken link {link}"
            if frag:
                ids = Page(dest.read_text(encoding="utf-8")).ids
                assert frag in ids, f"{path.name}: {link} names no element"


def test_dashboard_links_every_student_and_pages_link_back(demo: dict[str, object]) -> None:
    out = demo["out"]
    assert isinstance(out, Path)
    index = Page((out / "index.html").read_text(encoding="utf-8"))
    linked = {link for link in index.links if link.startswith("students/") and "#" not in link}
    assert linked == {f"students/{p.name}" for p in (out / "students").glob("*.html")}
    for p in (out / "students").glob("*.html"):
        assert "../index.html" in Page(p.read_text(encoding="utf-8")).links


# --------------------------------------------------------------------------- escaping
def test_student_text_is_escaped_everywhere(demo: dict[str, object]) -> None:
    pages = demo["pages"]
    assert isinstance(pages, dict)
    for name, text in pages.items():
        assert "<script" not in text.lower(), name
        assert "onerror=" not in text.replace("onerror=alert(2)&gt;", ""), name
        assert "<b>" not in text, name
        assert "Content-Security-Policy" in text and "default-src 'none'" in text
    hostile, _ = page_of(demo, fx.HOSTILE_ID)
    seen = Page(hostile).text
    assert fx.SCRIPT in seen  # shown as text ...
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in hostile  # ... because it is escaped
    assert fx.TEMPLATE in seen  # never evaluated as a template
    assert "{% raw %}{% endraw %}" in seen
    assert "深度学习" in seen and "🧠" in seen
    assert "detail {{ 7*7 }} <b>x</b>" in seen
    assert fx.HOSTILE_ID in seen
    # terminal output: colour codes and control characters stripped, markup escaped
    assert "\x1b" not in hostile and "\x00" not in hostile
    assert "red <b>bold</b>" in seen
    index = Page(str(pages["index.html"])).text
    assert fx.HOSTILE_ID in index


def test_long_answer_folds_into_details(demo: dict[str, object]) -> None:
    hostile, _ = page_of(demo, fx.HOSTILE_ID)
    m = re.search(r'<details class="long-answer">\s*<summary>(.*?)</summary>', hostile, re.S)
    assert m, "long answer not in a <details>"
    assert f"{len(fx.LONG_ANSWER):,} characters" in m.group(1)
    assert '<pre class="answer preview">' in hostile
    # the evidence of q2.differences (two fragments) is highlighted inside the full answer
    assert hostile.count('title="evidence for q2.differences"') == 2


# --------------------------------------------------------------------------- student page
def test_student_page_shows_answers_points_and_code(demo: dict[str, object]) -> None:
    text, _ = page_of(demo, "alice")
    page = Page(text)
    seen = page.text
    assert "14 / 14" in seen and "100%" in seen
    assert "Question 1" in seen and "How would you describe TensorFlow" in seen
    assert "an open-source library for numerical computation" in seen
    assert 'id="ev-q1.definition"></span><mark class="evidence"' in text
    for pid in ("q1.definition", "q2.differences", "q3.dtype", "c1.values", "c2.config"):
        assert f"p-{pid}" in page.ids
    assert "Clear definition." in seen  # feedback
    assert "reference loss 0.39" in seen  # instructor detail
    assert "seccomp" in seen and "landlock" in seen  # isolation layers
    assert "epoch 3 loss 0.41" in seen  # stdout tail
    assert "Class distribution of totals" in seen
    assert 'class="bar marked"' in text


def test_needs_review_student(demo: dict[str, object]) -> None:
    text, path = page_of(demo, "carol")
    seen = Page(text).text
    assert "needs review" in seen and "3 points to review" in seen
    assert "confidence 40%" in seen
    assert "scorer unsure" in seen
    index = (path.parent.parent / "index.html").read_text(encoding="utf-8")
    row = re.search(r'<tr class="review-row">(.*?)</tr>', index, re.S)
    assert row and "carol" in row.group(1)
    for pid in ("q1.definition", "q1.features", "q3.dtype"):
        assert f'href="students/{path.name}#p-{pid}"' in index


def test_failed_ingest_student(demo: dict[str, object]) -> None:
    text, path = page_of(demo, "dave")
    seen = Page(text).text
    assert "not valid JSON" in seen
    assert "Fix: re-export the notebook" in seen
    assert "Nothing could be graded" in seen
    index = (path.parent.parent / "index.html").read_text(encoding="utf-8")
    failed = index[index.index('id="failed"'):]
    failed = failed[:failed.index("</section>")]
    assert f'href="students/{path.name}"' in failed
    assert "the notebook could not be read" in failed
    assert "zoe_submission.zip" in failed and "not a folder" in failed  # no grade, no link


def test_timeout_and_cells(demo: dict[str, object]) -> None:
    text, _ = page_of(demo, "erin")
    seen = Page(text).text
    assert "timeout" in seen and "time limit of 300 s hit" in seen
    assert "NameError: name 'tf' is not defined" in seen
    assert "IPython magic %pip is not run" in seen
    assert "Cells that did not run (2 of 3)" in seen
    assert "epoch 1 loss nan" in seen
    assert "No answer to this question was found" in seen
    index = str(demo["pages"]["index.html"])  # type: ignore[index]
    row = re.search(r'<tr class="group task-row" id="stat-t-c2">(.*?)</tr>', index, re.S)
    assert row
    assert re.search(r'status-timeout">1<', row.group(1))


def test_student_view_hides_instructor_material(tmp_path: Path) -> None:
    grades, failures = fx.demo_grades()
    paths = render_reports(grades, fx.demo_assignment(), tmp_path,
                           options=ReportOptions(instructor=False, failures=failures,
                                                 generated_at=GEN))
    index = Page(paths[0].read_text(encoding="utf-8")).text
    assert "Distribution of totals" in index
    assert "Review queue" not in index and "Failed submissions" not in index
    for g in grades:  # no other student is named on the class page
        assert g.student_id not in index
    carol = next(p for p in paths if p.name == "carol.html").read_text(encoding="utf-8")
    seen = Page(carol).text
    assert "scorer unsure" not in seen and "reference loss" not in seen
    assert "needs review" not in seen and "confidence" not in seen
    assert "A hedged feature does not count." in seen  # feedback stays
    assert "Student view" in seen and "you 6.5" in carol


# --------------------------------------------------------------------------- dashboard
def test_dashboard_statistics(demo: dict[str, object]) -> None:
    grades = demo["grades"]
    assert isinstance(grades, list)
    graded = [g.total for g in grades if g.status != "error"]
    index = str(demo["pages"]["index.html"])  # type: ignore[index]
    seen = Page(index).text
    mean = sum(graded) / len(graded)
    assert f"Mean {report.fmt_points(mean)} / 14" in seen
    assert re.search(rf'id="stat-graded">{len(graded)}<', index)
    assert "1 failed submission is not counted" in seen
    assert "Written questions" in seen and "Code tasks" in seen
    # q1.definition: alice, hostile and carol were awarded it; erin and frank have no result
    m = re.search(r"<code>q1\.definition</code>.*?</tr>", index, re.S)
    assert m and "60%" in m.group(0)
    svg = re.search(r'<svg class="chart histogram".*?</svg>', index, re.S)
    assert svg and svg.group(0).count('class="bar') >= 8
    counts = [int(c) for c in re.findall(r'data-count="(\d+)"', svg.group(0))]
    assert sum(counts) == len(graded)


def test_no_students(tmp_path: Path) -> None:
    paths = render_reports([], fx.demo_assignment(), tmp_path,
                           options=ReportOptions(generated_at=GEN))
    assert paths == [tmp_path / "index.html"]
    seen = Page(paths[0].read_text(encoding="utf-8")).text
    assert "0 submissions" in seen and "No submissions yet." in seen
    assert "No graded submissions yet" in paths[0].read_text(encoding="utf-8")
    assert "Nothing to review." in seen


def test_deterministic_and_removes_stale_pages(tmp_path: Path) -> None:
    grades, failures = fx.demo_grades()
    opts = ReportOptions(failures=failures, generated_at=GEN)
    first = {p: p.read_bytes() for p in render_reports(grades, fx.demo_assignment(), tmp_path,
                                                       options=opts)}
    second = {p: p.read_bytes() for p in render_reports(list(reversed(grades)),
                                                        fx.demo_assignment(), tmp_path,
                                                        options=opts)}
    assert first == second
    render_reports(grades[:2], fx.demo_assignment(), tmp_path, options=opts)
    assert len(list((tmp_path / "students").glob("*.html"))) == 2
    assert not list(tmp_path.rglob("*.tmp"))


# --------------------------------------------------------------------------- overrides
def test_manual_overrides(tmp_path: Path) -> None:
    grades, _ = fx.demo_grades()
    overrides = {("carol", "q1.features"): 1.0, ("carol", "q3.dtype"): 1.0,
                 ("carol", "q1.definition"): 1.0, ("nobody", "q1.features"): 1.0,
                 ("alice", "q1.features"): 5.0}
    paths = render_reports(grades, fx.demo_assignment(), tmp_path,
                           options=ReportOptions(overrides=overrides, generated_at=GEN))
    carol = Page((tmp_path / "students" / "carol.html").read_text(encoding="utf-8")).text
    assert "8 / 14" in carol  # 6.5 + 0.5 + 1
    assert "adjusted by instructor" in carol and "(machine: 0.5)" in carol
    assert "to review" not in carol
    index_html = paths[0].read_text(encoding="utf-8")
    assert 'class="review-row"' not in index_html or "carol" not in re.findall(
        r'<tr class="review-row">(.*?)</tr>', index_html, re.S)[0]
    index = Page(index_html).text
    assert "2 manual overrides did not apply" in index
    assert "nobody / q1.features" in index and "alice / q1.features = 5.0" in index


# --------------------------------------------------------------------------- templates
def test_override_folder_and_plugin_filter(tmp_path: Path) -> None:
    grades, _ = fx.demo_grades()

    @template_filter("shout")
    def shout(s: str) -> str:
        return s.upper() + "!"

    try:
        render_reports(grades, fx.demo_assignment(), tmp_path,
                       options=ReportOptions(templates_dir=DATA / "override", generated_at=GEN))
    finally:
        del report._FILTERS["shout"]
    text = (tmp_path / "students" / "alice.html").read_text(encoding="utf-8")
    assert '<div class="course-banner" id="course-banner">Course DL-101 · ALICE!</div>' in text
    assert "Question 1" in text  # the built-in page is still there (super())
    assert ".course-banner { background: #123456" in text  # extra.css hook
    hostile, _ = next((p.read_text(encoding="utf-8"), p)
                      for p in (tmp_path / "students").glob("o-brien*.html"))
    assert "&lt;B&gt;ÜNÏCØDÉ&lt;/B&gt;" in hostile  # the plug-in's output is escaped too
    # the dashboard was not overridden: built-in
    assert "Review queue" in (tmp_path / "index.html").read_text(encoding="utf-8")


def test_broken_override_templates_name_the_file(tmp_path: Path) -> None:
    grades, _ = fx.demo_grades()
    with pytest.raises(GraderError) as err:
        render_reports(grades, fx.demo_assignment(), tmp_path,
                       options=ReportOptions(templates_dir=DATA / "broken"))
    assert "dashboard.html" in str(err.value) and "line 2" in str(err.value)
    assert err.value.fix
    with pytest.raises(GraderError, match="no_such_variable"):
        render_reports(grades, fx.demo_assignment(), tmp_path,
                       options=ReportOptions(templates_dir=DATA / "undefined"))
    with pytest.raises(GraderError, match="does not exist"):
        render_reports(grades, fx.demo_assignment(), tmp_path,
                       options=ReportOptions(templates_dir=tmp_path / "missing"))


def test_project_templates_folder_only_documents(tmp_path: Path) -> None:
    folder = ROOT / "templates"
    assert (folder / "README.md").is_file()
    builtin = {p.name for p in report.BUILTIN_TEMPLATES.iterdir()}
    shadowing = {p.name for p in folder.iterdir()} & builtin
    assert not shadowing, f"templates/ shadows built-ins: {shadowing}"
    readme = (folder / "README.md").read_text(encoding="utf-8")
    for name in ("student.html", "dashboard.html", "default:", "extra.css"):
        assert name in readme


def test_real_assignment_renders(tmp_path: Path) -> None:
    a = load_assignment(ROOT / "assignments" / "dl_assignment_4")
    g = fx.grade("s1", fx.submission("s1", {"q1": "TensorFlow is a library."}), (
        fx.pr("q1.definition", 1, 1, evidence="a library"),), None, max_total=a.total)
    paths = render_reports([g], a, tmp_path,
                           options=ReportOptions(templates_dir=ROOT / "templates"))
    seen = Page(paths[1].read_text(encoding="utf-8")).text
    assert "Question 11" in seen or "Question 10" in seen
    assert f"1 / {report.fmt_points(a.total)}" in seen
    assert "<code>tf.range(10)</code>" in paths[1].read_text(encoding="utf-8")


# --------------------------------------------------------------------------- helpers
def test_slugs_are_safe_and_unique() -> None:
    assert slugify("Alice Smith") == "alice-smith"
    assert slugify("../../etc/passwd") == "etc-passwd"
    assert slugify("") == "student" and slugify("深度") == "student"
    assert slugify("CON") == "s-con"
    assert len(slugify("x" * 500)) <= 60
    ids = ["alice", "Alice", "ALICE", "bob", "bob", "深度", "学习", "a/b", "a?b"]
    slugs = report._unique_slugs(ids)
    assert len(set(slugs)) == len(ids)
    assert slugs[3] == "bob" and slugs[4] == "bob-2"
    assert all(re.fullmatch(r"[a-z0-9_-]+", s) for s in slugs)
    # a student's slug does not depend on the batch when nobody collides with it
    assert report._unique_slugs(["carol"]) == ["carol"]


def test_instructor_text_shows_code_and_bold_but_no_html() -> None:
    out = report.md_inline("says `tf.range` is **not** <b>x</b> & `<i>`")
    assert out == ("says <code>tf.range</code> is <strong>not</strong> &lt;b&gt;x&lt;/b&gt; "
                   "&amp; <code>&lt;i&gt;</code>")
    cut = report.md_inline("run `train_custom_loop(model, X, y)` and **check it** twice", 30)
    assert cut == "run <code>train_custom_loop(model</code>…"
    assert report.md_inline("**bold words here** end", 10) == "<strong>bold</strong>…"


def test_find_and_highlight_evidence() -> None:
    text = "TensorFlow is an Open-Source\n  library. Tensors are immutable; NumPy <arrays>."
    assert find_evidence(text, "an Open-Source") == [(14, 28)]
    s, e = find_evidence(text, "open-source library")[0]
    assert text[s:e] == "Open-Source\n  library"
    frags = find_evidence(text, "an Open-Source … NumPy <arrays>")
    assert [text[a:b] for a, b in frags] == ["an Open-Source", "NumPy <arrays>"]
    assert find_evidence(text, "not there at all") == []
    out = highlight(text, [(14, 28, "p1"), (20, 40, "p2")] + [(s, e, "p3") for s, e in frags])
    assert "&lt;arrays&gt;" in out and "<arrays>" not in out
    for p in ("p1", "p2", "p3"):
        assert out.count(f'id="ev-{p}"') == 1
    assert 'title="evidence for p1, p2, p3"' in out and 'title="evidence for p2"' in out
    assert html.unescape(re.sub(r"<[^>]+>", "", str(out))) == text


def test_histogram_bins_and_svg() -> None:
    assert nice_step(48) in (2.5, 5.0, 4.0) or 8 <= 48 / nice_step(48) <= 20
    bins = histogram_bins([0, 0.5, 47.9, 48, 60, -3], 0, 48)
    assert sum(b.count for b in bins) == 6
    assert bins[-1].last and bins[-1].hi == 48 and bins[-1].count == 3
    assert bins[0].count == 3
    svg = histogram([1, 2, 3], 10, label="<Total>")
    assert "&lt;Total&gt;" in svg and "<Total>" not in svg
    assert "mean 2" in svg
    assert "No graded submissions yet" in histogram([], 10)
    assert histogram([], 0).count('class="bar') >= 1  # a zero-point assignment still draws


def test_scales_to_a_large_class(tmp_path: Path) -> None:
    grades = fx.class_of(500)
    start = time.perf_counter()
    paths = render_reports(grades, fx.demo_assignment(), tmp_path)
    elapsed = time.perf_counter() - start
    assert len(paths) == 501
    assert elapsed < 60, f"500 students took {elapsed:.1f} s"
    index = paths[0].read_text(encoding="utf-8")
    assert index.count('class="student-row"') == 500
