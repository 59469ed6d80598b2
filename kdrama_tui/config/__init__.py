"""Typed settings: one documented field per setting (``sections``), all of them with their derived paths
(``settings``), and loading from defaults, a TOML file and the environment (``loader``).

Precedence, lowest first: the defaults (documented in ``config/default.toml``) < the TOML file given by
``--config`` or ``KDRAMA_CONFIG`` < environment variables ``KDRAMA_<SECTION>_<KEY>``.
"""

from kdrama_tui.config.loader import describe_defaults, load_settings
from kdrama_tui.config.sections import (
    SECRET_KEYS,
    SECTIONS,
    STORAGE_PROVIDERS,
    BackupSettings,
    DatabaseSettings,
    IngestSettings,
    SecuritySettings,
    ServerSettings,
    StorageSettings,
    StreamingSettings,
    TranscodeSettings,
    UploadSettings,
    parse_size,
)
from kdrama_tui.config.settings import Settings
from kdrama_tui.errors import ConfigError

__all__ = [
    "SECRET_KEYS", "SECTIONS", "STORAGE_PROVIDERS", "BackupSettings", "ConfigError", "DatabaseSettings",
    "IngestSettings", "SecuritySettings", "ServerSettings", "Settings", "StorageSettings", "StreamingSettings",
    "TranscodeSettings", "UploadSettings", "describe_defaults", "load_settings", "parse_size",
]
