"""Browser tests: Playwright driving Debian's headless Chromium, and a static file server.

Fixtures: `browser` (one Chromium per session), `page` (a fresh page that fails its test at
teardown when the page logged a console error or threw), and `static_server(folder)`, a
context manager that serves a folder over HTTP on a free loopback port.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
MISSING_CHROMIUM = "chromium is not installed: run `make install-browser`"

__all__ = ["CHROMIUM", "PageErrors", "static_server"]


class _QuietHandler(SimpleHTTPRequestHandler):
    """Serves files without logging every request to stderr."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def static_server(folder: Path) -> Iterator[str]:
    """Serve `folder` over HTTP on 127.0.0.1 and a free port; yield its base URL (with '/')."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="static-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class PageErrors:
    """Console errors and uncaught exceptions a page reported, as one line each."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def console(self, message: Any) -> None:
        if message.type == "error":
            self.lines.append(f"console error at {message.location.get('url')}: {message.text}")

    def exception(self, error: Any) -> None:
        self.lines.append(f"page error: {error}")


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    """One headless Debian Chromium for the session (never a downloaded browser build)."""
    if not CHROMIUM.exists():
        pytest.fail(MISSING_CHROMIUM, pytrace=False)
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.fail("playwright is not installed: run `make install`", pytrace=False)
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def page_errors() -> PageErrors:
    """The errors `page` collected; a test may inspect them before teardown checks them."""
    return PageErrors()


@pytest.fixture
async def page(browser: Any, page_errors: PageErrors) -> AsyncIterator[Any]:
    """A fresh page in its own context; the test fails if the page logged an error."""
    context = await browser.new_context()
    new_page = await context.new_page()
    new_page.on("console", page_errors.console)
    new_page.on("pageerror", page_errors.exception)
    try:
        yield new_page
    finally:
        await context.close()
    if page_errors.lines:
        pytest.fail("the page reported errors:\n" + "\n".join(page_errors.lines), pytrace=False)
