"""API keys section: issue a key (shown once), use it, revoke it."""

from __future__ import annotations

from typing import Any

import aiohttp
from textual.widgets import Select

from kdrama_tui.repositories import repos_of
from kdrama_tui.tui.screens.key_forms import IssueKeyModal, KeyIssuedModal
from tests.support.console import Recorder, Served, goto, select_row, settle, table_rows, type_into, wait_until


async def test_issue_a_key_shown_once_that_works(served: Served, dashboard: Any) -> None:
    user = await served.svc.accounts.create_user("uploader", "up@example.com", "password123")
    async with dashboard() as pilot:
        await goto(pilot, "6", "keys")
        before = len(table_rows(pilot.app, "#keys"))
        await pilot.press("i")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, IssueKeyModal), what="issue form")
        pilot.app.screen.query_one("#user", Select).value = user.id
        await type_into(pilot, "#name", "nas uploader")
        await type_into(pilot, "#expires", "30")
        await pilot.click("#submit")
        modal = await wait_until(pilot, lambda: isinstance(pilot.app.screen, KeyIssuedModal) and pilot.app.screen,
                                 what="the key dialog")
        key = modal.key
        assert key.startswith("kd_") and key in str(modal.query_one("#secret").render())
        await pilot.press("c")  # copy: must not fail even where the terminal ignores OSC 52
        await pilot.click("#done")
        await settle(pilot)
        rows = table_rows(pilot.app, "#keys")
        assert len(rows) == before + 1
        assert rows[-1][1:5] == ["uploader", "nas uploader", f"{key[:10]}…", "active"]
        assert all(key not in " ".join(r) for r in rows)  # only the prefix is ever listed again

    stored = (await served.svc.accounts.list_api_keys(user.id))[0]
    assert stored.name == "nas uploader" and stored.expires_at is not None
    async with aiohttp.ClientSession() as http, \
            http.get(f"{served.url}/healthz", headers={"X-API-Key": key}) as response:
        assert response.status == 200
    assert (await served.svc.accounts.authenticate_api_key(key)).user.id == user.id


async def test_the_issue_form_needs_an_account_and_sane_expiry(served: Served, dashboard: Any) -> None:
    async with dashboard() as pilot:
        await goto(pilot, "6", "keys")
        await pilot.press("i")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, IssueKeyModal), what="issue form")
        await pilot.click("#submit")
        await settle(pilot)
        assert "choose the account" in str(pilot.app.screen.query_one("#form-error").render())
        pilot.app.screen.query_one("#user", Select).value = served.admin.id
        await type_into(pilot, "#expires", "-3")
        await pilot.click("#submit")
        await settle(pilot)
        assert isinstance(pilot.app.screen, IssueKeyModal)
        await pilot.click("#cancel")
        await settle(pilot)
    assert await repos_of(served.svc.db).api_keys.count() == 1  # only the fixture's


async def test_revoke_a_key(served: Served, dashboard: Any, recorder: Recorder) -> None:
    user = await served.svc.accounts.create_user("uploader", "up@example.com", "password123")
    key, row = await served.svc.accounts.issue_api_key(user.id, "old laptop")
    async with dashboard() as pilot:
        await goto(pilot, "6", "keys")
        await select_row(pilot, "#keys", str(row.id))
        await pilot.press("x")
        await pilot.press("y")
        await settle(pilot)
        state = {r[0]: r[4] for r in table_rows(pilot.app, "#keys")}
        assert state[str(row.id)] == "revoked"
        await pilot.press("delete")  # revoking twice is refused on this side, no request made
        await settle(pilot)
        assert any("already revoked" in n for n in recorder.notes("warning"))
    assert (await repos_of(served.svc.db).api_keys.get(row.id)).is_active is False
    async with aiohttp.ClientSession() as http, \
            http.get(f"{served.url}/api/admin/users", headers={"X-API-Key": key}) as response:
        assert response.status == 401
