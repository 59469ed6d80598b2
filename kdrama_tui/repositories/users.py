"""UserRepository: the design's finders by email and username."""

from __future__ import annotations

from kdrama_tui.models import User
from kdrama_tui.repositories.base import BaseRepository


class UserRepository(BaseRepository[User]):
    table = "users"
    model = User
    not_found_message = "user not found"

    async def find_by_email(self, email: str) -> User | None:
        return self._row(await self.db.fetch_one(
            "SELECT * FROM users WHERE lower(email) = lower(:email)", {"email": email}))

    async def find_by_username(self, username: str) -> User | None:
        return self._row(await self.db.fetch_one(
            "SELECT * FROM users WHERE username = :username", {"username": username}))
