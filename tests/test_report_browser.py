"""The HTML reports in a real headless browser: what a person sees and can click.

Drives Debian's Chromium through Playwright (no browser download). Without Chromium
these tests FAIL, saying how to install it; set GRADER_SKIP_BROWSER=1 to skip them.
GRADER_CHROMIUM names another Chromium binary. GRADER_SCREENSHOT_DIR keeps the
screenshots (they always go to the test's tmp folder as well).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from grader.report import ReportOptions, render_reports
from tests.data.report import fixtures as fx

pytestmark = pytest.mark.browser

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        "--disable-dev-shm-usage"]
INSTALL = ("install it with `apt-get install -y chromium` (Debian/Ubuntu; `./dev test` "
           "does it) and `pip install -e '.[test]'` for Playwright, point GRADER_CHROMIUM "
           "at another Chromium binary, or set GRADER_SKIP_BROWSER=1 to skip these tests")


def chromium_path() -> str | None:
    env = os.environ.get("GRADER_CHROMIUM")
    if env:
        return env if Path(env).is_file() else None
    for cand in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if cand and Path(cand).is_file():
            return cand
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if os.environ.get("GRADER_SKIP_BROWSER") == "1":
        pytest.skip("GRADER_SKIP_BROWSER=1")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(f"Playwright is not installed: {INSTALL}", pytrace=False)
    exe = chromium_path()
    if exe is None:
        pytest.fail(f"Chromium not found: {INSTALL}", pytrace=False)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    grades, failures = fx.demo_grades()
    grades += fx.class_of(40)
    out = tmp_path_factory.mktemp("site")
    render_reports(grades, fx.demo_assignment(), out,
                   options=ReportOptions(failures=failures, generated_at="2025-01-01 12:00 UTC"))
    return out


class Watch:
    """A page plus what it did that a person would not want: dialogs, errors, requests."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.requests: list[str] = []

        def on_dialog(d: Any) -> None:
            self.dialogs.append(d.message)
            d.dismiss()

        page.on("dialog", on_dialog)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("request", lambda r: self.requests.append(r.url))

    def check_clean(self) -> None:
        assert self.dialogs == [], f"a dialog fired: {self.dialogs}"
        assert self.errors == [], f"console errors: {self.errors}"
        outside = [u for u in self.requests if not u.startswith(("file://", "data:"))]
        assert outside == [], f"the page reached out: {outside}"


@pytest.fixture
def watch(browser: Any) -> Iterator[Watch]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    w = Watch(page)
    yield w
    ctx.close()


def screenshot(page: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    keep = os.environ.get("GRADER_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / path.name)
    assert path.stat().st_size > 10_000
    return path


def no_horizontal_scroll(page: Any) -> None:
    over = page.evaluate("document.documentElement.scrollWidth - "
                         "document.documentElement.clientWidth")
    assert over <= 1, f"the page scrolls sideways by {over}px"


def test_dashboard_as_seen(watch: Watch, site: Path, tmp_path: Path) -> None:
    page = watch.page
    page.goto((site / "index.html").as_uri())
    assert "DL Assignment 4" in page.title()
    h1 = page.locator("h1")
    assert h1.is_visible() and "DL Assignment 4" in h1.inner_text()
    assert page.locator("#stat-graded").inner_text().strip() == "45"
    assert "/ 14" in page.locator("#stat-mean").inner_text()
    # the histogram: a visible picture with visible bars
    svg = page.locator("#distribution svg.histogram")
    assert svg.is_visible()
    box = svg.bounding_box()
    assert box and box["width"] > 600 and box["height"] > 150
    bars = svg.locator("rect.bar")
    assert bars.count() >= 8
    heights = [bars.nth(i).bounding_box()["height"] for i in range(bars.count())]
    assert sum(h > 1 for h in heights) >= 5
    assert svg.locator("text", has_text="Total score").is_visible()
    # review queue and failures, in words a person reads
    review = page.locator("#review")
    assert review.is_visible() and "Review queue" in review.inner_text()
    assert review.get_by_role("link", name="carol", exact=True).is_visible()
    failed = page.locator("#failed")
    assert "zoe_submission.zip" in failed.inner_text()
    assert "not valid JSON" in failed.inner_text()
    assert page.get_by_text(fx.HOSTILE_ID, exact=True).first.is_visible()
    # per-question and per-task statistics
    assert page.locator("#questions").get_by_text("q1.definition").is_visible()
    assert page.locator("#tasks td.status-timeout").first.is_visible()
    no_horizontal_scroll(page)
    screenshot(page, tmp_path, "dashboard")
    watch.check_clean()


def test_navigate_dashboard_to_student_and_back(watch: Watch, site: Path) -> None:
    page = watch.page
    page.goto((site / "index.html").as_uri())
    page.locator("#students").get_by_role("link", name="alice", exact=True).click()
    page.wait_for_load_state()
    assert page.url.endswith("/students/alice.html")
    assert page.locator("h1.student-id").inner_text() == "alice"
    assert "14 / 14" in page.locator("#total").inner_text()
    page.get_by_role("link", name="← Class dashboard").click()
    page.wait_for_load_state()
    assert page.url.endswith("/index.html")
    assert page.locator("#distribution").is_visible()
    watch.check_clean()


def test_review_link_lands_on_the_point(watch: Watch, site: Path, tmp_path: Path) -> None:
    page = watch.page
    page.goto((site / "index.html").as_uri())
    row = page.locator("tr.review-row", has=page.get_by_role("link", name="carol", exact=True))
    row.get_by_role("link", name="q1.features").click()
    page.wait_for_load_state()
    assert page.url.endswith("carol.html#p-q1.features")
    point = page.locator("#p-q1\\.features")
    assert point.is_visible() and point.evaluate("e => e.matches(':target')")
    assert "needs review" in point.inner_text()
    top = point.bounding_box()["y"]
    assert -2 <= top < 900, "the point is not scrolled into view"
    assert page.locator("mark.evidence", has_text="maybe graphs").is_visible()
    screenshot(page, tmp_path, "student-review")
    watch.check_clean()


def test_hostile_student_text_stays_text(watch: Watch, site: Path, tmp_path: Path) -> None:
    page = watch.page
    page.goto((site / "index.html").as_uri())
    page.locator("#students").get_by_role("link", name=fx.HOSTILE_ID).click()
    page.wait_for_load_state()
    assert page.locator("h1.student-id").inner_text() == fx.HOSTILE_ID
    first = page.locator("#q-q1 pre.answer")
    seen = first.inner_text()
    assert fx.SCRIPT in seen and fx.TEMPLATE in seen and "<img src=x onerror=alert(2)>" in seen
    assert page.locator("script").count() == 0
    assert page.locator("img").count() == 0
    assert page.locator("mark.evidence", has_text=fx.SCRIPT).is_visible()
    # the long answer folds: hidden until its summary is clicked
    details = page.locator("#q-q2 details.long-answer")
    full = details.locator("pre.answer")
    assert page.locator("#q-q2 pre.answer.preview").is_visible()
    assert not full.is_visible()
    details.locator("summary").click()
    assert full.is_visible() and "The end: autodiff" in full.inner_text()
    no_horizontal_scroll(page)
    page.wait_for_timeout(200)
    screenshot(page, tmp_path, "student-hostile")
    watch.check_clean()


def test_failed_and_timeout_pages(watch: Watch, site: Path, tmp_path: Path) -> None:
    page = watch.page
    page.goto((site / "students" / "dave.html").as_uri())
    assert page.locator("#problems").is_visible()
    assert "Fix: re-export the notebook" in page.locator("#problems").inner_text()
    page.goto((site / "students" / "erin.html").as_uri())
    task = page.locator("#t-c2")
    assert task.locator(".badge.st-timeout").is_visible()
    assert "time limit of 300 s hit" in task.inner_text()
    assert "NameError" in page.locator("#code-run").inner_text()
    screenshot(page, tmp_path, "student-timeout")
    watch.check_clean()


def test_print_layout(watch: Watch, site: Path, tmp_path: Path) -> None:
    page = watch.page
    page.goto((site / "students" / "alice.html").as_uri())
    page.emulate_media(media="print")
    assert not page.locator("header.topbar").is_visible()
    assert page.locator("#q-q1 pre.answer").is_visible()
    pdf = page.pdf(path=str(tmp_path / "alice.pdf"))
    assert pdf[:4] == b"%PDF" and len(pdf) > 10_000
    watch.check_clean()


def test_narrow_screen(browser: Any, site: Path, tmp_path: Path) -> None:
    ctx = browser.new_context(viewport={"width": 400, "height": 800})
    try:
        page = ctx.new_page()
        for name in ("index.html", "students/carol.html"):
            page.goto((site / name).as_uri())
            no_horizontal_scroll(page)
        screenshot(page, tmp_path, "student-narrow")
    finally:
        ctx.close()
