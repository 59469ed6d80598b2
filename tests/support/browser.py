"""Playwright helpers for the browser tests (Chromium from /usr/bin/chromium, never downloaded)."""

from __future__ import annotations

import asyncio
import time

from playwright.async_api import Page

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


async def wait_for(page: Page, expression: str, timeout: float = 10_000) -> None:
    """Poll a JS expression until it is truthy. (page.wait_for_function evaluates strings inside the page,
    which the site's Content-Security-Policy rightly forbids; evaluate() goes through the DevTools protocol.)"""
    deadline = time.monotonic() + timeout / 1000
    while not await page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {expression}")
        await asyncio.sleep(0.1)
