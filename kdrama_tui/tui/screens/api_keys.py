"""API keys: issue (shown once), list with last use and expiry, revoke."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from kdrama_tui.tui.formatting import ago, parse_time, short_date
from kdrama_tui.tui.messages import ActionSucceeded
from kdrama_tui.tui.results import ApiKey, User
from kdrama_tui.tui.screens.key_forms import IssueKeyModal, KeyIssuedModal, KeyRequest
from kdrama_tui.tui.screens.tables import TableSection


class ApiKeysScreen(TableSection):
    SECTION = "keys"
    TABLE = "keys"
    CSS_PATH = "api_keys.tcss"
    RELOAD_ON = ("api_key.", "user.")
    BINDINGS = [
        Binding("i", "issue", "Issue"),
        Binding("x,delete", "revoke", "Revoke"),
        Binding("r", "reload", "Refresh"),
    ]

    class Loaded(Message):
        def __init__(self, keys: list[ApiKey], users: list[User]) -> None:
            super().__init__()
            self.keys = keys
            self.users = users

    def __init__(self) -> None:
        super().__init__()
        self.keys: dict[str, ApiKey] = {}
        self.users: list[User] = []

    def compose_body(self) -> ComposeResult:
        table: DataTable[str] = DataTable(id="keys", cursor_type="row", zebra_stripes=True)
        table.add_columns("ID", "User", "Name", "Key", "State", "Expires", "Last used", "Issued")
        yield table

    def empty_text(self, table_id: str) -> str:
        return "no API keys yet: i issues one"

    @work(exclusive=True, group="keys.load", description="Load API keys", exit_on_error=False)
    async def reload(self) -> None:
        self.post_message(self.Loaded(await self.api.api_keys(), await self.api.users()))

    def state(self, key: ApiKey) -> str:
        if not key.is_active:
            return "revoked"
        expires = parse_time(key.expires_at)
        if expires is not None and expires.timestamp() <= self.kapp.clock():
            return "expired"
        return "active"

    def on_api_keys_screen_loaded(self, message: Loaded) -> None:
        self.users = message.users
        self.keys = {str(k.id): k for k in message.keys}
        now = self.kapp.clock()
        self.fill_table(self.query_one("#keys", DataTable), (
            (str(k.id), (str(k.id), k.username, k.name or "-", f"{k.key_prefix}…",
                         self.state(k), short_date(k.expires_at) if k.expires_at else "never",
                         ago(k.last_used_at, now), short_date(k.created_at)))
            for k in message.keys))

    def action_issue(self) -> None:
        if not any(u.is_active for u in self.users):
            self.notify("no active account to issue a key to", severity="warning", markup=False)
            return

        def chosen(request: KeyRequest | None) -> None:
            if request is not None:
                self.run_call("Issue an API key",
                              lambda: self.api.issue_api_key(request.user_id, request.name, request.expires_days),
                              "API key issued")

        self.app.push_screen(IssueKeyModal(self.users), chosen)

    def on_action_succeeded(self, message: ActionSucceeded) -> None:
        result = message.result
        if isinstance(result, dict) and "key" in result:
            message.prevent_default()  # no toast over the key: the dialog says it all
            self.reload()
            self.app.push_screen(KeyIssuedModal(result["key"], result["api_key"]["username"]))

    def action_revoke(self) -> None:
        key = self.keys.get(self.selected_key(self.query_one("#keys", DataTable)) or "")
        if key is None:
            self.notify("no key selected", severity="warning", markup=False)
            return
        if not key.is_active:
            self.notify(f"key {key.id} is already revoked", severity="warning", markup=False)
            return
        label = f"{key.key_prefix}… of {key.username}" + (f" ({key.name})" if key.name else "")
        self.confirm(f"Revoke API key {label}? It stops working at once.",
                     lambda: self.run_call(f"Revoke key {key.id}", lambda: self.api.revoke_api_key(key.id),
                                           f"key {key.id} revoked"), yes="Revoke")

