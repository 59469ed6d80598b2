"""API keys, signing key pairs and refresh-token sessions."""

from __future__ import annotations

from datetime import datetime

from kdrama_tui.models import ApiKey, KeyPair, UserSession
from kdrama_tui.repositories.base import BaseRepository


class ApiKeyRepository(BaseRepository[ApiKey]):
    table = "api_keys"
    model = ApiKey
    not_found_message = "API key not found"

    async def find_by_key(self, key_hash: str) -> ApiKey | None:
        """Look up by the key's SHA-256 hash (the only form stored)."""
        return self._row(await self.db.fetch_one(
            "SELECT * FROM api_keys WHERE api_key = :h", {"h": key_hash}))

    async def find_by_user(self, user_id: int) -> list[ApiKey]:
        return await self.list({"user_id": user_id}, order_by="id")


class KeyPairRepository(BaseRepository[KeyPair]):
    table = "keys"
    model = KeyPair

    async def find_by_user(self, user_id: int) -> KeyPair | None:
        return self._row(await self.db.fetch_one("SELECT * FROM keys WHERE user_id = :u", {"u": user_id}))


class UserSessionRepository(BaseRepository[UserSession]):
    table = "user_sessions"
    model = UserSession

    async def find_by_token(self, token_hash: str) -> UserSession | None:
        return self._row(await self.db.fetch_one(
            "SELECT * FROM user_sessions WHERE refresh_token = :h", {"h": token_hash}))

    async def revoke_family(self, family_id: str, when: datetime) -> int:
        return await self.db.execute(
            "UPDATE user_sessions SET revoked_at = :t WHERE family_id = :f AND revoked_at IS NULL",
            {"t": when, "f": family_id})

    async def revoke_user(self, user_id: int, when: datetime) -> int:
        return await self.db.execute(
            "UPDATE user_sessions SET revoked_at = :t WHERE user_id = :u AND revoked_at IS NULL",
            {"t": when, "u": user_id})

    async def delete_expired(self, now: datetime) -> int:
        return await self.db.execute("DELETE FROM user_sessions WHERE expires_at < :now", {"now": now})
