"""Browser fixtures: the demo store (a copy of the session's 4-day demo, seeded with users, published plans and
a leak alarm) served by uvicorn in a thread, and Debian's chromium driven by Playwright.

These tests need ``/usr/bin/chromium`` (``apt-get install chromium``; ``make test`` installs it when it runs as
root) and fail, never skip, without it.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest
import uvicorn

from suvar.api.app import create_app
from suvar.config import load_settings
from suvar.store import DuckStore

from .seed import PASSWORD, seed

CHROMIUM = os.environ.get("SUVAR_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"
AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1" / "axe.min.js"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@dataclass
class Panel:
    url: str
    store: DuckStore
    summary: dict
    totp: dict[str, str]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def panel(demo_store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Panel]:  # noqa: ANN001
    """The panel over a seeded copy of the demo store, on a free port."""
    source, summary = demo_store
    path = tmp_path_factory.mktemp("panel") / "panel.duckdb"
    source.backup(path)
    store = DuckStore(path)
    app = create_app(store, load_settings({"SUVAR_RATE_LIMIT_PER_MIN": "0"}))
    totp = seed(store, app, Path(source.path).parent / "files" / "basin", summary["basin"]["inflow_factor"])
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the panel server did not start")
        time.sleep(0.05)
    yield Panel(f"http://127.0.0.1:{port}", store, summary, totp)
    server.should_exit = True
    thread.join(timeout=10)
    store.close()


@pytest.fixture(scope="session")
def browser_context():  # noqa: ANN201
    """One chromium with a fresh profile for the whole session (pages clear cookies to change user)."""
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        pytest.fail(f"the browser tests need Debian's chromium at {CHROMIUM}: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    profile = tempfile.mkdtemp(prefix="suvar-chromium-")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=ARGS, viewport={"width": 1366, "height": 768},
            bypass_csp=True)  # only so that axe-core can be injected; tests/test_panel.py checks the policy
        context.set_default_timeout(20_000)
        yield context
        context.close()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser_context):  # noqa: ANN001, ANN201
    """A fresh tab with no session; JavaScript errors on it fail the test."""
    browser_context.clear_cookies()
    tab = browser_context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.errors = errors
    yield tab
    tab.close()
    assert not errors, f"JavaScript errors: {errors}"


def login(page, panel: Panel, username: str, next_path: str = "/") -> None:  # noqa: ANN001
    """Log in through the login form (with the TOTP code for users who have one) and land on ``next_path``."""
    from urllib.parse import quote

    page.goto(f"{panel.url}/login?next={quote(next_path)}")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    if username in panel.totp:
        page.fill("#totp", pyotp.TOTP(panel.totp[username]).now())
    page.click("form#login button[type=submit]")
    page.wait_for_url(f"{panel.url}{next_path}")


def axe_violations(page, tags=("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")) -> list[dict]:  # noqa: ANN001
    """axe-core's WCAG 2.1 A/AA violations on the current page."""
    page.add_script_tag(content=AXE.read_text())
    return page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}}).then(r => r.violations"
                         ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))})))",
                         list(tags))
