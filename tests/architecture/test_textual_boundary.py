"""The server side never loads Textual: `serve`, the services and the admin API run without it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_server_side_modules_do_not_import_textual() -> None:
    code = ("import sys\n"
            "import kdrama_tui.server.app, kdrama_tui.services.container, kdrama_tui.commands.serve\n"
            "import kdrama_tui.tui.client, kdrama_tui.server.host, kdrama_tui.cli\n"
            "loaded = sorted(m for m in sys.modules if m == 'textual' or m.startswith(('textual.', "
            "'kdrama_tui.tui.screens', 'kdrama_tui.tui.app')))\n"
            "print(loaded)\n"
            "raise SystemExit(1 if loaded else 0)\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60,
                            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_linter_contract_holds() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], cwd=REPO, capture_output=True, text=True, timeout=120,
                            env={"PYTHONPATH": str(REPO), "PATH": f"{lint.parent}:/usr/bin:/bin"})
    assert result.returncode == 0, result.stdout + result.stderr
