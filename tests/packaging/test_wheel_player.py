"""The package carries its player: a wheel built from this checkout, installed into a fresh virtualenv,
serves hls.js and plays a video in Chromium with no node_modules anywhere near it, on both databases.

The wheel is built once per module (without build isolation: nothing is downloaded) from a copy of the
sources; the fresh virtualenv gets only the wheel, and reaches the dependencies through a path entry to
this test environment's site-packages (whose own .pth files, the editable install's included, are not run).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import site
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import async_playwright

from kdrama_tui.config import Settings
from kdrama_tui.services.container import build_services
from tests.support.browser import CHROMIUM_ARGS, wait_for
from tests.support.hls import build_hls, install_video

ROOT = Path(__file__).resolve().parents[2]
_SKIP = shutil.ignore_patterns(".venv", ".git", "node_modules", "data", "build", "dist", "*.egg-info", "__pycache__",
                               ".pytest_cache", ".ruff_cache", "tests", "bench")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The python of a fresh virtualenv with the built wheel installed."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=_SKIP)
    (source / "node_modules").mkdir()
    (source / "node_modules" / "hls.js").symlink_to(ROOT / "node_modules" / "hls.js")
    subprocess.run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(work / "dist")], cwd=source, check=True, capture_output=True)
    wheel = next((work / "dist").glob("kdrama_tui-*.whl"))
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    fresh_site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                     check=True, capture_output=True, text=True).stdout.strip())
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(fresh_site),
                    str(wheel)], check=True, capture_output=True)
    (fresh_site / "zz_test_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    where = subprocess.run([str(python), "-c", "import kdrama_tui; print(kdrama_tui.__file__)"], cwd=work,
                           check=True, capture_output=True, text=True).stdout.strip()
    assert where.startswith(str(fresh_site)), where  # the wheel's copy, not this checkout
    shutil.rmtree(source)
    yield python


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def server(packaged: Path, settings: Settings, tmp_path: Path) -> AsyncIterator[tuple[str, int]]:
    """(base URL, id of a ready public video) of ``kdrama-tui serve`` run from the fresh virtualenv."""
    svc = await build_services(settings)
    try:
        user = await svc.accounts.create_user("owner", "owner@example.com", "correct horse battery")
        video = await install_video(svc, build_hls(tmp_path / "hls"), owner_id=user.id, title="Packaged")
    finally:
        await svc.close()
    port = _free_port()
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "KDRAMA_DATA_DIR": str(settings.data_dir),
           "KDRAMA_DATABASE_URL": settings.database.url, "KDRAMA_SERVER_PORT": str(port),
           "KDRAMA_INGEST_ENABLED": "false", "KDRAMA_BACKUP_ENABLED": "false"}
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen([str(packaged), "-m", "kdrama_tui", "serve"], cwd=tmp_path, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(600):
                assert proc.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
                try:
                    async with http.get(base + "/healthz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        yield base, video.id
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


async def test_the_installed_wheel_serves_hls_js_and_plays(server: tuple[str, int]) -> None:
    base, video_id = server
    pinned = json.loads((ROOT / "package-lock.json").read_text())["packages"]["node_modules/hls.js"]["version"]
    async with aiohttp.ClientSession() as http:
        async with http.get(base + "/static/vendor/hls.js/hls.min.js") as response:
            assert response.status == 200
            assert (await response.read()) == (ROOT / "node_modules/hls.js/dist/hls.min.js").read_bytes()
        async with http.get(base + "/static/vendor/hls.js/LICENSE") as response:
            assert response.status == 200 and "Apache" in await response.text()
        async with http.get(base + "/static/vendor/hls.js/package.json") as response:
            assert json.loads(await response.text())["version"] == pinned
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(f"{base}/watch/{video_id}")
            await wait_for(page, "typeof Hls !== 'undefined' && Hls.isSupported()")
            # the watch page starts playing on arrival (a click would pause it)
            await wait_for(page, "document.getElementById('video').currentTime > 1", timeout=30_000)
            assert errors == []
        finally:
            await browser.close()
