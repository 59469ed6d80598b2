"""Authenticated, streamed encryption of backups (AES-256-GCM in numbered frames).

Layout::

    header  = MAGIC(8) | kdf(1)=1 | log2(N)(1) | r(1) | p(1) | salt(16) | nonce_prefix(7) | key_check(16)
    frame*  = flags_and_length(4, big-endian) | ciphertext+tag

- The key is derived from the passphrase (``backup.encryption_key``) with scrypt and a random salt per
  file, then split with HKDF into the AES key and a key-check key; only the salt is stored, never the key.
- ``key_check`` (an HMAC of the header) tells "wrong key" apart from "damaged file" before any frame.
- Each frame's nonce is ``nonce_prefix | frame number (4) | last flag (1)``, and the whole header is the
  associated data, so a frame that is moved, dropped, repeated or taken from another file fails to
  authenticate, and a stream that ends without its flagged last frame is reported as truncated (the
  STREAM construction of Hoang, Reyhanitabar, Rogaway and Vizár).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from kdrama_tui.errors import DomainError

MAGIC = b"KDBKENC1"
FRAME_PLAINTEXT = 1024 * 1024
_TAG = 16
_LAST = 0x80000000
_HEADER = struct.Struct(">8sBBBB16s7s16s")
HEADER_SIZE = _HEADER.size
_SCRYPT = (15, 8, 1)  # N = 2**15: ~32 MiB and ~0.1 s per backup, once


class BackupDecryptError(DomainError):
    code = "backup_damaged"
    status = 422


class WrongBackupKey(BackupDecryptError):
    code = "backup_wrong_key"


def _keys(passphrase: str, salt: bytes, log_n: int, r: int, p: int) -> tuple[bytes, bytes]:
    if not passphrase:
        raise DomainError("backup.encryption_key is not set", code="backup_key_missing", status=500)
    master = Scrypt(salt=salt, length=32, n=2**log_n, r=r, p=p).derive(passphrase.encode())

    def expand(info: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)

    return expand(b"kdrama-tui backup aes-gcm"), expand(b"kdrama-tui backup key check")


def is_encrypted(head: bytes) -> bool:
    return head.startswith(MAGIC)


class StreamEncryptor:
    """Feed plaintext with :meth:`update`, end with :meth:`finalize`; both return bytes to write."""

    def __init__(self, passphrase: str) -> None:
        log_n, r, p = _SCRYPT
        salt, self._prefix = os.urandom(16), os.urandom(7)
        key, check_key = _keys(passphrase, salt, log_n, r, p)
        unsigned = _HEADER.pack(MAGIC, 1, log_n, r, p, salt, self._prefix, b"\0" * 16)
        check = hmac.new(check_key, unsigned[:-16], hashlib.sha256).digest()[:16]
        self.header = unsigned[:-16] + check
        self._aead = AESGCM(key)
        self._counter = 0
        self._pending = bytearray()
        self._started = False
        self._done = False

    def _frame(self, plaintext: bytes, last: bool) -> bytes:
        nonce = self._prefix + struct.pack(">IB", self._counter, 1 if last else 0)
        self._counter += 1
        if self._counter >= 2**31:
            raise ValueError("backup too large for one stream")
        sealed = self._aead.encrypt(nonce, plaintext, self.header)
        return struct.pack(">I", len(sealed) | (_LAST if last else 0)) + sealed

    def _start(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        return self.header

    def update(self, data: bytes) -> bytes:
        assert not self._done
        self._pending += data
        out = [self._start()]
        # Keep at least one byte back so the last frame (which may be short) is always the flagged one.
        while len(self._pending) > FRAME_PLAINTEXT:
            out.append(self._frame(bytes(self._pending[:FRAME_PLAINTEXT]), last=False))
            del self._pending[:FRAME_PLAINTEXT]
        return b"".join(out)

    def finalize(self) -> bytes:
        self._done = True
        out = self._start() + self._frame(bytes(self._pending), last=True)
        self._pending.clear()
        return out


class StreamDecryptor:
    """Feed ciphertext with :meth:`update` (any split), get plaintext; :meth:`finalize` checks the end."""

    def __init__(self, passphrase: str) -> None:
        self._passphrase = passphrase
        self._buffer = bytearray()
        self._aead: AESGCM | None = None
        self._header = b""
        self._prefix = b""
        self._counter = 0
        self._finished = False

    def _read_header(self) -> None:
        if len(self._buffer) < HEADER_SIZE:
            return
        header = bytes(self._buffer[:HEADER_SIZE])
        magic, kdf, log_n, r, p, salt, prefix, check = _HEADER.unpack(header)
        if magic != MAGIC:
            raise BackupDecryptError("not an encrypted kdrama-tui backup (bad magic)")
        if kdf != 1 or not (10 <= log_n <= 22) or not (1 <= r <= 32) or not (1 <= p <= 16):
            raise BackupDecryptError("the backup's header is damaged (unknown key derivation parameters)")
        key, check_key = _keys(self._passphrase, salt, log_n, r, p)
        expected = hmac.new(check_key, header[:-16], hashlib.sha256).digest()[:16]
        if not hmac.compare_digest(expected, check):
            raise WrongBackupKey("the backup cannot be decrypted with backup.encryption_key "
                                 "(wrong key, or a damaged header)")
        self._aead, self._header, self._prefix = AESGCM(key), header, prefix
        del self._buffer[:HEADER_SIZE]

    def update(self, data: bytes) -> bytes:
        self._buffer += data
        if self._aead is None:
            self._read_header()
            if self._aead is None:
                return b""
        out = []
        while len(self._buffer) >= 4:
            if self._finished:
                raise BackupDecryptError("the backup has data after its last frame (damaged or tampered)")
            (word,) = struct.unpack(">I", self._buffer[:4])
            last, length = bool(word & _LAST), word & ~_LAST
            if not _TAG <= length <= FRAME_PLAINTEXT + _TAG:
                raise BackupDecryptError(f"the backup is damaged (impossible frame length at frame {self._counter})")
            if len(self._buffer) < 4 + length:
                break
            sealed = bytes(self._buffer[4:4 + length])
            del self._buffer[:4 + length]
            nonce = self._prefix + struct.pack(">IB", self._counter, 1 if last else 0)
            try:
                out.append(self._aead.decrypt(nonce, sealed, self._header))
            except InvalidTag:
                raise BackupDecryptError(f"the backup is damaged or was tampered with (frame {self._counter} "
                                         "fails authentication)") from None
            self._counter += 1
            self._finished = last
        return b"".join(out)

    def finalize(self) -> None:
        if self._aead is None:
            raise BackupDecryptError("the backup is truncated (incomplete header)")
        if self._buffer:
            if self._finished:
                raise BackupDecryptError("the backup has data after its last frame (damaged or tampered)")
            raise BackupDecryptError("the backup is truncated (a frame is cut short)")
        if not self._finished:
            raise BackupDecryptError("the backup is truncated (its last frame is missing)")
