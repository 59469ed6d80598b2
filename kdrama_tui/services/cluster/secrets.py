"""The secrets every node of a cluster must agree on, checked against the shared database.

The master key never enters the database (a dump must not sign anything); what the database keeps is an HMAC
of a fixed label under it (``master_key_check``), so a node started with another key refuses to start with
one line instead of sealing signing keys no other node can open. The playback-token key is derived from the
master key and a random salt kept in the database (``playback_salt``): every node with the same master key
computes the same key, a token from one node verifies on all of them, and replacing the salt (one command)
revokes every playback link everywhere. Rows are written first-writer-wins (migration 0013).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets

from kdrama_tui.db import Database
from kdrama_tui.errors import ConfigError
from kdrama_tui.repositories import repos_of

log = logging.getLogger(__name__)

MASTER_KEY_CHECK = "master_key_check"
PLAYBACK_SALT = "playback_salt"
_CHECK_LABEL = b"kdrama-tui master key check v1"
_PLAYBACK_LABEL = b"kdrama-tui playback key v1|"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def master_key_check(master_key: bytes) -> str:
    return _b64(hmac.new(master_key, _CHECK_LABEL, hashlib.sha256).digest())


def playback_key(master_key: bytes, salt: str) -> bytes:
    return hmac.new(master_key, _PLAYBACK_LABEL + salt.encode("ascii"), hashlib.sha256).digest()


class ClusterSecrets:
    def __init__(self, db: Database, master_key: bytes, setting: str = "security.master_key_file") -> None:
        self.db = db
        self._master_key = master_key
        self.setting = setting  # where this node's master key came from, for the refusal

    def _mismatch(self) -> ConfigError:
        return ConfigError(
            f"{self.setting}: this node's master key is not the one the database was set up with (another "
            "node's own generated key, or a lost key file); give every node the same key "
            "(security.master_key_file or KDRAMA_SECURITY_MASTER_KEY), or run `kdrama-tui signing-key rotate "
            "--all` (every user then logs in again)")

    async def master_key_matches(self) -> bool | None:
        """True/False when the database knows the cluster's master key, None before any node recorded it."""
        stored = await repos_of(self.db).cluster_secrets.get(MASTER_KEY_CHECK)
        return None if stored is None else hmac.compare_digest(stored, master_key_check(self._master_key))

    async def check_master_key(self) -> None:
        """Refuse (ConfigError, one line) when another master key is recorded."""
        if await self.master_key_matches() is False:
            raise self._mismatch()

    async def record_master_key(self) -> None:
        """Make this node's key the cluster's unless one is recorded; a node that lost the race to another
        node starting with a different key is refused like a late one."""
        stored = await repos_of(self.db).cluster_secrets.first(MASTER_KEY_CHECK, master_key_check(self._master_key))
        if not hmac.compare_digest(stored, master_key_check(self._master_key)):
            raise self._mismatch()

    async def adopt_master_key(self) -> None:
        """Record this node's key as the cluster's (after ``signing-key rotate --all`` re-sealed everything)."""
        await repos_of(self.db).cluster_secrets.put(MASTER_KEY_CHECK, master_key_check(self._master_key))

    async def playback_salt(self) -> str:
        """The cluster's playback salt, created by whichever node asks first."""
        return await repos_of(self.db).cluster_secrets.first(PLAYBACK_SALT, _b64(secrets.token_bytes(16)))

    async def playback_key(self, salt: str | None = None) -> bytes:
        return playback_key(self._master_key, salt if salt is not None else await self.playback_salt())

    async def rotate_playback_key(self) -> str:
        """A new salt: every playback token issued so far, by any node, stops verifying. Returns the salt."""
        salt = _b64(secrets.token_bytes(16))
        await repos_of(self.db).cluster_secrets.put(PLAYBACK_SALT, salt)
        log.warning("playback key rotated: every playback link issued before now is revoked")
        return salt
