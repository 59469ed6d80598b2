"""Per-user Ed25519 key pairs that sign access tokens (the design's ``keys`` table, one row per user).

A pair is created the first time a user needs a token, and replaced when it is deactivated, about to expire
(less than one access-token lifetime left, so no token outlives its key), or rotated on purpose. Because
the table keeps one pair per user (``UNIQUE(user_id)``), replacing a pair ends every access token it
signed at once; clients then refresh, which is also how a rotation logs out stolen access tokens.

The row id is the JWT ``kid``: the verifier takes the public key from that row and requires the token's
``sub`` to be the row's user, so a valid key of user A can never vouch for user B.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import lru_cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from kdrama_tui.db import Database
from kdrama_tui.errors import ConfigError, UniqueViolation
from kdrama_tui.events import EventBus
from kdrama_tui.models import KeyPair, User, utcnow
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.accounts.master_key import KeyIntegrityError, open_private_key, seal_private_key

log = logging.getLogger(__name__)

ALGORITHM = "EdDSA"
ALLOWED_ALGORITHMS = frozenset({ALGORITHM})


@lru_cache(maxsize=4096)
def public_key_from_pem(pem: str) -> Ed25519PublicKey:
    """Parsed once per key: every authenticated request verifies with one."""
    key = serialization.load_pem_public_key(pem.encode("ascii"))
    if not isinstance(key, Ed25519PublicKey):
        raise KeyIntegrityError("a stored public key is not an Ed25519 key")
    return key


class SigningKeys:
    def __init__(self, db: Database, events: EventBus, master_key: bytes, lifetime: timedelta,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.events = events
        self._master_key = master_key
        self.lifetime = lifetime
        self.clock = clock

    def usable(self, key: KeyPair | None, min_remaining: timedelta = timedelta(0)) -> bool:
        if key is None or not key.is_active or key.algorithm not in ALLOWED_ALGORITHMS:
            return False
        return key.expires_at is None or key.expires_at - self.clock() > min_remaining

    async def for_signing(self, user_id: int, min_remaining: timedelta) -> tuple[KeyPair, Ed25519PrivateKey]:
        """The user's current pair and its private key, replacing the pair first if it cannot be used."""
        key = await repos_of(self.db).keys.find_by_user(user_id)
        if not self.usable(key, min_remaining):
            key = await self._replace(user_id, stale=key, min_remaining=min_remaining)
        return key, self.private_key(key)

    async def rotate(self, user_id: int) -> KeyPair:
        """Replace a user's pair now (every access token it signed stops working)."""
        await repos_of(self.db).users.get(user_id)
        stale = await repos_of(self.db).keys.find_by_user(user_id)
        return await self._replace(user_id, stale=stale, min_remaining=None)

    async def rotate_all(self) -> int:
        """Replace every stored pair; the way out after losing the master key. Returns how many."""
        user_ids = [key.user_id for key in await repos_of(self.db).keys.list(order_by="id")]
        for user_id in user_ids:
            await self.rotate(user_id)
        return len(user_ids)

    async def _replace(self, user_id: int, *, stale: KeyPair | None,
                       min_remaining: timedelta | None) -> KeyPair:
        private = Ed25519PrivateKey.generate()
        public_pem = private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")
        raw = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                    serialization.NoEncryption())
        now = self.clock()
        row = {"user_id": user_id, "public_key": public_pem, "algorithm": ALGORITHM, "is_active": True,
               "private_key": seal_private_key(self._master_key, user_id, public_pem, raw),
               "created_at": now, "expires_at": now + self.lifetime}
        try:
            async with self.db.transaction() as tx:
                current = await repos_of(tx).keys.find_by_user(user_id)
                if current is not None and (stale is None or current.id != stale.id) \
                        and min_remaining is not None and self.usable(current, min_remaining):
                    return current  # a concurrent request replaced it already
                if current is not None:
                    # Delete exactly the row seen: under READ COMMITTED a broader delete could remove a pair
                    # that a concurrent request has just committed and already signed with.
                    await repos_of(tx).keys.delete(current.id)
                created: KeyPair = await repos_of(tx).keys.create(row)
        except UniqueViolation:
            # A concurrent request inserted a pair after we looked: use theirs.
            current = await repos_of(self.db).keys.find_by_user(user_id)
            if current is None:
                raise
            return current
        self.events.publish("user.signing_key_rotated", user_id=user_id, key_id=created.id,
                            replaced_key_id=stale.id if stale else None)
        return created

    def private_key(self, key: KeyPair) -> Ed25519PrivateKey:
        try:
            raw = open_private_key(self._master_key, key.user_id, key.public_key, key.private_key)
            return Ed25519PrivateKey.from_private_bytes(raw)
        except (KeyIntegrityError, ValueError) as exc:
            log.error("signing key %d of user %d cannot be used (%s); nothing was signed. Restore the master key "
                      "or run `kdrama-tui signing-key rotate`", key.id, key.user_id, exc)
            raise KeyIntegrityError("the server cannot sign tokens for this account right now; "
                                    "the error is in the server log") from None

    async def verification_key(self, key_id: int) -> tuple[KeyPair, User] | None:
        """The pair a token's ``kid`` names and its owner, if the pair may verify tokens now."""
        found = await repos_of(self.db).keys.find_with_user(key_id)
        if found is None or not self.usable(found[0]):
            return None
        return found

    async def check_master_key(self) -> None:
        """Refuse to serve when the master key cannot open the stored pairs (a lost or swapped key file)."""
        sample = await repos_of(self.db).keys.list(order_by="id DESC", limit=1)
        if not sample:
            return
        try:
            open_private_key(self._master_key, sample[0].user_id, sample[0].public_key, sample[0].private_key)
        except KeyIntegrityError:
            raise ConfigError("security.master_key_file: this master key does not open the stored signing keys; "
                              "restore the original key file, or run `kdrama-tui signing-key rotate --all` "
                              "(every user then logs in again)") from None
