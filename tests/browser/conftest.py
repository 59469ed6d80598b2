"""Browser tests reuse the streaming fixtures and keep each test's report for the failure screenshot."""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.support.browser import CHROMIUM_ARGS
from tests.support.world import hls_source, svc, world  # noqa: F401  (fixtures)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[None, Any, Any]:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        # Sound needs a click, as in a real Chrome on a site the viewer has not used yet: the pages must
        # play anyway (muted, with an unmute button).
        browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                                   args=[*CHROMIUM_ARGS, "--autoplay-policy=user-gesture-required"])
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def page(browser: Browser, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1000, "height": 800}, locale="en-US")
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        failed = getattr(request.node, "rep_call", None)
        if failed is None or failed.failed:
            await page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            (tmp_path / "page-errors.txt").write_text("\n".join(errors))
        await context.close()
    assert errors == [], errors
