"""Provider presets and the [storage]/[backup] settings they rely on."""

from __future__ import annotations

from pathlib import Path

import pytest

from kdrama_tui.config import load_settings
from kdrama_tui.errors import ConfigError
from kdrama_tui.storage.presets import s3_config


def _settings(tmp_path: Path, **env: str):  # type: ignore[no-untyped-def]
    return load_settings(env={"KDRAMA_DATA_DIR": str(tmp_path), **{f"KDRAMA_{k.upper()}": v for k, v in env.items()}})


KEYS = {"storage_bucket": "media", "storage_access_key": "AK", "storage_secret_key": "SK"}


@pytest.mark.parametrize(("provider", "region", "endpoint", "batch"), [
    ("wasabi", "ap-northeast-1", "https://s3.ap-northeast-1.wasabisys.com", True),
    ("idrive", "us-west-1", "https://s3.us-west-1.idrivee2.com", True),
    ("google_cloud", "us-east-1", "https://storage.googleapis.com", False),
])
def test_preset_endpoints(tmp_path: Path, provider: str, region: str, endpoint: str, batch: bool) -> None:
    settings = _settings(tmp_path, storage_provider=provider, storage_region=region,
                         storage_addressing_style="virtual", **KEYS)
    config = s3_config(settings.storage)
    assert config.provider == provider and config.endpoint_url == endpoint
    assert config.addressing_style == "path"  # presets are path-style whatever the setting says
    assert config.batch_delete is batch  # GCS's XML API has no multi-object delete
    assert config.multipart_chunk_size == 8 * 1024 * 1024
    if provider == "google_cloud":
        assert config.region == "auto"


def test_custom_endpoint_wins_and_s3_keeps_its_style(tmp_path: Path) -> None:
    settings = _settings(tmp_path, storage_provider="s3", storage_endpoint_url="http://minio:9000/",
                         storage_addressing_style="virtual", storage_multipart_chunk_size="16MiB", **KEYS)
    config = s3_config(settings.storage)
    assert config.endpoint_url == "http://minio:9000" and config.addressing_style == "virtual"
    assert config.multipart_chunk_size == 16 * 1024 * 1024
    idrive = s3_config(settings.storage, "idrive")  # an account-specific IDrive host given explicitly
    assert idrive.endpoint_url == "http://minio:9000"
    aws = s3_config(_settings(tmp_path, storage_provider="s3", **KEYS).storage)
    assert aws.endpoint_url is None  # the SDK's AWS endpoint


@pytest.mark.parametrize(("env", "words"), [
    ({"storage_provider": "wasabi", "storage_bucket": "b"}, "storage.access_key"),
    ({"storage_provider": "s3", "storage_access_key": "a", "storage_secret_key": "s"}, "storage.bucket"),
    ({"storage_endpoint_url": "minio:9000"}, "storage.endpoint_url"),
    ({"storage_multipart_chunk_size": "1MiB"}, "storage.multipart_chunk_size"),
    ({"backup_encryption_key": "short"}, "backup.encryption_key"),
    ({"storage_delivery": "cdn"}, "storage.delivery"),
])
def test_bad_settings_are_named(tmp_path: Path, env: dict[str, str], words: str) -> None:
    with pytest.raises(ConfigError) as info:
        _settings(tmp_path, **env)
    assert str(info.value).startswith(words) and "\n" not in str(info.value)
