"""All settings together, with the paths derived from them (everything defaults to under ``data_dir``)."""

from __future__ import annotations

import dataclasses
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kdrama_tui.config.sections import (
    SECRET_KEYS,
    SECTIONS,
    BackupSettings,
    DatabaseSettings,
    IngestSettings,
    SecuritySettings,
    ServerSettings,
    StorageSettings,
    StreamingSettings,
    TranscodeSettings,
    UploadSettings,
    _doc,
)


@dataclass
class Settings:
    data_dir: Path = _doc("Where the database, media, uploads and keys live.", default=Path("data"))
    server: ServerSettings = field(default_factory=ServerSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    uploads: UploadSettings = field(default_factory=UploadSettings)
    transcode: TranscodeSettings = field(default_factory=TranscodeSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    backup: BackupSettings = field(default_factory=BackupSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    streaming: StreamingSettings = field(default_factory=StreamingSettings)
    source_file: str | None = None
    # "section.key" -> where its value came from when not the default: "file" or "environment KDRAMA_…"
    origins: dict[str, str] = field(default_factory=dict, repr=False)

    # Derived paths; all settings that default to "under data_dir" resolve here.
    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.data_dir / 'kdrama.db'}"

    @property
    def media_root(self) -> Path:
        return Path(self.storage.local_root) if self.storage.local_root else self.data_dir / "media"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def work_dir(self) -> Path:
        """Scratch space for transcodes and assembly; same filesystem as media so renames are atomic."""
        return self.data_dir / "work"

    @property
    def watch_dirs(self) -> list[Path]:
        return [Path(p) for p in self.ingest.watch_dirs] or [self.data_dir / "watch"]

    @property
    def backup_dir(self) -> Path:
        return Path(self.backup.local_dir) if self.backup.local_dir else self.data_dir / "backups"

    @property
    def node_name(self) -> str:
        """Who this process is in a cluster: ``[server] node_name``, else ``<hostname>:<port>``."""
        return self.server.node_name or f"{socket.gethostname()}:{self.server.port}"

    @property
    def session_database_url(self) -> str:
        return self.database.session_url or self.database_url

    @property
    def master_key_path(self) -> Path:
        return Path(self.security.master_key_file) if self.security.master_key_file \
            else self.data_dir / "master.key"

    def validate(self) -> Settings:
        for name in SECTIONS:
            getattr(self, name).validate()
        return self

    def effective(self, mask_secrets: bool = True) -> dict[str, Any]:
        """The configuration as a dict (for the Settings screen); secrets become '***'."""
        out: dict[str, Any] = {"data_dir": str(self.data_dir)}
        for name in SECTIONS:
            section = dataclasses.asdict(getattr(self, name))
            if mask_secrets:
                for key in section:
                    if key in SECRET_KEYS and section[key]:
                        section[key] = "***"
                for url_key in ("url", "session_url", "read_url") if name == "database" else ():
                    if section.get(url_key):
                        section[url_key] = re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", section[url_key])
            out[name] = section
        return out
