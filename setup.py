"""Build step (the rest of the build is in pyproject.toml): the player's hls.js goes into the package.

A wheel (``pip wheel .``, ``pip install .``) carries ``kdrama_tui/server/static/vendor/hls.js/``, copied
from ``node_modules/hls.js`` (``npm ci``) at build time, refused unless it is the version package-lock.json
pins, with its license file. An editable install keeps serving node_modules directly.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SOURCE = ROOT / "node_modules" / "hls.js"
FILES = ("dist/hls.min.js", "dist/hls.min.js.map", "LICENSE", "package.json")
TARGET = Path("kdrama_tui", "server", "static", "vendor", "hls.js")


def pinned_version() -> str:
    lock = json.loads((ROOT / "package-lock.json").read_text())
    return lock["packages"]["node_modules/hls.js"]["version"]


class BuildWithPlayer(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        want = pinned_version()
        try:
            have = json.loads((SOURCE / "package.json").read_text())["version"]
        except FileNotFoundError:
            raise SystemExit("hls.js is not installed: run `npm ci` before building the package") from None
        if have != want:
            raise SystemExit(f"node_modules has hls.js {have}, package-lock.json pins {want}: run `npm ci`")
        target = Path(self.build_lib) / TARGET
        target.mkdir(parents=True, exist_ok=True)
        for name in FILES:
            shutil.copyfile(SOURCE / name, target / Path(name).name)


setup(cmdclass={"build_py": BuildWithPlayer})
