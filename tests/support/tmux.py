"""Driving a real terminal: the program runs in a detached tmux session on a private tmux server."""

from __future__ import annotations

import os
import shlex
import subprocess
import time
import uuid
from pathlib import Path


class Tmux:
    def __init__(self, workdir: Path, width: int = 120, height: int = 40) -> None:
        self.socket = f"kdrama-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"  # never touches the user's tmux
        self.session = "t"
        self.width = width
        self.height = height
        self.rc_file = workdir / f"rc-{uuid.uuid4().hex[:8]}"

    def _tmux(self, *args: str) -> str:
        result = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def start(self, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        """Run ``argv`` in the terminal; its exit code lands in ``rc_file``, then the pane stays open."""
        env = {**env, "TERM": "tmux-256color", "LANG": env.get("LANG") or "C.UTF-8"}  # env -i wipes tmux's own
        assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(env.items()))
        command = (f"cd {shlex.quote(str(cwd))} && env -i {assignments} {shlex.join(argv)}; "
                   f"echo $? > {shlex.quote(str(self.rc_file))}; sleep 600")
        self._tmux("new-session", "-d", "-s", self.session, "-x", str(self.width), "-y", str(self.height),
                   "sh", "-c", command)

    def pane_pid(self) -> int:
        """The pid of the pane's shell (the program runs as its child)."""
        return int(self._tmux("list-panes", "-t", self.session, "-F", "#{pane_pid}").split()[0])

    def capture(self) -> str:
        return self._tmux("capture-pane", "-p", "-J", "-t", self.session)  # -J: wrapped lines joined

    def send(self, *keys: str, pause: float = 0.3) -> None:
        for key in keys:
            self._tmux("send-keys", "-t", self.session, key)
            time.sleep(pause)

    def type(self, text: str) -> None:
        self._tmux("send-keys", "-t", self.session, "-l", text)
        time.sleep(0.3)

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.capture()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never appeared; the screen shows:\n{screen}")
            time.sleep(0.2)

    def exit_code(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while not self.rc_file.exists() or not self.rc_file.read_text().strip():
            if time.monotonic() > deadline:
                raise AssertionError(f"the program did not exit; the screen shows:\n{self.capture()}")
            time.sleep(0.2)
        return int(self.rc_file.read_text().strip())

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=30)
