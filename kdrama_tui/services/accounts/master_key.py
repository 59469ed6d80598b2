"""The master key and the authenticated encryption of signing keys at rest.

The master key is 32 random bytes, kept base64-encoded outside the database so a database dump or a backup
alone cannot sign tokens: in ``security.master_key`` (meant for the environment,
``KDRAMA_SECURITY_MASTER_KEY``, e.g. from a service manager's environment file: the way every node of a
cluster gets the same key), else in one file (``security.master_key_file``, else ``<data_dir>/master.key``,
created on first start with mode 0600).

Private keys are sealed with AES-256-GCM. The associated data binds a blob to its user id and to the public
key it belongs to: a blob copied to another user's row, or paired with another public key, fails to open
exactly like a flipped byte or a wrong master key does, with :class:`KeyIntegrityError`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import os
import secrets
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kdrama_tui.config import Settings
from kdrama_tui.errors import ConfigError, DomainError
from kdrama_tui.fsutil import fsync_dir, temp_path_for

log = logging.getLogger(__name__)

MASTER_KEY_BYTES = 32
_NONCE_BYTES = 12
_BLOB_VERSION = "v1"
_AAD_LABEL = b"kdrama-tui signing key v1"


class KeyIntegrityError(DomainError):
    """A sealed private key could not be opened: tampered, moved, or a different master key.

    The server cannot sign anything for that user until an operator restores the right master key or
    rotates the key pair, so this is a server fault (500), logged loudly where it is raised.
    """

    code = "signing_key_unreadable"
    status = 500


def master_key_setting(settings: Settings) -> str:
    """The setting the master key comes from, for messages."""
    return "security.master_key" if settings.security.master_key else "security.master_key_file"


def load_master_key(settings: Settings) -> bytes:
    """The master key ``settings`` name: the value of ``security.master_key``, else the key file (created
    under the data folder when no file is configured)."""
    if settings.security.master_key:
        return decode_master_key(settings.security.master_key, "security.master_key", "the value")
    return load_or_create_master_key(settings.master_key_path, create=not settings.security.master_key_file)


def decode_master_key(text: str | bytes, setting: str, what: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != MASTER_KEY_BYTES:
        raise ConfigError(f"{setting}: {what} must hold {MASTER_KEY_BYTES} random bytes in base64 "
                          "(e.g. from `openssl rand -base64 32`)")
    return key


def load_or_create_master_key(path: Path, *, create: bool) -> bytes:
    """Read the master key at ``path``; when it is missing and ``create`` is true, generate it atomically.

    Creation never replaces an existing file: the new key is written to a temp file and hard-linked into
    place, so two processes starting at once end up sharing whichever key was linked first.
    """
    setting = "security.master_key_file"
    try:
        return _read_master_key(path)
    except FileNotFoundError:
        if not create:
            raise ConfigError(f"{setting}: {path} does not exist") from None
    key = secrets.token_bytes(MASTER_KEY_BYTES)
    try:
        _create_exclusive(path, base64.b64encode(key) + b"\n")
    except FileExistsError:
        return _read_master_key(path)  # another process created it first: use theirs
    except OSError as exc:
        raise ConfigError(f"{setting}: cannot create {path}: {exc.strerror or exc}") from None
    log.info("generated a new master key in %s; back it up apart from the database", path)
    return key


def _read_master_key(path: Path) -> bytes:
    setting = "security.master_key_file"
    try:
        info = path.stat()
        text = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ConfigError(f"{setting}: cannot read {path}: {exc.strerror or exc}") from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("master key %s is readable by other users (mode %o); chmod 600 it", path,
                    stat.S_IMODE(info.st_mode))
    return decode_master_key(text, setting, str(path))


def _create_exclusive(target: Path, data: bytes) -> None:
    """Write ``data`` durably to ``target`` with mode 0600, failing with FileExistsError if it exists."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(target)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, target)  # unlike rename, link refuses to replace an existing file
        fsync_dir(target.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _associated_data(user_id: int, public_key_pem: str) -> bytes:
    return b"\0".join([_AAD_LABEL, str(int(user_id)).encode(), public_key_pem.encode("utf-8")])


def seal_private_key(master_key: bytes, user_id: int, public_key_pem: str, private_bytes: bytes) -> str:
    """Encrypt a raw private key for storage: ``v1.<base64url(nonce | ciphertext | tag)>``."""
    nonce = secrets.token_bytes(_NONCE_BYTES)
    sealed = AESGCM(master_key).encrypt(nonce, private_bytes, _associated_data(user_id, public_key_pem))
    return f"{_BLOB_VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"


def open_private_key(master_key: bytes, user_id: int, public_key_pem: str, blob: str) -> bytes:
    """Decrypt and authenticate a blob from :func:`seal_private_key`; raise KeyIntegrityError otherwise."""
    version, _, payload = (blob or "").partition(".")
    if version != _BLOB_VERSION:
        raise KeyIntegrityError("the stored signing key has an unknown format")
    try:
        raw = base64.urlsafe_b64decode(payload.encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise KeyIntegrityError("the stored signing key is not valid base64") from None
    if len(raw) <= _NONCE_BYTES + 16:
        raise KeyIntegrityError("the stored signing key is truncated")
    nonce, sealed = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
    try:
        return AESGCM(master_key).decrypt(nonce, sealed, _associated_data(user_id, public_key_pem))
    except InvalidTag:
        raise KeyIntegrityError("the stored signing key failed authentication "
                                "(tampered, moved, or encrypted under another master key)") from None
