"""A throwaway nginx on 127.0.0.1: static serving of a folder (benchmark reference) or a reverse proxy in
front of the app with an internal X-Accel-Redirect location (the README's "Behind nginx" setup)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited with {process.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nginx did not listen on {port}")


class Nginx:
    """``with Nginx(server_block) as n: ...`` runs nginx in the foreground with a generated config."""

    def __init__(self, server_block: str, port: int, workers: int = 1, http_block: str = "") -> None:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        if not os.path.exists(binary):
            raise RuntimeError("nginx is not installed (scripts/setup.sh --test installs nginx-light)")
        self.binary = binary
        self.port = port
        self.prefix = Path(tempfile.mkdtemp(prefix="kdrama-nginx-"))
        user = "user root;" if os.geteuid() == 0 else ""  # workers must read pytest's 0700 temp folders
        temp = "\n".join(f"{name}_temp_path {self.prefix / name};" for name in
                         ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        self.config = self.prefix / "nginx.conf"
        self.config.write_text(f"""
{user}
worker_processes {workers};
pid {self.prefix / 'nginx.pid'};
error_log {self.prefix / 'error.log'} warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    {temp}
    {http_block.replace("{prefix}", str(self.prefix))}
    types {{
        application/vnd.apple.mpegurl m3u8;
        video/iso.segment m4s;
        video/mp4 mp4;
        text/vtt vtt;
        image/jpeg jpg;
    }}
    server {{
        listen 127.0.0.1:{port};
{server_block}
    }}
}}
""")
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Nginx:
        self.process = subprocess.Popen([self.binary, "-p", str(self.prefix), "-c", str(self.config),
                                         "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _wait_for_port(self.port, self.process)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.prefix, ignore_errors=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def static_block(root: Path) -> str:
    """nginx serving ``root`` as it is (the benchmark's reference)."""
    return f"""
        location / {{
            root {root};
            add_header Cache-Control "public, max-age=31536000, immutable";
        }}
"""


def proxy_block(app_port: int, media_root: Path, prefix: str = "/_media/") -> str:
    """nginx in front of the app, as the README shows it: the app answers HLS media with X-Accel-Redirect
    into ``prefix``, and nginx keeps public playlists for their few seconds (needs :data:`PLAYLIST_CACHE`)."""
    proxy = f"""
            proxy_pass http://127.0.0.1:{app_port};
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;"""
    return f"""
        location / {{{proxy}
        }}
        location ~ ^/hls/.+\\.m3u8$ {{{proxy}
            proxy_cache kdrama_playlists;
            add_header X-Cache-Status $upstream_cache_status always;
        }}
        location {prefix} {{
            internal;
            alias {media_root}/;
            # Headers the app set on the redirect that nginx would otherwise drop.
            add_header Access-Control-Allow-Origin $upstream_http_access_control_allow_origin always;
            add_header Access-Control-Expose-Headers $upstream_http_access_control_expose_headers always;
            add_header Referrer-Policy no-referrer always;
        }}
"""


# The http-level half of proxy_block ({prefix} is the throwaway nginx's own folder).
PLAYLIST_CACHE = "proxy_cache_path {prefix}/playlists keys_zone=kdrama_playlists:1m max_size=64m inactive=1m;"
