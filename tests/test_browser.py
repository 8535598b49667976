"""End to end in a real browser: notebooks/02_merge_audit.ipynb served by Voilà on 127.0.0.1 and
driven in headless Chromium through Playwright.

What is clicked: a merge is picked in the dashboard's list of audited merges, "apply" puts it on the
working state, and the working state's caption and quality figure must change; "undo" must bring
the caption back. Screenshots go to ``test-output/browser/`` under the repository root (or to
``$TOOLKIT_TEST_OUTPUT/browser``).

Chromium is the system's (Debian package ``chromium``; Playwright downloads no browser here): it is
found with ``shutil.which`` or named by ``$TOOLKIT_CHROMIUM``. Without it the test is skipped, except
when ``$CI`` is set: there it must run, and ``.ci/run`` installs Chromium first.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "02_merge_audit.ipynb"
OUTPUT = Path(os.environ.get("TOOLKIT_TEST_OUTPUT", ROOT / "test-output")) / "browser"
# The flags the machines here need: no sandbox as root, no GPU, and no background traffic to
# hosts the closed network refuses.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"]
# Voilà runs the whole notebook (the audit, its figures) before the page shows the dashboard.
PAGE_TIMEOUT_MS = 300_000
CLICK_TIMEOUT_MS = 120_000


def _cannot_run(reason: str) -> None:
    """Skip on a developer's machine; fail in CI, where the browser test must run."""
    if os.environ.get("CI"):
        pytest.fail(f"the browser test must run in CI, but {reason}")
    pytest.skip(reason)


def _chromium() -> str:
    path = os.environ.get("TOOLKIT_CHROMIUM") or shutil.which("chromium") \
        or shutil.which("chromium-browser")
    if not path:
        _cannot_run("no Chromium was found (install the Debian package `chromium`, or set "
                    "TOOLKIT_CHROMIUM to the browser's path)")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def voila_url(tmp_path_factory):
    try:
        import voila  # noqa: F401  (only to know it is installed)
    except ImportError:
        _cannot_run("Voilà is not installed (pip install -e '.[dev]')")
    port = _free_port()
    log_path = tmp_path_factory.mktemp("voila") / "voila.log"
    env = {**os.environ, "MPLBACKEND": "Agg",
           "TOOLKIT_NOTEBOOK_OUT": str(tmp_path_factory.mktemp("notebook-out"))}
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "voila", str(NOTEBOOK), "--no-browser", f"--port={port}",
             "--Voila.ip=127.0.0.1", "--show_tracebacks=True"],
            cwd=NOTEBOOK.parent, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"Voilà did not start; its log:\n{log_path.read_text()}")
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/", log_path
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture(scope="module")
def browser():
    chromium = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _cannot_run("Playwright for Python is not installed (pip install -e '.[dev]')")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


def _text(page, selector: str) -> str:
    return page.locator(selector).first.inner_text()


def _figure(page) -> str:
    """The working-quality figure's image data, to tell one drawing from the next."""
    return page.locator(".tk-working-quality img").first.get_attribute("src") or ""


def test_pick_apply_undo_in_the_merge_audit_dashboard(voila_url, browser):
    url, log_path = voila_url
    OUTPUT.mkdir(parents=True, exist_ok=True)
    for old in OUTPUT.glob("merge-audit-*.png"):
        old.unlink()        # only this run's pictures in the folder
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(url, timeout=PAGE_TIMEOUT_MS)
        page.wait_for_selector(".tk-merge-list select", timeout=PAGE_TIMEOUT_MS)
        page.wait_for_selector(".tk-working-quality img", timeout=CLICK_TIMEOUT_MS)
    except Exception as exc:  # the page never showed the dashboard: say why
        page.screenshot(path=str(OUTPUT / "merge-audit-failed-to-load.png"), full_page=True)
        pytest.fail(f"the dashboard did not show ({exc}); Voilà's log:\n{log_path.read_text()}")

    caption_before, figure_before = _text(page, ".tk-working-caption"), _figure(page)
    assert "step 0" in caption_before

    # Pick the first merge of the audited history that was applied in the cloud: on the working
    # state (the export, before any merge) its clusters exist, so it can be applied.
    options = page.locator(".tk-merge-list select option").all_inner_texts()
    applied = [label for label in options if "applied" in label]
    assert applied, f"no applied merge among the options: {options[:5]}"
    page.locator(".tk-merge-list select").first.select_option(label=applied[0])
    page.wait_for_function(
        "() => document.querySelector('.tk-preview') && "
        "document.querySelector('.tk-preview').innerText.includes('score')",
        timeout=CLICK_TIMEOUT_MS)
    page.locator(".tk-merge-list").first.scroll_into_view_if_needed()
    page.screenshot(path=str(OUTPUT / "merge-audit-picked.png"), full_page=True)

    page.locator("button.tk-apply").first.click()
    page.wait_for_function(
        "() => document.querySelector('.tk-working-caption').innerText.includes('step 1')",
        timeout=CLICK_TIMEOUT_MS)
    page.wait_for_function(
        "(before) => { const img = document.querySelector('.tk-working-quality img');"
        " return img && img.getAttribute('src') !== before; }",
        arg=figure_before, timeout=CLICK_TIMEOUT_MS)
    caption_after = _text(page, ".tk-working-caption")
    assert caption_after != caption_before
    page.locator(".tk-working-caption").first.scroll_into_view_if_needed()
    page.screenshot(path=str(OUTPUT / "merge-audit-applied.png"), full_page=True)

    page.locator("button.tk-undo").first.click()
    page.wait_for_function(
        "() => document.querySelector('.tk-working-caption').innerText.includes('step 0')",
        timeout=CLICK_TIMEOUT_MS)
    assert _text(page, ".tk-working-caption") == caption_before
    errors = page.locator("[data-mime-type='application/vnd.jupyter.stderr']").all_inner_texts()
    assert not errors, f"the page shows errors: {errors}"
    page.close()
