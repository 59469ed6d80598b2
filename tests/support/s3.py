"""A real S3-compatible server for tests: moto's standalone server on 127.0.0.1, one per test session.

Use the fixtures (re-exported by tests/conftest.py):

    async def test_x(s3_bucket: S3Bucket, settings: Settings) -> None:
        s3_bucket.configure(settings)             # settings.storage -> provider "s3" on this bucket
        storage = S3Storage(s3_bucket.config())   # or build_services(settings)
        ...
        s3_bucket.client.list_objects_v2(...)     # a plain boto3 client to look behind the app's back

- ``s3_server``: the session's server (``endpoint_url``, ``access_key``, ``secret_key``, ``region``,
  ``new_bucket()``). moto accepts any credentials here; presigned URLs work.
- ``s3_bucket``: a fresh, empty bucket for one test.
- ``s3_auth_server``: a second server that checks credentials (IAM), for wrong-credential tests; its valid
  key pair is ``access_key``/``secret_key``. Presigned URLs do not work on it (a moto limitation).
- ``CuttingProxy``: a TCP proxy in front of the server that cuts chosen connections after N bytes, to test
  retries of dropped connections.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import select
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config

from kdrama_tui.config import Settings
from kdrama_tui.storage.presets import S3Config

REGION = "us-east-1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MotoServer:
    """``python -m moto.server`` in a subprocess (its own GIL: the app's event loop is not slowed)."""

    def __init__(self, *, check_credentials: bool = False) -> None:
        self.check_credentials = check_credentials
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.access_key = "test-access-key"
        self.secret_key = "test-secret-key"
        self.region = REGION
        self._names = itertools.count(1)

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        for _ in range(5):
            self.port = _free_port()
            env = {**os.environ, "MOTO_PORT": str(self.port)}
            self.process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
            if self._wait_ready():
                break
            self.stop()
        else:
            raise RuntimeError("moto server did not start (python -m moto.server; is moto[server] installed?)")
        if self.check_credentials:
            self._enable_iam()
        return self

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.endpoint_url}/moto-api/data.json", timeout=2).ok:
                    return True
            time.sleep(0.1)
        return False

    def _enable_iam(self) -> None:
        """Create an IAM user allowed everything on S3, use its key pair, then turn authentication on."""
        iam = boto3.client("iam", endpoint_url=self.endpoint_url, region_name=REGION,
                           aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
        iam.create_user(UserName="kdrama")
        iam.put_user_policy(UserName="kdrama", PolicyName="s3-all", PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
        key = iam.create_access_key(UserName="kdrama")["AccessKey"]
        self.access_key, self.secret_key = key["AccessKeyId"], key["SecretAccessKey"]
        requests.post(f"{self.endpoint_url}/moto-api/reset-auth", data=b"0", timeout=10).raise_for_status()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
            self.process = None

    def client(self, endpoint_url: str | None = None) -> Any:
        """A plain boto3 S3 client (to set up or inspect state independently of the app's code)."""
        return boto3.client("s3", endpoint_url=endpoint_url or self.endpoint_url, region_name=self.region,
                            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
                            config=Config(s3={"addressing_style": "path"},
                                          request_checksum_calculation="when_required",
                                          response_checksum_validation="when_required"))

    def new_bucket(self) -> S3Bucket:
        name = f"kdrama-{next(self._names)}-{uuid.uuid4().hex[:8]}"
        self.client().create_bucket(Bucket=name)
        return S3Bucket(self, name)


@dataclass
class S3Bucket:
    server: MotoServer
    name: str

    @property
    def client(self) -> Any:
        return self.server.client()

    def config(self, provider: str = "s3", *, endpoint_url: str | None = None, part_size: int = 5 * 1024 * 1024,
               **overrides: Any) -> S3Config:
        """An S3Config for this bucket (the smallest legal part size by default, so tests stay small)."""
        values: dict[str, Any] = {
            "provider": provider, "bucket": self.name, "endpoint_url": endpoint_url or self.server.endpoint_url,
            "region": self.server.region, "access_key": self.server.access_key,
            "secret_key": self.server.secret_key, "addressing_style": "path", "multipart_chunk_size": part_size,
            "max_attempts": 3, "part_attempts": 3, "connect_timeout": 5.0, "read_timeout": 20.0,
        }
        values.update(overrides)
        return S3Config(**values)

    def configure(self, settings: Settings, provider: str = "s3") -> Settings:
        """Point ``settings.storage`` at this bucket (new files go there)."""
        storage = settings.storage
        storage.provider = provider
        storage.endpoint_url = self.server.endpoint_url
        storage.bucket = self.name
        storage.region = self.server.region
        storage.access_key = self.server.access_key
        storage.secret_key = self.server.secret_key
        storage.multipart_chunk_size = 5 * 1024 * 1024
        return settings

    def env(self, provider: str = "s3") -> dict[str, str]:
        """The same as environment variables, for subprocesses."""
        return {"KDRAMA_STORAGE_PROVIDER": provider, "KDRAMA_STORAGE_ENDPOINT_URL": self.server.endpoint_url,
                "KDRAMA_STORAGE_BUCKET": self.name, "KDRAMA_STORAGE_REGION": self.server.region,
                "KDRAMA_STORAGE_ACCESS_KEY": self.server.access_key,
                "KDRAMA_STORAGE_SECRET_KEY": self.server.secret_key,
                "KDRAMA_STORAGE_MULTIPART_CHUNK_SIZE": str(5 * 1024 * 1024)}

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def get(self, key: str) -> bytes:
        return bytes(self.client.get_object(Bucket=self.name, Key=key)["Body"].read())

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.name, Key=key, Body=data)

    def multipart_uploads(self) -> list[dict[str, Any]]:
        return list(self.client.list_multipart_uploads(Bucket=self.name).get("Uploads", []))


class CuttingProxy:
    """TCP proxy 127.0.0.1:port -> upstream that resets connections mid-transfer.

    The first ``times`` connections that carry more than ``after_bytes`` bytes in ``direction`` ("upload":
    client to server, i.e. in the middle of a request body; "download": server to client, in the middle of
    a response body) are reset (RST) at that byte; later ones pass untouched. moto answers each request on
    its own connection, so "the first connection that carries a big body" is the first big request.
    """

    def __init__(self, upstream_port: int, *, after_bytes: int, times: int = 1, direction: str = "upload") -> None:
        assert direction in ("upload", "download")
        self.upstream_port = upstream_port
        self.times = times
        self.after_bytes = after_bytes
        self.direction = direction
        self.connections = 0
        self.cuts = 0
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._stopped = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        """Copy both ways in one thread (so a reset is a real RST: no other thread holds the sockets)."""
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        watched = {client: upstream, upstream: client}
        limited = client if self.direction == "upload" else upstream
        sent = 0
        try:
            while True:
                readable, _, _ = select.select(list(watched), [], [], 60)
                if not readable:
                    return
                for source in readable:
                    data = source.recv(65536)
                    if not data:
                        return
                    target = watched[source]
                    if source is limited and sent + len(data) >= self.after_bytes and self._take_cut():
                        target.sendall(data[: max(0, self.after_bytes - sent)])
                        for s in (client, upstream):  # RST both ways, like a dropped link
                            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        return
                    target.sendall(data)
                    if source is limited:
                        sent += len(data)
        except OSError:
            pass
        finally:
            for s in (client, upstream):
                with contextlib.suppress(OSError):
                    s.close()

    def _take_cut(self) -> bool:
        with self._lock:
            if self.cuts >= self.times:
                return False
            self.cuts += 1
            return True

    def close(self) -> None:
        self._stopped = True
        with contextlib.suppress(OSError):
            self._listener.close()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[MotoServer]:
    server = MotoServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_auth_server() -> Iterator[MotoServer]:
    server = MotoServer(check_credentials=True).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_server: MotoServer) -> S3Bucket:
    return s3_server.new_bucket()
