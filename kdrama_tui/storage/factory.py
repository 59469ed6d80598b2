"""Build a provider by name from the settings (the name is what ``video_files.storage_provider`` records)."""

from __future__ import annotations

from kdrama_tui.config import STORAGE_PROVIDERS, Settings
from kdrama_tui.errors import ConfigError
from kdrama_tui.storage.base import Storage, StorageError
from kdrama_tui.storage.local import LocalStorage
from kdrama_tui.storage.presets import s3_config


def build_storage(settings: Settings, provider: str) -> Storage:
    """``local`` (always possible) or an S3-compatible preset using the ``[storage]`` credentials.

    Raises StorageError naming what is missing when ``provider`` cannot be built from the settings.
    """
    if provider == "local":
        return LocalStorage(settings.media_root)
    if provider not in STORAGE_PROVIDERS:
        raise StorageError(f"unknown storage provider {provider!r} (known: {', '.join(STORAGE_PROVIDERS)})",
                           code="storage_not_configured", status=500)
    from kdrama_tui.storage.s3 import S3Storage  # aiobotocore is imported only when S3 is used

    try:
        return S3Storage(s3_config(settings.storage, provider))
    except ConfigError as exc:
        raise StorageError(f"storage provider {provider!r} is not configured: {exc}",
                           code="storage_not_configured", status=500) from None
