"""Signed, short-lived playback tokens for private videos.

A token is ``<expiry>.<mac>``: the expiry in Unix seconds and a truncated HMAC-SHA256 (128 bits) over the
video id and that expiry, keyed with the cluster's playback key (derived from the master key and a salt in
the database, ``services/cluster/secrets.py``, so every node verifies every other node's tokens). It is not
a session token: it opens one video's files until it expires, and nothing else. Rotating the key
(``kdrama-tui playback-key rotate``) revokes every token at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from kdrama_tui.errors import Forbidden, Unauthorized

_CONTEXT = b"kdrama-tui playback v1"
_MAC_BYTES = 16
MAX_TOKEN_LENGTH = 64
_VERIFIED_CACHE = 10_000


class PlaybackTokens:
    def __init__(self, secret: bytes, lifetime_seconds: float) -> None:
        if len(secret) < 32:
            raise ValueError("playback secret must be at least 32 bytes")
        self._secret = secret
        self.lifetime_seconds = lifetime_seconds
        self._verified: dict[str, tuple[int, int]] = {}

    def _mac(self, video_id: int, expires: int) -> str:
        message = b"%s|%d|%d" % (_CONTEXT, video_id, expires)
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()[:_MAC_BYTES]
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def issue(self, video_id: int, now: float | None = None) -> tuple[str, int]:
        """A token for ``video_id`` and its expiry (Unix seconds)."""
        expires = int((time.time() if now is None else now) + self.lifetime_seconds)
        return f"{expires}.{self._mac(video_id, expires)}", expires

    def verify(self, token: str | None, video_id: int, now: float | None = None) -> None:
        """Raise 401 when there is no token, 403 when it is malformed, forged, for another video or expired."""
        if not token:
            raise Unauthorized("this video is private: a playback token is required", code="playback_token_required")
        # A player presents the same token for every segment: remember good ones (the MAC is the costly part).
        known = self._verified.get(token)
        if known is not None and known[0] == video_id:
            if known[1] <= (time.time() if now is None else now):
                raise Forbidden("this playback token has expired", code="playback_token_expired")
            return
        self._check(token, video_id, now)

    def _check(self, token: str, video_id: int, now: float | None) -> None:
        expires_text, dot, mac = token.partition(".")
        if not dot or len(token) > MAX_TOKEN_LENGTH or not expires_text.isascii() or not expires_text.isdigit():
            raise Forbidden("invalid playback token", code="invalid_playback_token")
        expires = int(expires_text)
        if not hmac.compare_digest(mac.encode("ascii", "replace"), self._mac(video_id, expires).encode("ascii")):
            raise Forbidden("invalid playback token", code="invalid_playback_token")
        if expires <= (time.time() if now is None else now):
            raise Forbidden("this playback token has expired", code="playback_token_expired")
        if len(self._verified) >= _VERIFIED_CACHE:
            self._verified.clear()
        self._verified[token] = (video_id, expires)


def token_fingerprint(token: str) -> str:
    """A short, one-way name for a token (ETags), so the token itself never appears in a header."""
    return hashlib.blake2s(token.encode("utf-8", "replace"), digest_size=6, key=b"etag").hexdigest()

