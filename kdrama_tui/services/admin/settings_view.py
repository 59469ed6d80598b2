"""The Settings section's rows: each setting's value, default, kind, description and where it came from,
plus the values the server derives from them (folders under data_dir, the database URL)."""

from __future__ import annotations

import dataclasses
import re
import typing
from typing import Any

from kdrama_tui.config import SECRET_KEYS, SECTIONS, Settings, describe_defaults, parse_size

_UNITS = {"_ms": "ms", "_seconds": "seconds", "_minutes": "minutes", "_hours": "hours", "_days": "days"}


def _kind(section: type, name: str) -> str:
    """"size" (bytes), a duration unit ("seconds", "ms", ...), or "" for anything else."""
    hint = typing.get_type_hints(section)[name]
    if typing.get_origin(hint) is not None and set(typing.get_args(hint)) == {int, str}:
        return "size"
    return next((unit for suffix, unit in _UNITS.items() if name.endswith(suffix)), "")


def _mask_url(url: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


def _shown(name: str, value: Any) -> Any:
    if name.rsplit(".", 1)[-1] in SECRET_KEYS and value:
        return "***"
    if name == "database.url" and isinstance(value, str):
        return _mask_url(value)
    return value


def describe_settings(settings: Settings) -> dict[str, Any]:
    """``{"items": [...], "derived": [...]}``: every setting (secrets masked) and the derived values."""
    defaults = describe_defaults()
    items: list[dict[str, Any]] = [{
        "name": "data_dir", "value": str(settings.data_dir), "default": "./data", "kind": "",
        "origin": settings.origins.get("data_dir", "default"),
        "doc": "Where the database, media, uploads, backups and keys live unless set one by one."}]
    for section, cls in SECTIONS.items():
        instance = getattr(settings, section)
        for f in dataclasses.fields(cls):
            name = f"{section}.{f.name}"
            default, doc = defaults[section][f.name]
            kind = _kind(cls, f.name)
            if kind == "size":
                default = parse_size(default)  # "50GiB" as the bytes the value is given in
            items.append({"name": name, "value": _shown(name, getattr(instance, f.name)),
                          "default": _shown(name, default), "kind": kind,
                          "origin": settings.origins.get(name, "default"), "doc": doc})
    derived = [
        ("database URL", _mask_url(settings.database_url), "database.url, else sqlite under data_dir"),
        ("public address", settings.server.base_url, "server.public_url, else http://host:port"),
        ("media folder", str(settings.media_root), "storage.local_root, else data_dir/media"),
        ("watch folders", ", ".join(map(str, settings.watch_dirs)), "ingest.watch_dirs, else data_dir/watch"),
        ("backup folder", str(settings.backup_dir), "backup.local_dir, else data_dir/backups"),
        ("master key", str(settings.master_key_path), "security.master_key_file, else data_dir/master.key"),
        ("uploads folder", str(settings.uploads_dir), "data_dir/uploads"),
        ("work folder", str(settings.work_dir), "data_dir/work (transcodes, assembly)"),
    ]
    return {"items": items, "derived": [{"name": n, "value": v, "from": w} for n, v, w in derived]}
