"""Loading settings. Precedence, lowest first: the defaults (documented in ``config/default.toml``) < the
TOML file given by ``--config`` or ``KDRAMA_CONFIG`` < environment variables ``KDRAMA_<SECTION>_<KEY>`` (plus
the short ``KDRAMA_DATA_DIR`` and ``KDRAMA_DATABASE_URL``). Every value is checked once at start-up.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kdrama_tui.config.sections import SECTIONS
from kdrama_tui.config.settings import Settings
from kdrama_tui.errors import ConfigError


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _coerce(name: str, value: Any, kind: Any, from_env: bool) -> Any:
    """Convert a TOML or environment value to the field's type, or fail naming the setting."""
    origin = typing.get_origin(kind)
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            if from_env and str(value).lower() in {"1", "true", "yes", "on"}:
                return True
            if from_env and str(value).lower() in {"0", "false", "no", "off"}:
                return False
            raise ValueError(f"must be true or false (got {value!r})")
        if kind is int:
            if isinstance(value, bool):
                raise ValueError("must be an integer")
            if isinstance(value, int):
                return value
            if from_env and re.fullmatch(r"\s*-?\d+\s*", str(value)):
                return int(str(value))
            raise ValueError(f"must be an integer (got {value!r})")
        if kind is float:
            if isinstance(value, bool):
                raise ValueError("must be a number")
            if isinstance(value, int | float):
                return float(value)
            if from_env and re.fullmatch(r"\s*-?\d+(\.\d*)?\s*", str(value)):
                return float(str(value))
            raise ValueError(f"must be a number (got {value!r})")
        if kind is str:
            if isinstance(value, str):
                return value
            raise ValueError(f"must be a string (got {value!r})")
        if kind is Path:
            return Path(str(value))
        if origin is list:
            if from_env and isinstance(value, str):
                text = value.strip()
                if text.startswith("["):
                    value = json.loads(text)
                else:
                    value = [p.strip() for p in text.split(",") if p.strip()]
            if not isinstance(value, list):
                raise ValueError("must be a list")
            return value
        if origin in (types.UnionType, typing.Union):  # int | str sizes
            if isinstance(value, int | str) and not isinstance(value, bool):
                return value if not (from_env and isinstance(value, str) and value.isdigit()) else int(value)
            raise ValueError(f"must be a size such as 1073741824 or '1GiB' (got {value!r})")
    except (ValueError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{name}: {exc}") from None
    return value


def _apply(target: Any, section: str, values: Mapping[str, Any], from_env: bool, source: str,
           origins: dict[str, str] | None = None) -> None:
    types_ = _field_types(type(target))
    for key, value in values.items():
        if key not in types_:
            raise ConfigError(f"{section}.{key}: unknown setting (in {source})")
        setattr(target, key, _coerce(f"{section}.{key}", value, types_[key], from_env))
        if origins is not None:
            origins[f"{section}.{key}"] = f"environment {source}" if from_env else "file"


def load_settings(config_file: str | os.PathLike[str] | None = None,
                  env: Mapping[str, str] | None = None) -> Settings:
    """Build validated settings from defaults, an optional TOML file and the environment."""
    env = os.environ if env is None else env
    settings = Settings()
    config_file = config_file or env.get("KDRAMA_CONFIG") or None
    if config_file:
        path = Path(config_file)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {path}: not found") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {path}: {exc}") from None
        settings.source_file = str(path)
        for key, value in data.items():
            if key == "data_dir":
                settings.data_dir = Path(str(value))
                settings.origins["data_dir"] = "file"
            elif key in SECTIONS and isinstance(value, dict):
                _apply(getattr(settings, key), key, value, False, str(path), settings.origins)
            else:
                raise ConfigError(f"{key}: unknown setting or section (in {path})")
    if env.get("KDRAMA_DATA_DIR"):
        settings.data_dir = Path(env["KDRAMA_DATA_DIR"])
        settings.origins["data_dir"] = "environment KDRAMA_DATA_DIR"
    if env.get("KDRAMA_DATABASE_URL"):
        settings.database.url = env["KDRAMA_DATABASE_URL"]
        settings.origins["database.url"] = "environment KDRAMA_DATABASE_URL"
    for var, value in env.items():
        if not var.startswith("KDRAMA_") or var in {"KDRAMA_DATA_DIR", "KDRAMA_DATABASE_URL", "KDRAMA_CONFIG"}:
            continue
        rest = var[len("KDRAMA_"):].lower()
        section = next((s for s in SECTIONS if rest.startswith(s + "_")), None)
        if section is None:
            continue  # other KDRAMA_* variables (e.g. KDRAMA_API_KEY) belong to commands, not settings
        _apply(getattr(settings, section), section, {rest[len(section) + 1:]: value}, True, var, settings.origins)
    return settings.validate()


def describe_defaults() -> dict[str, dict[str, tuple[Any, str]]]:
    """Every setting with its default and its doc, for checking config/default.toml against the code."""
    out: dict[str, dict[str, tuple[Any, str]]] = {}
    for name, cls in SECTIONS.items():
        instance = cls()
        out[name] = {f.name: (getattr(instance, f.name), f.metadata.get("doc", ""))
                     for f in dataclasses.fields(cls)}
    return out
