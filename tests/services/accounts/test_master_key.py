"""The master key file and the sealing of private keys (no database needed)."""

from __future__ import annotations

import base64
import os
import stat
import threading
from pathlib import Path

import pytest

from kdrama_tui.errors import ConfigError
from kdrama_tui.services.accounts.master_key import (
    KeyIntegrityError,
    load_or_create_master_key,
    open_private_key,
    seal_private_key,
)

PEM = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n"


def test_master_key_is_generated_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "master.key"
    key = load_or_create_master_key(path, create=True)
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert base64.b64decode(path.read_text().strip()) == key
    assert load_or_create_master_key(path, create=True) == key  # never regenerated
    assert [p.name for p in path.parent.iterdir()] == ["master.key"]  # no temp file left behind


def test_concurrent_first_starts_agree_on_one_key(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    results: list[bytes] = []
    barrier = threading.Barrier(8)

    def start() -> None:
        barrier.wait()
        results.append(load_or_create_master_key(path, create=True))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1 and results[0] == base64.b64decode(path.read_text())


def test_a_configured_key_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^security\.master_key_file: .*does not exist"):
        load_or_create_master_key(tmp_path / "missing.key", create=False)
    assert not (tmp_path / "missing.key").exists()


@pytest.mark.parametrize("content", [b"", b"short\n", b"not base64 at all!!!\n",
                                     base64.b64encode(bytes(range(16))), base64.b64encode(bytes(range(33)))],
                         ids=["empty", "short", "not-base64", "16-bytes", "33-bytes"])
def test_a_malformed_key_file_is_one_clear_line(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "master.key"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as caught:
        load_or_create_master_key(path, create=True)
    message = str(caught.value)
    assert message.startswith("security.master_key_file: ") and "\n" not in message
    assert path.read_bytes() == content  # never overwritten


def test_an_existing_key_from_openssl_is_used(tmp_path: Path) -> None:
    raw = os.urandom(32)
    path = tmp_path / "k"
    path.write_text(base64.b64encode(raw).decode() + "\n")
    path.chmod(0o600)
    assert load_or_create_master_key(path, create=False) == raw


def test_seal_and_open_round_trip_with_binding() -> None:
    master, secret = os.urandom(32), os.urandom(32)
    blob = seal_private_key(master, 7, PEM, secret)
    assert blob.startswith("v1.") and secret.hex() not in blob
    assert seal_private_key(master, 7, PEM, secret) != blob  # fresh nonce each time
    assert open_private_key(master, 7, PEM, blob) == secret
    with pytest.raises(KeyIntegrityError):
        open_private_key(master, 8, PEM, blob)  # moved to another user
    with pytest.raises(KeyIntegrityError):
        open_private_key(master, 7, PEM.replace("MCow", "MCox"), blob)  # paired with another public key
    with pytest.raises(KeyIntegrityError):
        open_private_key(os.urandom(32), 7, PEM, blob)  # wrong master key


def test_every_single_byte_flip_is_detected() -> None:
    master = os.urandom(32)
    blob = seal_private_key(master, 1, PEM, os.urandom(32))
    raw = bytearray(base64.urlsafe_b64decode(blob[3:]))
    for i in range(len(raw)):
        flipped = bytearray(raw)
        flipped[i] ^= 0x01
        with pytest.raises(KeyIntegrityError):
            open_private_key(master, 1, PEM, "v1." + base64.urlsafe_b64encode(bytes(flipped)).decode())


@pytest.mark.parametrize("blob", ["", "v1.", "v2.AAAA", "v1.!!!", "v1.AAAA", "plain text", "v1.é"])
def test_malformed_blobs_fail_the_same_way(blob: str) -> None:
    with pytest.raises(KeyIntegrityError):
        open_private_key(os.urandom(32), 1, PEM, blob)
