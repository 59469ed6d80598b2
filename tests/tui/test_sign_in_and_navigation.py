"""Signing in to an attached server, failures as messages (never tracebacks), sections, palette, mouse."""

from __future__ import annotations

from typing import Any

from textual.command import CommandPalette
from textual.widgets import Static

from kdrama_tui.config import Settings
from kdrama_tui.tui.app import KdramaApp
from kdrama_tui.tui.client import AdminClient
from kdrama_tui.tui.screens.login import LoginScreen
from kdrama_tui.tui.widgets.nav import SECTIONS
from tests.support.console import (
    Recorder,
    Served,
    connected,
    free_port,
    goto,
    serve,
    settle,
    table_rows,
    type_into,
    wait_until,
)


def _problem(app: Any) -> str:
    return str(app.screen.query_one("#problem", Static).render())


async def test_sign_in_with_an_api_key(served: Served) -> None:
    app = KdramaApp(AdminClient(served.url))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LoginScreen), what="sign-in screen")
        await type_into(pilot, "#login-key", served.admin_key)
        await pilot.click("#sign-in")
        await connected(pilot)
        assert app.current_mode == "dashboard"


async def test_a_non_admin_or_wrong_key_is_refused_with_a_message(served: Served) -> None:
    user = await served.svc.accounts.create_user("viewer", "viewer@example.com", "password123")
    user_key, _ = await served.svc.accounts.issue_api_key(user.id)
    app = KdramaApp(AdminClient(served.url, api_key=user_key))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LoginScreen), what="sign-in screen")
        assert _problem(app) == "admin rights required"
        await type_into(pilot, "#login-key", "kd_wrong")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, LoginScreen) and "invalid API key" in _problem(app),
                         what="refusal")
        assert not app.connected
        await pilot.press("escape")  # leaving the sign-in screen quits
        await wait_until(pilot, lambda: app.return_code is not None, what="exit")


async def test_password_sign_in_then_tokens_refresh_by_themselves(settings: Settings) -> None:
    settings.security.access_token_minutes = 1 / 60  # 1 s: the test outlives its first access token
    served = await serve(settings)
    try:
        app = KdramaApp(AdminClient(served.url))
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, LoginScreen), what="sign-in screen")
            await type_into(pilot, "#login-name", "root")
            await type_into(pilot, "#login-password", "password123")
            await pilot.press("enter")
            await connected(pilot)
            client = app.client
            assert client is not None and client.api_key is None and client.access_token
            first_token = client.access_token
            await pilot.pause(2.5)  # the access token has expired by now
            await goto(pilot, "5", "users")
            assert [r[1] for r in table_rows(app, "#users")] == ["root"]
            assert client.access_token != first_token  # refreshed on the 401, without asking again
    finally:
        await served.close()


async def test_password_sign_in_refusals(served: Served) -> None:
    await served.svc.accounts.create_user("viewer", "viewer@example.com", "password123")
    app = KdramaApp(AdminClient(served.url))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LoginScreen), what="sign-in screen")
        await type_into(pilot, "#login-name", "root")
        await type_into(pilot, "#login-password", "not the password")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, LoginScreen) and _problem(app), what="refusal")
        assert _problem(app) == "wrong username or password"
        await type_into(pilot, "#login-name", "viewer@example.com")
        await type_into(pilot, "#login-password", "password123")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, LoginScreen) and "admin" in _problem(app),
                         what="non-admin refusal")
        assert _problem(app) == "admin rights required"
        assert not app.connected


async def test_an_unreachable_server_is_a_message(served: Served) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    app = KdramaApp(AdminClient(url, api_key=served.admin_key))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LoginScreen), what="sign-in screen")
        assert _problem(app).startswith(f"cannot reach {url}")


async def test_every_section_opens_by_key_and_by_mouse(served: Served, dashboard: Any) -> None:
    async with dashboard(size=(80, 24)) as pilot:
        app = pilot.app
        for mode, key, _ in SECTIONS:
            if mode in app.MODES:
                await goto(pilot, key, mode)
                assert app.screen.query_one("#nav")
        await goto(pilot, "1", "dashboard")
        nav_text = str(app.screen.query_one("#nav", Static).render())
        offset = nav_text.index("Keys")  # click the word in the nav bar
        await pilot.click("#nav", offset=(offset, 0))
        await wait_until(pilot, lambda: app.current_mode == "keys", what="keys by mouse")


async def test_actions_are_in_the_command_palette(served: Served, dashboard: Any, recorder: Recorder) -> None:
    async with dashboard() as pilot:
        app = pilot.app
        await goto(pilot, "6", "keys")
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Issue", "Revoke", "Refresh", "Go to Users", "Go to Settings", "Quit"} <= titles
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette), what="palette")
        await pilot.press(*"go to users")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.current_mode == "users", what="users via palette")
        await settle(pilot)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"New", "Role", "(De)activate", "Password"} <= titles
