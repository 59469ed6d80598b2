"""Build a provider by name from the settings (the name is what ``video_files.storage_provider`` records)."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping

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


class StorageSet(MutableMapping[str, Storage]):
    """Every storage that ``video_files.storage_provider`` may name, by provider.

    Local and the configured provider are there from the start; any other S3 preset is built from the
    ``[storage]`` settings the first time a row names it (a library left on wasabi after switching to local
    keeps playing and transcoding). Looking up a provider that cannot be built is a KeyError, so ``in`` and
    ``get`` mean "usable here"; :meth:`require` says why not. Iteration covers the storages built so far.
    """

    def __init__(self, settings: Settings, built: dict[str, Storage]) -> None:
        self.settings = settings
        self._built = dict(built)

    def require(self, provider: str) -> Storage:
        """The storage for ``provider``; StorageError naming what is missing when it cannot be built."""
        found = self._built.get(provider)
        if found is None:
            found = self._built[provider] = build_storage(self.settings, provider)
        return found

    def __getitem__(self, provider: str) -> Storage:
        try:
            return self.require(provider)
        except StorageError:
            raise KeyError(provider) from None

    def __setitem__(self, provider: str, storage: Storage) -> None:
        self._built[provider] = storage

    def __delitem__(self, provider: str) -> None:
        del self._built[provider]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._built))

    def __len__(self) -> int:
        return len(self._built)
