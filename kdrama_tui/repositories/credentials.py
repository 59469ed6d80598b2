"""API keys, signing key pairs and refresh-token sessions."""

from __future__ import annotations

from datetime import datetime

from kdrama_tui.models import ApiKey, KeyPair, User, UserSession
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


_KEY_COLUMNS = ("id", "user_id", "public_key", "private_key", "is_active", "created_at", "expires_at", "algorithm")


class KeyPairRepository(BaseRepository[KeyPair]):
    table = "keys"
    model = KeyPair

    async def find_by_user(self, user_id: int) -> KeyPair | None:
        return self._row(await self.db.fetch_one("SELECT * FROM keys WHERE user_id = :u", {"u": user_id}))

    async def find_with_user(self, key_id: int) -> tuple[KeyPair, User] | None:
        """A key and its owner in one query (every authenticated request verifies a token with it)."""
        key_columns = ", ".join(f"k.{c} AS k_{c}" for c in _KEY_COLUMNS)
        row = await self.db.fetch_one(
            f"SELECT {key_columns}, u.* FROM keys k JOIN users u ON u.id = k.user_id WHERE k.id = :id",
            {"id": key_id})
        if row is None:
            return None
        key = KeyPair.from_row({c: row[f"k_{c}"] for c in _KEY_COLUMNS})
        return key, User.from_row(row)

    async def deactivate_user(self, user_id: int) -> int:
        """Retire a user's key pair: every access token it signed stops verifying at once."""
        return await self.db.execute("UPDATE keys SET is_active = :f WHERE user_id = :u AND is_active = :t",
                                     {"f": False, "t": True, "u": user_id})


class UserSessionRepository(BaseRepository[UserSession]):
    table = "user_sessions"
    model = UserSession

    async def find_by_token(self, token_hash: str) -> UserSession | None:
        return self._row(await self.db.fetch_one(
            "SELECT * FROM user_sessions WHERE refresh_token = :h", {"h": token_hash}))

    async def claim(self, session_id: int, when: datetime) -> bool:
        """Retire a live session for rotation; False if it was already replaced or revoked.

        The row is revoked as it is claimed (and later points at its replacement), so it can never come
        back to life, even when its replacement row is deleted and ``replaced_by_id`` falls back to NULL.

        The condition is re-checked by the UPDATE itself, so of two transactions racing on one row (the
        second waits for the first's row lock on PostgreSQL; SQLite serialises writers) exactly one wins.
        """
        changed = await self.db.execute(
            "UPDATE user_sessions SET last_used_at = :t, revoked_at = :t "
            "WHERE id = :id AND replaced_by_id IS NULL AND revoked_at IS NULL", {"t": when, "id": session_id})
        return changed == 1

    async def mark_replaced(self, session_id: int, replaced_by_id: int) -> None:
        await self.db.execute("UPDATE user_sessions SET replaced_by_id = :r WHERE id = :id",
                              {"r": replaced_by_id, "id": session_id})

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
