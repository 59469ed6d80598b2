"""One set of secrets for a cluster: the same master key on every node (from the environment), a playback key
every node derives alike, one command that revokes every link everywhere, and a node with other secrets that
refuses to start with one line."""

from __future__ import annotations

import asyncio
import base64
import secrets
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from kdrama_tui.config import Settings, load_settings
from kdrama_tui.db import Database
from kdrama_tui.errors import ConfigError, Forbidden
from kdrama_tui.services.cluster.secrets import ClusterSecrets
from kdrama_tui.services.container import Services
from tests.support.auth import PASSWORD, cli, cli_env, make_user, running_services

MASTER = base64.b64encode(secrets.token_bytes(32)).decode()


def node_settings(tmp_path: Path, database_url: str, name: str, master: str | None = MASTER) -> Settings:
    """A node of its own data folder on the shared database; the master key from the environment."""
    env = {"KDRAMA_DATA_DIR": str(tmp_path / name), "KDRAMA_DATABASE_URL": database_url,
           "KDRAMA_SERVER_NODE_NAME": name, "KDRAMA_SECURITY_BCRYPT_ROUNDS": "4"}
    if master is not None:
        env["KDRAMA_SECURITY_MASTER_KEY"] = master
    return load_settings(env=env)


@asynccontextmanager
async def web_node(settings: Settings) -> AsyncIterator[Services]:
    async with running_services(settings) as svc:
        await svc.start_background(queue=False, ingest=False, schedules=False)
        yield svc


async def test_a_token_from_one_node_verifies_on_another_and_a_login_works_on_both(
        tmp_path: Path, database_url: str) -> None:
    async with web_node(node_settings(tmp_path, database_url, "a")) as a, \
            web_node(node_settings(tmp_path, database_url, "b")) as b:
        assert not (tmp_path / "a" / "master.key").exists()  # the key came from the environment
        token, _ = a.playback.tokens.issue(7)
        b.playback.tokens.verify(token, 7)
        with pytest.raises(Forbidden):
            b.playback.tokens.verify(token, 8)  # still bound to its video
        # Signing keys sealed by one node open on the other: a login on A, its access token checked on B.
        await make_user(a)
        pair = await a.tokens.login(PASSWORD, username="alice")
        assert (await b.tokens.authenticate_access_token(pair.access_token)).user.username == "alice"
        pair = await b.tokens.login(PASSWORD, username="alice")
        assert (await a.tokens.authenticate_access_token(pair.access_token)).user.username == "alice"


async def test_rotating_the_playback_key_with_one_command_revokes_links_on_every_node(
        tmp_path: Path, database_url: str) -> None:
    async with web_node(node_settings(tmp_path, database_url, "a")) as a, \
            web_node(node_settings(tmp_path, database_url, "b")) as b:
        old, _ = a.playback.tokens.issue(7)
        b.playback.tokens.verify(old, 7)  # remembered as verified on B
        env = cli_env(tmp_path / "cli", database_url, KDRAMA_SECURITY_MASTER_KEY=MASTER)
        rotated = await asyncio.to_thread(subprocess.run, cli("playback-key", "rotate"), env=env,
                                          capture_output=True, text=True, timeout=60)
        assert rotated.returncode == 0, rotated.stderr
        assert "every playback link issued before now stops working" in rotated.stdout
        started = time.monotonic()
        for node in (a, b):
            while True:
                try:
                    node.playback.tokens.verify(old, 7)
                except Forbidden:
                    break
                assert time.monotonic() - started < 2.5, "a node still accepts a revoked link"
                await asyncio.sleep(0.05)
        fresh, _ = b.playback.tokens.issue(7)
        a.playback.tokens.verify(fresh, 7)  # and both agree on the new key


async def test_a_node_with_another_master_key_refuses_to_start_in_one_line(tmp_path: Path, database_url: str) -> None:
    async with web_node(node_settings(tmp_path, database_url, "a")):
        pass  # the first node records the cluster's key
    # Node C was set up without the shared key: it generates its own master.key in its data folder.
    stray = node_settings(tmp_path, database_url, "c", master=None)
    async with running_services(stray) as c:
        with pytest.raises(ConfigError) as refused:
            await c.start_background(queue=False, ingest=False, schedules=False)
    message = str(refused.value)
    assert message.startswith("security.master_key_file: this node's master key is not the one the database")
    assert "\n" not in message
    # The same through `serve`: one line on stderr, no traceback.
    env = cli_env(tmp_path / "c", database_url)
    result = await asyncio.to_thread(subprocess.run, cli("serve"), env=env, capture_output=True, text=True,
                                     timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(
        "kdrama-tui: security.master_key_file: this node's master key is not")
    # With the cluster's key from the environment, the same data folder starts.
    async with web_node(node_settings(tmp_path, database_url, "c")):
        pass


async def test_nodes_starting_together_on_an_empty_database_agree_on_one_key(db: Database) -> None:
    one, two = ClusterSecrets(db, secrets.token_bytes(32)), ClusterSecrets(db, secrets.token_bytes(32))
    results = await asyncio.gather(one.record_master_key(), two.record_master_key(), return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["ConfigError", "NoneType"]
    salts = await asyncio.gather(*(one.playback_salt() for _ in range(4)), two.playback_salt())
    assert len(set(salts)) == 1


@pytest.mark.parametrize("value", ["not base64!", base64.b64encode(b"short").decode()])
async def test_a_bad_master_key_in_the_environment_is_one_clear_line(tmp_path: Path, database_url: str,
                                                                     value: str) -> None:
    with pytest.raises(ConfigError, match=r"^security\.master_key: the value must hold 32 random bytes"):
        async with running_services(node_settings(tmp_path, database_url, "a", master=value)):
            pass


def test_the_master_key_value_is_masked_in_the_settings_screen(tmp_path: Path) -> None:
    settings = load_settings(env={"KDRAMA_DATA_DIR": str(tmp_path), "KDRAMA_SECURITY_MASTER_KEY": MASTER})
    assert settings.effective()["security"]["master_key"] == "***"
