"""Password hashing with bcrypt.

bcrypt only reads the first 72 bytes of a password (and pyca/bcrypt >= 5 refuses longer input), so every
password is first reduced with HMAC-SHA256 and base64-encoded (44 bytes): the whole password counts, two
passwords that differ only after byte 72 do not both match, and NUL bytes cannot truncate the input.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import bcrypt

from kdrama_tui.errors import ValidationError

MIN_LENGTH = 8
MAX_LENGTH = 1024  # bounds the work a request can cause; far beyond any passphrase
_PEPPER_LABEL = b"kdrama-tui password v1"


def _prehash(password: str) -> bytes:
    digest = hmac.new(_PEPPER_LABEL, password.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest)


def validate_password(password: str) -> None:
    if not isinstance(password, str) or len(password) < MIN_LENGTH:
        raise ValidationError(f"password must be at least {MIN_LENGTH} characters", code="weak_password")
    if len(password) > MAX_LENGTH:
        raise ValidationError(f"password must be at most {MAX_LENGTH} characters", code="password_too_long")


def hash_password(password: str, rounds: int = 12) -> str:
    validate_password(password)
    return bcrypt.hashpw(_prehash(password), bcrypt.gensalt(rounds)).decode("ascii")


def verify_password(password: str, password_hash: str) -> bool:
    if not isinstance(password, str) or len(password) > MAX_LENGTH:
        return False
    try:
        return bcrypt.checkpw(_prehash(password), password_hash.encode("ascii"))
    except ValueError:
        return False


_dummy_hashes: dict[int, str] = {}


def dummy_hash(rounds: int = 12) -> str:
    """A real hash to check against when the user does not exist, so unknown users cost the same time."""
    if rounds not in _dummy_hashes:
        _dummy_hashes[rounds] = bcrypt.hashpw(_prehash("not-a-real-password"), bcrypt.gensalt(rounds)).decode()
    return _dummy_hashes[rounds]
