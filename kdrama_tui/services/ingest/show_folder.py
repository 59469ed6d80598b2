"""The show folder's JSON: ``Show.json`` or ``series.json`` beside the episodes (or one folder up, when
they sit in ``Season 1/``, ``시즌 2/`` or ``Specials/``) gives the series' fields for ingest."""

from __future__ import annotations

import json
import os
import unicodedata
from pathlib import Path
from typing import Any

from kdrama_tui.errors import ValidationError
from kdrama_tui.services.ingest.sidecars import MAX_METADATA_BYTES

GENERIC_NAME = "series.json"


def _fold(name: str) -> str:
    return unicodedata.normalize("NFC", name).casefold()


def find_show_json(video: Path, root: Path | None, show_title: str) -> Path | None:
    """``<title>.json`` or ``series.json`` in the video's folder or its parent (not above ``root``)."""
    wanted = {_fold(f"{show_title}.json"), GENERIC_NAME}
    folder = video.parent
    for _ in range(2):
        try:
            names = os.listdir(folder)
        except OSError:
            return None
        for name in sorted(names):
            candidate = folder / name
            if _fold(name) in wanted and candidate != video.with_suffix(".json") and candidate.is_file() \
                    and not candidate.is_symlink():
                return candidate
        if root is None or folder == root or not folder.is_relative_to(root):
            return None
        folder = folder.parent
    return None


def load_show_json(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; the series service validates its fields. Raises ValidationError."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_METADATA_BYTES + 1)
        if len(raw) > MAX_METADATA_BYTES:
            raise ValidationError(f"{path.name}: larger than 1 MiB", code="invalid_sidecar")
        data = json.loads(raw.decode("utf-8-sig"))
    except OSError as exc:
        raise ValidationError(f"{path.name}: cannot read ({exc.strerror or exc})", code="invalid_sidecar") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"{path.name}: not valid UTF-8 JSON ({exc})", code="invalid_sidecar") from exc
    if not isinstance(data, dict):
        raise ValidationError(f"{path.name}: must hold a JSON object", code="invalid_sidecar")
    return data
