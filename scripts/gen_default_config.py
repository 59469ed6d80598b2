"""Regenerate config/default.toml from the settings dataclasses (the source of truth for defaults)."""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kdrama_tui.config import describe_defaults  # noqa: E402

HEADER = [
    "# kdrama-tui default configuration: every setting with its default.",
    "# Overlay with --config FILE (or KDRAMA_CONFIG) and environment variables KDRAMA_<SECTION>_<KEY>,",
    "# e.g. KDRAMA_SERVER_PORT=9000. KDRAMA_DATA_DIR and KDRAMA_DATABASE_URL are short forms.",
    '# Sizes take bytes or units: "8MiB", "20GB" (binary units).',
    "",
    "# Where the database, media, uploads and keys live (KDRAMA_DATA_DIR).",
    'data_dir = "data"',
    "",
]


def fmt(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        if value and isinstance(value[0], dict):
            rows = ",\n".join("    { " + ", ".join(f"{k} = {fmt(x)}" for k, x in d.items()) + " }" for d in value)
            return "[\n" + rows + ",\n]"
        return "[" + ", ".join(fmt(x) for x in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def render() -> str:
    out = list(HEADER)
    for section, keys in describe_defaults().items():
        out.append(f"[{section}]")
        for key, (default, doc) in keys.items():
            out.append(f"# {doc}")
            out.append(f"{key} = {fmt(default)}")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    (ROOT / "config" / "default.toml").write_text(render())
