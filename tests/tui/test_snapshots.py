"""Snapshots of the main sections at 80x24 and 120x40 (update with ``pytest --snapshot-update``).

The app is the all-in-one one (its server starts inside the app's loop) on a seeded database with the
clock, disk figures and event times pinned (see snapshot_app.py), so a snapshot only changes when the
screen does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, RichLog

from tests.support.console import connected, goto, settle, type_into, wait_until
from tests.tui.snapshot_app import build_app

SIZES = [(80, 24), (120, 40)]


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.chdir(tmp_path)  # relative data dir: no temp path on screen
    return build_app(tmp_path)


def open_section(key: str | None, mode: str, extra: Callable[[Pilot[Any]], Any] | None = None) -> Any:
    async def run_before(pilot: Pilot[Any]) -> None:
        await connected(pilot)
        events = pilot.app.system.services.events
        events.publish("video.ready", video_id=2, title="Goblin")
        events.publish("job.started", job_id=1, video_id=4)
        events.publish("upload.progress", upload_id=1, percent=40.1)
        events.publish("user.updated", user_id=3, is_active=False)
        if mode == "dashboard":
            await wait_until(pilot, lambda: len(pilot.app.screen.query_one("#events", RichLog).lines) >= 3,
                             what="events on the dashboard")
        if key is not None:
            await goto(pilot, key, mode)
        if extra is not None:
            await extra(pilot)
        await settle(pilot)
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False  # a blinking cursor would make the snapshot flaky

    return run_before


# Settings is left out: its rows are every config key, so any new setting anywhere would change it
# (test_settings_logs_screens.py checks what it shows).
SECTIONS = {"dashboard": None, "videos": "2", "series": "S", "uploads": "3", "jobs": "4", "users": "5", "keys": "6",
            "comments": "7", "backups": "8"}


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("mode", list(SECTIONS))
def test_section(snap_compare: Any, app: Any, mode: str, size: tuple[int, int]) -> None:
    assert snap_compare(app, terminal_size=size, run_before=open_section(SECTIONS[mode], mode))


async def _new_user_form(pilot: Pilot[Any]) -> None:
    await pilot.press("c")
    await wait_until(pilot, lambda: pilot.app.screen.query("#username"), what="new user form")
    await type_into(pilot, "#username", "hyun")


def test_new_user_form_fits_80x24(snap_compare: Any, app: Any) -> None:
    assert snap_compare(app, terminal_size=(80, 24), run_before=open_section("5", "users", _new_user_form))


async def _quit_dialog(pilot: Pilot[Any]) -> None:
    from kdrama_tui.tui.screens.quit import QuitModal

    await pilot.press("q")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, QuitModal), what="quit dialog")


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_quit_dialog(snap_compare: Any, app: Any, size: tuple[int, int], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TMUX", raising=False)  # the same dialog whether the tests run inside tmux or not
    monkeypatch.delenv("STY", raising=False)
    assert snap_compare(app, terminal_size=size, run_before=open_section(None, "dashboard", _quit_dialog))


async def _help(pilot: Pilot[Any]) -> None:
    from kdrama_tui.tui.screens.help import HelpScreen

    await pilot.press("question_mark")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen), what="help screen")


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_help_screen(snap_compare: Any, app: Any, size: tuple[int, int]) -> None:
    assert snap_compare(app, terminal_size=size, run_before=open_section("2", "videos", _help))
