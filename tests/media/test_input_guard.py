"""Untrusted bytes never make ffmpeg/ffprobe read other files, reach the network or stall (real ffmpeg).

The hostile "videos" are HLS playlists, concat lists and DASH manifests that name a local secret file (a
unique marker inside; its access time is set behind its mtime so any read moves it, ``relatime``) and a
local HTTP server that counts requests. Each must fail at once with the clear "not a video container we
accept" error (a probe that had to be killed says "could not be probed within"), the video marked failed,
the secret unread, no request made, and the marker nowhere in what the pipeline wrote.
"""

from __future__ import annotations

import os
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from kdrama_tui.config import TranscodeSettings
from kdrama_tui.media import probe as probe_module
from kdrama_tui.media.binaries import Binaries, find_binaries
from kdrama_tui.media.errors import InputError
from kdrama_tui.media.probe import probe
from kdrama_tui.media.transcoder import LocalServerTranscoder, TranscodeRequest
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.container import Services
from kdrama_tui.services.library.handoff import SubtitleSidecar
from tests.support.media import accept, admin_user
from tests.support.uploads import Account, client, create_upload, put_chunk, svc, vip  # noqa: F401

REFUSED = "not a video container we accept"


# ---- a secret the attacker wants, and a server that must never be asked ---------------------------------------
@dataclass
class Secret:
    marker: bytes
    paths: list[Path]

    def plant(self, folder: Path) -> Path:
        """A copy of the secret in ``folder`` (where a relative reference in the input would point)."""
        path = folder / "secret.ts"
        path.write_bytes(b"#" + self.marker + b"\n")
        stat = path.stat()
        # Access time behind the mtime: under relatime (and strictatime) the next read moves it.
        os.utime(path, ns=(stat.st_mtime_ns - 3600 * 10**9, stat.st_mtime_ns))
        self.paths.append(path)
        return path

    def read_by_someone(self) -> list[Path]:
        return [p for p in self.paths if p.stat().st_atime_ns >= p.stat().st_mtime_ns]


@pytest.fixture
def secret(tmp_path: Path) -> Secret:
    s = Secret(f"KDRAMA-SECRET-{uuid.uuid4().hex}".encode(), [])
    (tmp_path / "elsewhere").mkdir()
    s.plant(tmp_path / "elsewhere")
    return s


def test_the_secret_detector_sees_a_read(secret: Secret) -> None:
    assert secret.read_by_someone() == []
    secret.paths[0].read_bytes()
    assert secret.read_by_someone() == secret.paths


@dataclass
class Server:
    port: int
    requests: list[str]

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"


@pytest.fixture
def http_server() -> Iterator[Server]:
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "video/mp2t")
            self.end_headers()
            self.wfile.write(b"\x47" + b"\xff" * 187)

        def log_message(self, *args: object) -> None:
            pass  # keep the test output clean

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Server(server.server_address[1], requests)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def hostile(kind: str, secret: Secret, server: Server) -> tuple[bytes, str]:
    """Bytes of a hostile "video" and the kind of file the error must name."""
    absolute = secret.paths[0]
    if kind == "hls_local":  # live (no ENDLIST): ffprobe would reload it until killed
        return (f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nfile://{absolute}\n#EXTINF:2,\n{absolute}\n"
                "#EXTINF:2,\nsecret.ts\n").encode(), "an HLS playlist"
    if kind == "hls_http":
        return (f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n{server.url('seg1.ts')}\n"
                f"#EXTINF:2,\n{server.url('seg2.ts')}\n").encode(), "an HLS playlist"
    if kind == "ffconcat":  # relative names pass the concat demuxer's own "safe" check (URLs, absolute paths not)
        return b"ffconcat version 1.0\nfile secret.ts\nfile secret.ts\n", "a concat list"
    if kind == "dash":  # no <?xml prolog: the ingester's own playlist check does not see it
        return (f'<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-on-demand:2011" '
                f'type="static" mediaPresentationDuration="PT2S" minBufferTime="PT1S"><Period>'
                f'<AdaptationSet mimeType="video/mp2t"><Representation id="1" bandwidth="1000">'
                f'<BaseURL>{server.url("dash.ts")}</BaseURL></Representation></AdaptationSet></Period></MPD>\n'
                ).encode(), "a DASH manifest"
    raise AssertionError(kind)


def files_holding(root: Path, marker: bytes, allowed: list[Path]) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and p not in allowed and marker in p.read_bytes()]


async def assert_refused_job(services: Services, video_id: int, what: str, secret: Secret, server: Server) -> None:
    assert secret.read_by_someone() == []
    assert server.requests == []
    jobs = await repos_of(services.db).jobs.find_by_video(video_id)
    assert len(jobs) == 1, "a bad input is never retried"
    message = jobs[0].error_message or ""
    assert jobs[0].status == "failed" and REFUSED in message and what in message, message
    assert secret.marker.decode() not in message
    video = await repos_of(services.db).videos.get(video_id)
    assert video.status == "failed"
    assert await services.storage.list(f"videos/{video_id}/") == []
    for root in (services.settings.media_root, services.settings.work_dir):
        assert files_holding(root, secret.marker, secret.paths) == []
    failed = [e.data for e in services.events.recent(200, "video.failed")]
    assert failed and all(secret.marker.decode() not in str(d) for d in failed)


# ---- through the media queue, on both databases ----------------------------------------------------------------
@pytest.mark.parametrize("kind", ["hls_local", "hls_http", "ffconcat", "dash"])
async def test_a_playlist_original_fails_fast_reading_nothing_else(svc: Services, secret: Secret,  # noqa: F811
                                                                   http_server: Server, tmp_path: Path,
                                                                   kind: str) -> None:
    data, what = hostile(kind, secret, http_server)
    source = tmp_path / "episode.mp4"
    source.write_bytes(data)
    uid = await admin_user(svc)
    accepted = await accept(svc, source, uploader_id=uid)
    original = (await repos_of(svc.db).video_files.find_by_video(accepted.video.id, "original"))[0]
    stored = svc.storage.local_path(original.file_path)
    assert stored is not None
    secret.plant(stored.parent)  # "secret.ts" beside the stored original, for the relative references
    assert await svc.media.queue.run_until_idle() == 1
    await assert_refused_job(svc, accepted.video.id, what, secret, http_server)


async def test_a_playlist_uploaded_through_the_chunk_api_fails_the_video(
        svc: Services, client: TestClient, vip: Account, secret: Secret, http_server: Server) -> None:  # noqa: F811
    data, what = hostile("hls_http", secret, http_server)
    upload = await create_upload(client, vip, data, total_chunks=1)
    status, body = await put_chunk(client, vip, upload["id"], 0, data)
    assert status == 200, body
    response = await client.post(f"/api/uploads/{upload['id']}/complete", headers=vip.headers)
    assert response.status == 202
    video_id = (await response.json())["video_id"]
    assert await svc.media.queue.run_until_idle() == 1
    await assert_refused_job(svc, video_id, what, secret, http_server)
    video = await (await client.get(f"/api/videos/{video_id}", headers=vip.headers)).json()
    assert video["status"] == "failed"


async def test_the_watch_folder_refuses_a_manifest_its_own_check_misses(svc: Services,  # noqa: F811
                                                                        secret: Secret, http_server: Server,
                                                                        tmp_path: Path) -> None:
    watch = tmp_path / "watch"
    watch.mkdir()
    data, what = hostile("dash", secret, http_server)
    dropped = watch / "Manifest (2020).mp4"
    dropped.write_bytes(data)
    outcome = await svc.ingester.importer.import_file(dropped, root=watch, failed_root=watch)
    assert outcome.status == "failed" and REFUSED in (outcome.reason or "") and what in (outcome.reason or "")
    assert (watch / "failed" / dropped.name).exists()
    assert http_server.requests == [] and secret.read_by_someone() == []
    assert await repos_of(svc.db).videos.count() == 0


async def test_a_subtitle_sidecar_that_is_a_playlist_pulls_nothing(svc: Services, secret: Secret,  # noqa: F811
                                                                   http_server: Server, tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    make_container_clip(clip, "mp4")
    playlist, _ = hostile("hls_local", secret, http_server)
    sidecar = tmp_path / "clip.ko.srt"
    sidecar.write_bytes(playlist + hostile("hls_http", secret, http_server)[0])
    uid = await admin_user(svc)
    accepted = await accept(svc, clip, uploader_id=uid, sidecars=[SubtitleSidecar(sidecar, "ko", None)])
    assert await svc.media.queue.run_until_idle() == 1
    job = (await repos_of(svc.db).jobs.find_by_video(accepted.video.id))[0]
    assert job.status == "completed"  # the sidecar is skipped with a warning; the video still streams
    assert "subtitle" in (job.error_message or "") and "skipped" in (job.error_message or "")
    assert (await repos_of(svc.db).videos.get(accepted.video.id)).status == "ready"
    assert http_server.requests == [] and secret.read_by_someone() == []
    assert files_holding(svc.settings.media_root, secret.marker, secret.paths) == []


# ---- the probe itself --------------------------------------------------------------------------------------------
PROBERS = pytest.mark.parametrize("use_ffprobe", [True, False], ids=["ffprobe", "ffmpeg-only"])


def binaries_for(use_ffprobe: bool) -> Binaries:
    found = find_binaries(TranscodeSettings())
    return found if use_ffprobe else Binaries(ffmpeg=found.ffmpeg, ffprobe=None)


@PROBERS
@pytest.mark.parametrize("kind", ["hls_local", "hls_http", "ffconcat", "dash"])
async def test_probe_refuses_reference_formats_without_opening_them(
        secret: Secret, http_server: Server, tmp_path: Path, use_ffprobe: bool, kind: str) -> None:
    data, what = hostile(kind, secret, http_server)
    source = tmp_path / "upload.mkv"
    source.write_bytes(data)
    secret.plant(tmp_path)  # beside the input, for the relative references
    with pytest.raises(InputError) as caught:
        await probe(binaries_for(use_ffprobe), source)
    assert http_server.requests == [] and secret.read_by_someone() == []
    assert str(caught.value).startswith(f"the original is {REFUSED} (it is {what})")
    assert str(tmp_path) not in str(caught.value)


@PROBERS
async def test_probe_refuses_subtitles_and_images_posing_as_video(tmp_path: Path, use_ffprobe: bool) -> None:
    srt = tmp_path / "movie.mp4"
    srt.write_text("1\n00:00:01,000 --> 00:00:02,000\nhello\n\n", encoding="utf-8")
    with pytest.raises(InputError, match=f"{REFUSED} \\(it is a subtitle file\\)"):
        await probe(binaries_for(use_ffprobe), srt)
    jpeg = tmp_path / "still.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=64x36", "-frames:v", "1",
                    "-f", "image2", str(jpeg)], check=True, timeout=60)
    with pytest.raises(InputError, match=f"{REFUSED} \\(it is a still image\\)"):
        await probe(binaries_for(use_ffprobe), jpeg)


async def test_a_probe_that_hangs_is_killed_with_a_clear_error(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    pid_file = tmp_path / "pid"
    stuck = tmp_path / "ffprobe"
    stuck.write_text(f"#!/bin/sh\necho $$ > {pid_file}\nexec sleep 120\n")
    stuck.chmod(0o755)
    monkeypatch.setattr(probe_module, "PROBE_TIMEOUT", 1.0)
    source = tmp_path / "x.mp4"
    source.write_bytes(b"\x00" * 100)
    with pytest.raises(InputError, match="could not be probed within 1 s"):
        await probe(Binaries(ffmpeg="ffmpeg", ffprobe=str(stuck)), source)
    with pytest.raises(ProcessLookupError):  # killed and reaped, not left sleeping
        os.kill(int(pid_file.read_text()), 0)


# ---- every accepted container still transcodes ---------------------------------------------------------------------
CONTAINERS = {  # extension: (codec arguments, the demuxer the probe reports)
    "mp4": (["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"], "mov"),
    "mov": (["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"], "mov"),
    "mkv": (["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"], "matroska"),
    "webm": (["-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-c:a", "libvorbis"], "matroska"),
    "avi": (["-c:v", "mpeg4", "-c:a", "libmp3lame"], "avi"),
    "ts": (["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"], "mpegts"),
    "flv": (["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"], "flv"),
    "wmv": (["-c:v", "wmv2", "-c:a", "wmav2"], "asf"),
    "mpg": (["-c:v", "mpeg2video", "-c:a", "mp2"], "mpeg"),
    "ogv": (["-c:v", "libtheora", "-c:a", "libvorbis"], "ogg"),
}


def make_container_clip(path: Path, extension: str) -> Path:
    codecs, _ = CONTAINERS[extension]
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25",
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", "2", "-pix_fmt", "yuv420p",
                    *codecs, str(path)], check=True, capture_output=True, timeout=120)
    return path


@pytest.mark.parametrize("extension", sorted(CONTAINERS))
async def test_every_accepted_container_still_transcodes(tmp_path: Path, extension: str) -> None:
    source = make_container_clip(tmp_path / f"clip.{extension}", extension)
    options = TranscodeSettings(segment_seconds=1, nice=0)
    result = await LocalServerTranscoder(find_binaries(options)).transcode(
        TranscodeRequest(job_id=1, video_id=1, source=source, sidecars=[], work_dir=tmp_path / "work",
                         settings=options), lambda _f: None)
    assert result.input_format == CONTAINERS[extension][1]
    assert result.renditions and result.duration == pytest.approx(2, abs=0.2)
    kinds = {f.file_type for f in result.files}
    assert {"master_playlist", f"transcoded_{result.renditions[0]}"} <= kinds
    assert not any("whitelist" in w or REFUSED in w for w in result.warnings), result.warnings
    assert all((tmp_path / "work" / "hls" / f.path).is_file() for f in result.files)
