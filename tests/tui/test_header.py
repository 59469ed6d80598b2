"""Who and where: the top bar and the Dashboard name the signed-in admin and the mode."""

from __future__ import annotations

from typing import Any

from textual.widgets import Static

from kdrama_tui.tui.widgets.nav import NavBar
from tests.support.console import goto, wait_until


async def test_console_names_the_admin_and_the_mode(dashboard: Any) -> None:
    async with dashboard(size=(120, 40)) as pilot:
        server = pilot.app.screen.query_one("#server", Static)
        await wait_until(pilot, lambda: "console · root (api key)" in str(server.render()), what="server panel")
        nav = pilot.app.screen.query_one(NavBar)
        assert str(nav.render()).endswith("root (api key) · console")
        await goto(pilot, "5", "users")
        assert str(pilot.app.screen.query_one(NavBar).render()).endswith("root (api key) · console")


async def test_at_80_columns_the_sections_come_first(dashboard: Any) -> None:
    async with dashboard(size=(80, 24)) as pilot:
        text = str(pilot.app.screen.query_one(NavBar).render())
        assert text.startswith("1Dash 2Videos") and text.endswith("0Set") and "console" not in text
