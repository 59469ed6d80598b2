"""Users: create accounts, change roles, deactivate, reset passwords."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from kdrama_tui.tui.formatting import ago, short_date
from kdrama_tui.tui.results import User
from kdrama_tui.tui.screens.tables import TableSection
from kdrama_tui.tui.screens.user_forms import NewUser, NewUserModal, PasswordModal


class UsersScreen(TableSection):
    SECTION = "users"
    TABLE = "users"
    CSS_PATH = "users.tcss"
    RELOAD_ON = ("user.",)
    BINDINGS = [
        Binding("c", "create", "New"),
        Binding("a", "toggle_admin", "Role"),
        Binding("d", "toggle_active", "(De)activate"),
        Binding("p", "password", "Password"),
        Binding("r", "reload", "Refresh"),
    ]

    class Loaded(Message):
        def __init__(self, users: list[User]) -> None:
            super().__init__()
            self.users = users

    def __init__(self) -> None:
        super().__init__()
        self.users: dict[str, User] = {}

    def compose_body(self) -> ComposeResult:
        table: DataTable[str] = DataTable(id="users", cursor_type="row", zebra_stripes=True)
        table.add_columns("ID", "Username", "Email", "Role", "Active", "Last login", "Created")
        yield table

    def empty_text(self, table_id: str) -> str:
        return "no accounts yet: c creates one"

    @work(exclusive=True, group="users.load", description="Load users", exit_on_error=False)
    async def reload(self) -> None:
        self.post_message(self.Loaded(await self.api.users()))

    def on_users_screen_loaded(self, message: Loaded) -> None:
        self.users = {str(u.id): u for u in message.users}
        now = self.kapp.clock()
        self.fill_table(self.query_one("#users", DataTable), (
            (str(u.id), (str(u.id), u.username, u.email, u.role,
                            "yes" if u.is_active else "no", ago(u.last_login_at, now),
                            short_date(u.created_at)))
            for u in message.users))

    def selected(self) -> User | None:
        key = self.selected_key(self.query_one("#users", DataTable))
        user = self.users.get(key) if key else None
        if user is None:
            self.notify("no user selected", severity="warning", markup=False)
        return user

    # ---- actions ---------------------------------------------------------------------------------
    def action_create(self) -> None:
        def created(new: NewUser | None) -> None:
            if new is not None:
                self.run_call(f"Create {new.username}",
                              lambda: self.api.create_user(new.username, new.email, new.password, new.role),
                              f"created {new.role} {new.username}")

        self.app.push_screen(NewUserModal(), created)

    def action_toggle_admin(self) -> None:
        user = self.selected()
        if user is None:
            return
        role = "user" if user.role == "admin" else "admin"
        self.confirm(f"Make {user.username} {'an admin' if role == 'admin' else 'a normal user'}?",
                     lambda: self.run_call(f"Change role of {user.username}",
                                           lambda: self.api.update_user(user.id, role=role),
                                           f"{user.username} is now {role}"),
                     yes="Change role")

    def action_toggle_active(self) -> None:
        user = self.selected()
        if user is None:
            return
        active = not user.is_active
        verb = "Reactivate" if active else "Deactivate"
        note = "" if active else " Their sessions end and their API keys stop working."
        self.confirm(f"{verb} {user.username}?{note}",
                     lambda: self.run_call(f"{verb} {user.username}",
                                           lambda: self.api.update_user(user.id, is_active=active),
                                           f"{user.username} {'reactivated' if active else 'deactivated'}"),
                     yes=verb)

    def action_password(self) -> None:
        user = self.selected()
        if user is None:
            return

        def chosen(password: str | None) -> None:
            if password is not None:
                self.run_call(f"Set the password of {user.username}",
                              lambda: self.api.update_user(user.id, password=password),
                              f"password of {user.username} changed; they were logged out")

        self.app.push_screen(PasswordModal(user.username), chosen)
