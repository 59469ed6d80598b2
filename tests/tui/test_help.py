"""`?` and F1 open the current section's help (its keys and columns); the palette lists product actions."""

from __future__ import annotations

from typing import Any

from textual.command import CommandPalette
from textual.widgets import Static

from kdrama_tui.tui.screens.help import HelpScreen
from tests.support.console import goto, settle, wait_until


def _plain(pilot: Any, selector: str) -> str:
    from rich.console import Console

    console = Console(width=200, record=True, color_system=None)
    console.print(pilot.app.screen.query_one(selector, Static).content)
    return console.export_text()


async def test_help_for_the_videos_section_lists_its_keys_and_columns(dashboard: Any) -> None:
    async with dashboard(size=(80, 24)) as pilot:
        await goto(pilot, "2", "videos")
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen), what="help")
        keys = _plain(pilot, "#help-keys")
        assert "Keys in this section" in keys
        assert "d / del" in keys and "Delete" in keys and "Copy URL" in keys
        columns = _plain(pilot, "#help-columns")
        assert "Public" in columns and "listed in the catalog" in columns
        assert "missing (its files are gone" in columns
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(pilot.app.screen, HelpScreen), what="help closed")
        assert pilot.app.current_mode == "videos"

        await goto(pilot, "4", "jobs")
        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen), what="help by F1")
        assert "Pri" in _plain(pilot, "#help-columns") and "1 runs first" in _plain(pilot, "#help-columns")
        assert "Raise" in _plain(pilot, "#help-keys")
        await pilot.press("q")  # closes the help, does not quit
        await wait_until(pilot, lambda: not isinstance(pilot.app.screen, HelpScreen), what="help closed")
        assert pilot.app.return_code is None


async def test_the_palette_lists_the_products_actions_not_cursor_moves(dashboard: Any) -> None:
    async with dashboard(size=(120, 40)) as pilot:
        await goto(pilot, "2", "videos")
        commands = [c.title for c in pilot.app.get_system_commands(pilot.app.screen)]
        assert {"Help", "Quit", "Go to Users", "Delete", "Copy URL", "Transcode"} <= set(commands)
        assert not any("cursor" in c.lower() or c.lower().startswith("scroll") for c in commands)
        assert "Keys" not in commands and "Screenshot" not in commands
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, CommandPalette), what="palette")
        await settle(pilot)
