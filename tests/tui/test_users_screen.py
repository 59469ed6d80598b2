"""Users section: create, change role, (de)activate, reset password; each change lands in the database."""

from __future__ import annotations

from typing import Any

from textual.widgets import Select

from kdrama_tui.errors import Unauthorized
from kdrama_tui.repositories import repos_of
from kdrama_tui.tui.screens.user_forms import NewUserModal, PasswordModal
from tests.support.console import Recorder, Served, goto, select_row, settle, table_rows, type_into, wait_until


async def test_create_a_user_through_the_form(served: Served, dashboard: Any) -> None:
    async with dashboard() as pilot:
        await goto(pilot, "5", "users")
        assert [r[1] for r in table_rows(pilot.app, "#users")] == ["root"]
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, NewUserModal), what="new user form")
        await type_into(pilot, "#username", "mina")
        await type_into(pilot, "#email", "mina@example.com")
        await type_into(pilot, "#password", "correct horse")
        await type_into(pilot, "#password2", "correct horse")
        pilot.app.screen.query_one("#role", Select).value = "admin"
        await pilot.click("#submit")
        await settle(pilot)
        assert [r[1] for r in table_rows(pilot.app, "#users")] == ["root", "mina"]
    stored = await repos_of(served.svc.db).users.find_by_username("mina")
    assert stored is not None and (stored.email, stored.role) == ("mina@example.com", "admin")
    assert (await served.svc.accounts.check_password("mina", "correct horse")).id == stored.id


async def test_the_form_refuses_bad_input_before_sending(served: Served, dashboard: Any) -> None:
    async with dashboard() as pilot:
        await goto(pilot, "5", "users")
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, NewUserModal), what="new user form")
        await type_into(pilot, "#username", "x")  # too short
        await type_into(pilot, "#email", "mina@example.com")
        await type_into(pilot, "#password", "correct horse")
        await type_into(pilot, "#password2", "correct horse")
        await pilot.click("#submit")
        await settle(pilot)
        assert isinstance(pilot.app.screen, NewUserModal)
        assert "username" in str(pilot.app.screen.query_one("#form-error").render())
        await type_into(pilot, "#username", "mina")
        await type_into(pilot, "#password2", "something else")
        await pilot.click("#submit")
        await settle(pilot)
        assert "differ" in str(pilot.app.screen.query_one("#form-error").render())
        await pilot.press("escape")
        await settle(pilot)
        assert pilot.app.current_mode == "users" and not isinstance(pilot.app.screen, NewUserModal)
    assert await repos_of(served.svc.db).users.count() == 1


async def test_server_refusals_become_notifications(served: Served, dashboard: Any, recorder: Recorder) -> None:
    async with dashboard() as pilot:
        await goto(pilot, "5", "users")
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, NewUserModal), what="new user form")
        await type_into(pilot, "#username", "root2")
        await type_into(pilot, "#email", "ROOT@example.com")  # taken (emails are case-insensitive)
        await type_into(pilot, "#password", "correct horse")
        await type_into(pilot, "#password2", "correct horse")
        await pilot.press("enter")
        await settle(pilot)
        assert "email already exists" in recorder.notes("error")
        assert pilot.app.current_mode == "users"
    assert await repos_of(served.svc.db).users.count() == 1


async def test_change_role_deactivate_and_reactivate(served: Served, dashboard: Any) -> None:
    user = await served.svc.accounts.create_user("jun", "jun@example.com", "password123")
    key, _ = await served.svc.accounts.issue_api_key(user.id)
    async with dashboard() as pilot:
        await goto(pilot, "5", "users")
        await select_row(pilot, "#users", str(user.id))
        await pilot.press("a")
        await pilot.press("y")
        await settle(pilot)
        assert (await repos_of(served.svc.db).users.get(user.id)).role == "admin"

        await pilot.press("d")
        await pilot.press("n")  # changed their mind
        await settle(pilot)
        assert (await repos_of(served.svc.db).users.get(user.id)).is_active is True
        await pilot.press("d")
        await pilot.click("#yes")
        await settle(pilot)
        assert (await repos_of(served.svc.db).users.get(user.id)).is_active is False
        assert table_rows(pilot.app, "#users")[1][4] == "no"
        try:
            await served.svc.accounts.authenticate_api_key(key)
            raise AssertionError("a deactivated account's key still works")
        except Unauthorized:
            pass

        await pilot.press("d", "y")
        await settle(pilot)
        assert (await repos_of(served.svc.db).users.get(user.id)).is_active is True


async def test_reset_a_password(served: Served, dashboard: Any) -> None:
    user = await served.svc.accounts.create_user("jun", "jun@example.com", "password123")
    async with dashboard() as pilot:
        await goto(pilot, "5", "users")
        await select_row(pilot, "#users", str(user.id))
        await pilot.press("p")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, PasswordModal), what="password form")
        await type_into(pilot, "#password", "brand new secret")
        await type_into(pilot, "#password2", "brand new secret")
        await pilot.press("enter")
        await settle(pilot)
    assert (await served.svc.accounts.check_password("jun", "brand new secret")).id == user.id


async def test_the_last_admin_is_protected(served: Served, dashboard: Any, recorder: Recorder) -> None:
    async with dashboard() as pilot:
        await goto(pilot, "5", "users")
        await select_row(pilot, "#users", str(served.admin.id))
        await pilot.press("a", "y")
        await settle(pilot)
        assert any("last active admin" in note for note in recorder.notes("error"))
    assert (await repos_of(served.svc.db).users.get(served.admin.id)).role == "admin"
