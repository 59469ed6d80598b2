"""The encrypted backup stream: round trip, and every way a file can be cut, shuffled or tampered with."""

from __future__ import annotations

import os
import struct

import pytest

from kdrama_tui.services.backup.crypto import (
    FRAME_PLAINTEXT,
    HEADER_SIZE,
    BackupDecryptError,
    StreamDecryptor,
    StreamEncryptor,
    WrongBackupKey,
)

KEY = "correct horse battery staple"


def encrypt(data: bytes, key: str = KEY, pieces: int = 3) -> bytes:
    enc = StreamEncryptor(key)
    step = max(1, len(data) // pieces)
    out = [enc.update(data[i:i + step]) for i in range(0, len(data), step)]
    return b"".join(out) + enc.finalize()


def decrypt(blob: bytes, key: str = KEY, split: int = 100_003) -> bytes:
    dec = StreamDecryptor(key)
    out = [dec.update(blob[i:i + split]) for i in range(0, len(blob), split)]
    dec.finalize()
    return b"".join(out)


def frames(blob: bytes) -> list[tuple[int, int]]:
    """(offset, total length) of each frame after the header."""
    out, pos = [], HEADER_SIZE
    while pos < len(blob):
        (word,) = struct.unpack(">I", blob[pos:pos + 4])
        length = word & 0x7FFFFFFF
        out.append((pos, 4 + length))
        pos += 4 + length
    return out


@pytest.mark.parametrize("size", [0, 1, FRAME_PLAINTEXT - 1, FRAME_PLAINTEXT, FRAME_PLAINTEXT + 1,
                                  3 * FRAME_PLAINTEXT + 12345])
def test_round_trip(size: int) -> None:
    data = os.urandom(size)
    blob = encrypt(data)
    # Plaintext must not show through; a run of at least 16 bytes cannot match ciphertext by chance (a single
    # byte would, about once in three runs).
    assert KEY.encode() not in blob and (len(data) < 16 or data[:64] not in blob)
    assert decrypt(blob) == data
    assert decrypt(blob, split=1 if size < 5000 else 4096) == data  # any split of the input works


def test_each_file_has_its_own_salt_and_nonces() -> None:
    assert encrypt(b"same") != encrypt(b"same")


def test_wrong_key_is_named_as_such() -> None:
    blob = encrypt(os.urandom(5000))
    with pytest.raises(WrongBackupKey, match="encryption_key"):
        decrypt(blob, key="another passphrase entirely")


def test_truncation_anywhere_is_detected() -> None:
    data = os.urandom(3 * FRAME_PLAINTEXT + 500)
    blob = encrypt(data)
    cuts = {0, 5, HEADER_SIZE - 1, HEADER_SIZE, HEADER_SIZE + 2, len(blob) - 1, len(blob) - 17}
    cuts |= {offset for offset, _ in frames(blob)}  # exactly at a frame boundary: a whole frame dropped
    for cut in sorted(cuts):
        with pytest.raises(BackupDecryptError, match=r"truncated|damaged"):
            decrypt(blob[:cut])


def test_reordered_dropped_or_repeated_frames_are_detected() -> None:
    blob = encrypt(os.urandom(4 * FRAME_PLAINTEXT + 7))
    header, parts = blob[:HEADER_SIZE], [blob[o:o + n] for o, n in frames(blob)]
    assert len(parts) == 5
    for shuffled in ([parts[1], parts[0], *parts[2:]],  # swapped
                     [parts[0], *parts[2:]],  # one dropped in the middle
                     [parts[0], parts[0], *parts[1:]],  # one repeated
                     [*parts[:-1], parts[-2]]):  # last frame replaced by a non-last one
        with pytest.raises(BackupDecryptError):
            decrypt(header + b"".join(shuffled))


def test_frames_cannot_be_spliced_from_another_backup() -> None:
    one, two = encrypt(os.urandom(2 * FRAME_PLAINTEXT)), encrypt(os.urandom(2 * FRAME_PLAINTEXT))
    (o, n) = frames(two)[0]
    spliced = one[:HEADER_SIZE] + two[o:o + n] + one[frames(one)[1][0]:]
    with pytest.raises(BackupDecryptError, match="authentication"):
        decrypt(spliced)


def test_flipped_bits_and_trailing_garbage_are_detected() -> None:
    blob = encrypt(os.urandom(2 * FRAME_PLAINTEXT + 10))
    for position in (3, 20, HEADER_SIZE - 20, HEADER_SIZE + 1, HEADER_SIZE + 100, len(blob) // 2, len(blob) - 1):
        damaged = bytearray(blob)
        damaged[position] ^= 0x01
        with pytest.raises(BackupDecryptError):
            decrypt(bytes(damaged))
    with pytest.raises(BackupDecryptError, match="after its last frame"):
        decrypt(blob + b"\x00\x00\x00\x10" + b"x" * 16)
    with pytest.raises(BackupDecryptError):
        decrypt(blob + b"zz")
