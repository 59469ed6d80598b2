"""Settings (effective, masked) and Logs (live tail with a level filter)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from textual.widgets import RichLog, Select, Static

from kdrama_tui.config import Settings, load_settings
from kdrama_tui.tui.app import KdramaApp
from kdrama_tui.tui.client import AdminClient
from tests.support.console import Served, connected, goto, select_row, serve, settle, table_rows, wait_until


async def test_settings_show_the_effective_values_with_secrets_masked(served: Served, dashboard: Any) -> None:
    served.svc.settings.storage.secret_key = "super-secret-value"
    served.svc.settings.server.public_url = "https://drama.example.com"
    async with dashboard() as pilot:
        await goto(pilot, "0", "settings")
        rows = {r[0]: r[1:] for r in table_rows(pilot.app, "#settings")}
        values = {name: row[0] for name, row in rows.items()}
        assert values["storage.secret_key"] == "***"
        assert values["server.public_url"] == "https://drama.example.com"
        assert values["transcode.concurrency"] == str(served.svc.settings.transcode.concurrency)
        assert "super-secret-value" not in str(rows)


async def test_settings_are_readable_sizes_durations_origins_descriptions_and_derived(
        settings: Settings, tmp_path: Path) -> None:
    config = tmp_path / "kdrama.toml"
    config.write_text('[uploads]\nmax_size = "2GiB"\n')
    loaded = load_settings(config, env={"KDRAMA_DATA_DIR": str(tmp_path / "data"),
                                        "KDRAMA_DATABASE_URL": settings.database_url,
                                        "KDRAMA_SECURITY_PLAYBACK_TOKEN_MINUTES": "90"})
    server = await serve(loaded)
    try:
        app = KdramaApp(AdminClient(server.url, api_key=server.admin_key))
        async with app.run_test(size=(120, 40)) as pilot:
            await connected(pilot)
            await goto(pilot, "0", "settings")
            rows = {r[0]: r[1:] for r in table_rows(app, "#settings")}
            assert rows["uploads.max_size"][:2] == ["2.0 GiB", "config file"]
            assert rows["security.playback_token_minutes"][:2] == [
                "1h 30m", "env KDRAMA_SECURITY_PLAYBACK_TOKEN_MINUTES"]
            assert rows["uploads.max_chunk_size"][:2] == ["64.0 MiB", "default"]
            assert rows["server.host"][2] == "Address the HTTP server binds to."
            assert rows["backup folder"][0].endswith("/data/backups") and rows["backup folder"][1] == "derived"
            assert rows["watch folders"][0].endswith("/data/watch")
            assert rows["database URL"][1] == "derived"
            await select_row(pilot, "#settings", "uploads.max_size")
            detail = str(app.screen.query_one("#setting-detail", Static).render())
            assert detail.startswith(
                "uploads.max_size = 2.0 GiB (2147483648 bytes) · from config file · default 50.0 GiB")
    finally:
        await server.close()


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
