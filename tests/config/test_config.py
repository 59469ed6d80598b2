"""Settings: defaults, file and environment overlays, one-line errors, and the documented defaults file."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import subprocess
from pathlib import Path

import pytest

from kdrama_tui.config import SECTIONS, ConfigError, Settings, describe_defaults, load_settings
from tests.support.auth import REPO_ROOT, cli

DEFAULT_TOML = REPO_ROOT / "config" / "default.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "kdrama.toml"
    path.write_text(text)
    return path


def test_defaults_load_without_file_or_environment() -> None:
    settings = load_settings(env={})
    assert (settings.server.host, settings.server.port) == ("127.0.0.1", 8080)
    assert settings.data_dir == Path("data")
    assert settings.database_url == "sqlite:///data/kdrama.db"
    assert settings.master_key_path == Path("data/master.key")
    assert settings.storage.provider == "local" and settings.media_root == Path("data/media")
    assert settings.security.access_token_minutes == 15 and settings.security.refresh_token_days == 30
    assert settings.security.login_max_failures == 5 and settings.security.login_window_seconds == 300
    assert settings.uploads.max_size == 50 * 1024**3  # sizes are resolved to bytes
    assert settings.source_file is None


def test_file_overlays_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, """
data_dir = "/srv/kdrama"
[server]
port = 9000
public_url = "https://drama.example.com"
[security]
access_token_minutes = 5
master_key_file = "/etc/kdrama/master.key"
trusted_proxies = ["127.0.0.1", "10.0.0.0/8"]
[uploads]
max_chunk_size = "8MiB"
""")
    settings = load_settings(path, env={})
    assert settings.server.port == 9000 and settings.server.host == "127.0.0.1"  # untouched keys keep defaults
    assert settings.server.base_url == "https://drama.example.com"
    assert settings.data_dir == Path("/srv/kdrama") and settings.database_url == "sqlite:////srv/kdrama/kdrama.db"
    assert settings.security.access_token_minutes == 5.0 and settings.security.refresh_token_days == 30
    assert settings.master_key_path == Path("/etc/kdrama/master.key")
    assert settings.security.trusted_proxies == ["127.0.0.1", "10.0.0.0/8"]
    assert settings.uploads.max_chunk_size == 8 * 1024**2
    assert settings.source_file == str(path)


def test_environment_overlays_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 9000\n[storage]\nendpoint_url = \"http://file:9000\"\n")
    env = {"KDRAMA_SERVER_PORT": "9100", "KDRAMA_STORAGE_ENDPOINT_URL": "http://minio:9000",
           "KDRAMA_DATA_DIR": str(tmp_path / "d"), "KDRAMA_SECURITY_LOGIN_MAX_FAILURES": "3",
           "KDRAMA_SECURITY_TRUSTED_PROXIES": "127.0.0.1, ::1", "KDRAMA_INGEST_ENABLED": "false",
           "KDRAMA_API_KEY": "kd_belongs_to_a_command"}
    settings = load_settings(path, env=env)
    assert settings.server.port == 9100
    assert settings.storage.endpoint_url == "http://minio:9000"
    assert settings.data_dir == tmp_path / "d"
    assert settings.database_url == f"sqlite:///{tmp_path / 'd' / 'kdrama.db'}"
    assert settings.master_key_path == tmp_path / "d" / "master.key"
    assert settings.security.login_max_failures == 3
    assert settings.security.trusted_proxies == ["127.0.0.1", "::1"]
    assert settings.ingest.enabled is False


def test_database_url_short_form_and_config_from_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 9300\n")
    env = {"KDRAMA_DATABASE_URL": "postgresql://u:secret@db:5432/kdrama", "KDRAMA_CONFIG": str(path),
           "KDRAMA_DATABASE_READ_URL": "postgresql://u:secret@replica:5432/kdrama"}
    settings = load_settings(env=env)
    assert settings.database.read_url == "postgresql://u:secret@replica:5432/kdrama"
    assert settings.database_url == "postgresql://u:secret@db:5432/kdrama"
    assert settings.server.port == 9300
    assert "secret" not in str(settings.effective()["database"])  # masked for the Settings screen


@pytest.mark.parametrize(("env", "setting"), [
    ({"KDRAMA_SERVER_PORT": "abc"}, "server.port"),
    ({"KDRAMA_SERVER_PORT": "70000"}, "server.port"),
    ({"KDRAMA_SERVER_PORT": "8080.5"}, "server.port"),
    ({"KDRAMA_SERVER_PUBLIC_URL": "ftp://x"}, "server.public_url"),
    ({"KDRAMA_DATABASE_URL": "mysql://x/y"}, "database.url"),
    ({"KDRAMA_STORAGE_PROVIDER": "ftp"}, "storage.provider"),
    ({"KDRAMA_STORAGE_PROVIDER": "s3"}, "storage.bucket"),
    ({"KDRAMA_UPLOADS_MAX_SIZE": "lots"}, "uploads.max_size"),
    ({"KDRAMA_INGEST_ENABLED": "maybe"}, "ingest.enabled"),
    ({"KDRAMA_SECURITY_ACCESS_TOKEN_MINUTES": "0"}, "security.access_token_minutes"),
    ({"KDRAMA_SECURITY_REFRESH_TOKEN_DAYS": "-1"}, "security.refresh_token_days"),
    ({"KDRAMA_SECURITY_LOGIN_MAX_FAILURES": "0"}, "security.login_max_failures"),
    ({"KDRAMA_SECURITY_LOGIN_WINDOW_SECONDS": "soon"}, "security.login_window_seconds"),
    ({"KDRAMA_SECURITY_BCRYPT_ROUNDS": "31"}, "security.bcrypt_rounds"),
    ({"KDRAMA_SECURITY_SIGNING_KEY_DAYS": "0.001"}, "security.signing_key_days"),
    ({"KDRAMA_SECURITY_TRUSTED_PROXIES": "127.0.0.1,nginx"}, "security.trusted_proxies[1]"),
    ({"KDRAMA_SECURITY_JWT_AUDIENCE": ""}, "security.jwt_audience"),  # an empty variable is a value too
    ({"KDRAMA_BACKUP_DAILY_AT": "25:00"}, "backup.daily_at"),
])
def test_bad_environment_values_give_one_line_naming_the_setting(env: dict[str, str], setting: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env=env)
    message = str(caught.value)
    assert message.startswith(setting + ": ") and "\n" not in message and len(message) < 200


@pytest.mark.parametrize(("text", "expected"), [
    ("[server]\nport = \"9000\"\n", "server.port: must be an integer"),
    ("[server]\nport = true\n", "server.port: must be an integer"),
    ("[security]\ntrusted_proxies = \"127.0.0.1\"\n", "security.trusted_proxies: must be a list"),
    ("[transcode]\nladder = []\n", "transcode.ladder: must be a non-empty list"),
    ("[server]\nprot = 9000\n", "server.prot: unknown setting"),
    ("[sever]\nport = 9000\n", "sever: unknown setting or section"),
    ("port = 9000\n", "port: unknown setting or section"),
    ("[server\nport = 1\n", "config file "),
])
def test_bad_or_unknown_file_settings_are_refused(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text), env={})
    assert str(caught.value).startswith(expected) and "\n" not in str(caught.value)


def test_unknown_environment_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"^server\.prot: unknown setting \(in KDRAMA_SERVER_PROT\)$"):
        load_settings(env={"KDRAMA_SERVER_PROT": "1"})


def test_missing_config_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^config file .*nope\.toml: not found$"):
        load_settings(tmp_path / "nope.toml", env={})


@pytest.mark.parametrize(("args", "env", "setting"), [
    (["migrate"], {"KDRAMA_SERVER_PORT": "abc"}, "server.port"),
    (["user", "list"], {"KDRAMA_SECURITY_LOGIN_MAX_FAILURES": "0"}, "security.login_max_failures"),
    (["serve"], {"KDRAMA_STORAGE_PROVIDER": "ftp"}, "storage.provider"),
    (["--config", "/nonexistent/kdrama.toml", "migrate"], {}, "config file /nonexistent/kdrama.toml"),
    (["serve"], {"KDRAMA_SECURITY_MASTER_KEY_FILE": "/nonexistent/master.key"}, "security.master_key_file"),
])
def test_cli_reports_a_bad_setting_in_one_line(tmp_path: Path, args: list[str], env: dict[str, str],
                                               setting: str) -> None:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("KDRAMA_")}
    full_env.update({"PYTHONPATH": str(REPO_ROOT), "KDRAMA_DATA_DIR": str(tmp_path / "data"), **env})
    result = subprocess.run(cli(*args), env=full_env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"kdrama-tui: {setting}"), result.stderr
    assert not (tmp_path / "data" / "kdrama.db").exists()  # refused before anything was created


def test_default_toml_is_what_the_generator_writes() -> None:
    spec = importlib.util.spec_from_file_location("gen_default_config", REPO_ROOT / "scripts" / "gen_default_config.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert DEFAULT_TOML.read_text() == module.render(), \
        "config/default.toml is stale: run scripts/gen_default_config.py"


def test_default_toml_loads_to_the_defaults() -> None:
    from_file = load_settings(DEFAULT_TOML, env={})
    defaults = load_settings(env={})
    for name in SECTIONS:
        assert dataclasses.asdict(getattr(from_file, name)) == dataclasses.asdict(getattr(defaults, name)), name
    assert from_file.data_dir == defaults.data_dir


def test_every_setting_is_documented() -> None:
    for section, keys in describe_defaults().items():
        for key, (_, doc) in keys.items():
            assert doc.strip(), f"{section}.{key} has no documentation"
    assert set(describe_defaults()) == set(SECTIONS)
    assert {f.name for f in dataclasses.fields(Settings)} >= set(SECTIONS)


def test_settings_say_where_each_value_came_from_with_passwords_masked(tmp_path: Path) -> None:
    from kdrama_tui.services.admin.settings_view import describe_settings

    config = tmp_path / "kdrama.toml"
    config.write_text('[uploads]\nmax_size = "2GiB"\n')
    settings = load_settings(config, env={"KDRAMA_SERVER_PORT": "9000",
                                          "KDRAMA_DATABASE_URL": "postgresql://kd:hunter2hunter2@db:5432/kd"})
    view = describe_settings(settings)
    items = {i["name"]: i for i in view["items"]}
    assert items["uploads.max_size"].items() >= {"value": 2 * 1024**3, "default": 50 * 1024**3, "kind": "size",
                                                 "origin": "file"}.items()
    assert items["server.port"]["origin"] == "environment KDRAMA_SERVER_PORT"
    assert items["server.host"]["origin"] == "default" and items["server.host"]["doc"]
    assert items["security.access_token_minutes"]["kind"] == "minutes"
    assert items["database.url"]["value"] == "postgresql://kd:***@db:5432/kd"
    derived = {d["name"]: d["value"] for d in view["derived"]}
    assert derived["database URL"] == "postgresql://kd:***@db:5432/kd"
    assert "hunter2" not in str(view)
