"""Settings (effective, masked) and Logs (live tail with a level filter)."""

from __future__ import annotations

import logging
from typing import Any

from textual.widgets import RichLog, Select

from tests.support.console import Served, goto, settle, table_rows, wait_until


async def test_settings_show_the_effective_values_with_secrets_masked(served: Served, dashboard: Any) -> None:
    served.svc.settings.storage.secret_key = "super-secret-value"
    served.svc.settings.server.public_url = "https://drama.example.com"
    async with dashboard() as pilot:
        await goto(pilot, "0", "settings")
        values = dict(table_rows(pilot.app, "#settings"))
        assert values["storage.secret_key"] == "***"
        assert values["server.public_url"] == "https://drama.example.com"
        assert values["transcode.concurrency"] == str(served.svc.settings.transcode.concurrency)
        assert "super-secret-value" not in str(values)


def _log_text(pilot: Any) -> str:
    return "\n".join(line.text for line in pilot.app.screen.query_one("#log", RichLog).lines)


async def test_logs_tail_live_and_filter_by_level(served: Served, dashboard: Any) -> None:
    logger = logging.getLogger("kdrama_tui.tests.tail")
    logger.setLevel(logging.INFO)
    logger.info("before the screen opened")
    async with dashboard() as pilot:
        await goto(pilot, "9", "logs")
        assert "before the screen opened" in _log_text(pilot)
        logger.info("a fresh info line")
        logger.error("a fresh error line")
        await wait_until(pilot, lambda: "a fresh error line" in _log_text(pilot), what="live log line")
        assert "a fresh info line" in _log_text(pilot)

        await pilot.press("l")  # INFO -> WARNING: history reloaded without the info lines
        await settle(pilot)
        assert pilot.app.screen.query_one("#level", Select).value == "WARNING"
        text = _log_text(pilot)
        assert "a fresh error line" in text and "a fresh info line" not in text
        logger.info("an info line the filter hides")
        logger.warning("a warning it shows")
        await wait_until(pilot, lambda: "a warning it shows" in _log_text(pilot), what="filtered line")
        assert "an info line the filter hides" not in _log_text(pilot)

        await pilot.press("c")
        await pilot.pause()
        assert _log_text(pilot) == ""
