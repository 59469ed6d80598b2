"""Transcoder providers: turn one original into a finished ``hls/`` folder.

The queue only knows the :class:`Transcoder` interface: it hands over a local input file, the sidecar
subtitles and an empty work folder, and gets back the list of files written there. ``local_server`` runs
ffmpeg on this machine; a cloud provider (the design's ``google_cloud``) would upload the input, wait for the
remote job and download its outputs into the same folder, without any change to the queue.
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from kdrama_tui.config import TranscodeSettings
from kdrama_tui.media import hls, subtitles
from kdrama_tui.media.binaries import Binaries
from kdrama_tui.media.errors import FFmpegError, InputError, MediaError, SubtitleError
from kdrama_tui.media.inputs import input_argv
from kdrama_tui.media.ladder import LadderPlan, build_ladder_argv, plan_ladder
from kdrama_tui.media.probe import MediaInfo, SubtitleStream, probe
from kdrama_tui.media.proc import run_capture, run_ffmpeg
from kdrama_tui.media.thumbnails import make_poster, make_sprite

log = logging.getLogger(__name__)

PLAYLIST_MIME = "application/vnd.apple.mpegurl"
MIME_BY_SUFFIX = {".m3u8": PLAYLIST_MIME, ".mp4": "video/mp4", ".m4s": "video/iso.segment", ".ts": "video/mp2t",
                  ".vtt": "text/vtt", ".jpg": "image/jpeg"}
# Share of the job's progress the ladder takes; subtitles and thumbnails take the rest.
LADDER_SHARE = 0.9
# A ladder that decodes less than this share of the probed duration came from a truncated file.
MIN_DECODED_SHARE = 0.9


@dataclass(frozen=True)
class SidecarInput:
    path: Path
    language: str | None
    label: str | None
    name: str  # for warnings, e.g. "subtitle 01.srt"


@dataclass(frozen=True)
class TranscodeRequest:
    job_id: int
    video_id: int
    source: Path
    sidecars: list[SidecarInput]
    work_dir: Path  # empty; outputs go to work_dir / "hls"
    settings: TranscodeSettings


@dataclass(frozen=True)
class OutputFile:
    path: str  # relative to hls/: "720p/seg_00001.m4s"
    file_type: str
    mime_type: str
    language: str | None = None
    label: str | None = None


@dataclass
class TranscodeResult:
    duration: float
    input_format: str
    renditions: list[str]
    files: list[OutputFile]
    warnings: list[str] = field(default_factory=list)
    external_id: str | None = None  # the provider's own job id (transcoding_jobs.job_id), if any


ProgressCallback = Callable[[float], None]


class Transcoder(ABC):
    name: ClassVar[str]

    @abstractmethod
    async def transcode(self, request: TranscodeRequest, progress: ProgressCallback) -> TranscodeResult:
        """Fill ``request.work_dir / "hls"``. Raise InputError for a bad original, MediaError otherwise.
        Cancellation (asyncio) must stop the work and leave nothing running."""


def mime_for(path: str) -> str:
    return MIME_BY_SUFFIX.get(Path(path).suffix, "application/octet-stream")


class LocalServerTranscoder(Transcoder):
    name = "local_server"

    def __init__(self, binaries: Binaries) -> None:
        self.binaries = binaries

    async def transcode(self, request: TranscodeRequest, progress: ProgressCallback) -> TranscodeResult:
        settings = request.settings
        out = request.work_dir / "hls"
        out.mkdir(parents=True, exist_ok=True)
        info = await probe(self.binaries, request.source)
        plan = plan_ladder(info, settings.ladder, segment_seconds=settings.segment_seconds,
                           segment_type=settings.segment_type, preset=settings.preset)
        for rendition in plan.renditions:
            (out / rendition.name).mkdir()
        argv = build_ladder_argv(self.binaries.ffmpeg, request.source, info, plan, out)
        started = time.monotonic()
        await run_ffmpeg(argv, duration=info.duration, nice=settings.nice,
                         time_limit=settings.max_runtime_factor * info.duration + 300,
                         on_progress=lambda f: progress(f * LADDER_SHARE))
        log.info("job %d: ladder %s of %.1f s in %.1f s", request.job_id,
                 "/".join(r.name for r in plan.renditions), info.duration, time.monotonic() - started)
        files: list[OutputFile] = []
        variants = self._variants(out, plan, info, files)
        warnings: list[str] = []
        mpegts_offset = await self._mpegts_offset(out, plan)
        tracks = await self._subtitles(request, info, out, mpegts_offset, files, warnings)
        progress(LADDER_SHARE + (1 - LADDER_SHARE) * 0.3)
        await self._thumbnails(request, info, out, files, warnings)
        master = hls.render_master(variants, tracks)
        (out / "master.m3u8").write_text(master, encoding="utf-8")
        files.append(OutputFile("master.m3u8", "master_playlist", PLAYLIST_MIME))
        progress(0.99)
        return TranscodeResult(duration=info.duration, input_format=info.format_name[:20],
                               renditions=[r.name for r in plan.renditions], files=files, warnings=warnings)

    # ---- ladder outputs ------------------------------------------------------------------------------------
    def _variants(self, out: Path, plan: LadderPlan, info: MediaInfo, files: list[OutputFile]) -> list[hls.Variant]:
        variants, counts = [], set()
        for r in plan.renditions:
            folder = out / r.name
            try:
                stats = hls.measure_rendition(folder)
            except (OSError, ValueError) as exc:
                raise FFmpegError(f"rendition {r.name} is incomplete: {exc}") from None
            decoded = sum(d for _uri, d in stats.segments)
            if decoded < info.duration * MIN_DECODED_SHARE and info.duration - decoded > 1.0:
                raise InputError(f"the original is truncated or damaged: only {decoded:.1f} s of its "
                                 f"{info.duration:.1f} s could be decoded")
            counts.add(len(stats.segments))
            if plan.segment_type == "fmp4":
                codec = hls.avc_codec_from_init((folder / (stats.init_uri or "init.mp4")).read_bytes())
            else:
                codec = hls.avc_codec_from_ts((folder / stats.segments[0][0]).read_bytes())
            codecs = f"{codec},{hls.AAC_LC}" if plan.has_audio else codec
            variants.append(hls.Variant(uri=f"{r.name}/index.m3u8", bandwidth=stats.peak_bandwidth,
                                        average_bandwidth=stats.average_bandwidth, width=r.width, height=r.height,
                                        codecs=codecs, frame_rate=float(plan.frame_rate)))
            kind = f"transcoded_{r.name}"
            names = ["index.m3u8"] + ([stats.init_uri] if stats.init_uri else []) + [u for u, _d in stats.segments]
            files.extend(OutputFile(f"{r.name}/{n}", kind, mime_for(n)) for n in names)
        if len(counts) > 1:
            raise FFmpegError(f"renditions have different segment counts {sorted(counts)}: keyframes not aligned")
        return variants

    async def _mpegts_offset(self, out: Path, plan: LadderPlan) -> int | None:
        if plan.segment_type != "mpegts":
            return None
        return await mpegts_start_offset(self.binaries.ffmpeg,
                                         out / plan.renditions[0].name / f"seg_00001.{plan.segment_extension}")

    # ---- subtitles -----------------------------------------------------------------------------------------
    async def _subtitles(self, request: TranscodeRequest, info: MediaInfo, out: Path, mpegts_offset: int | None,
                         files: list[OutputFile], warnings: list[str]) -> list[hls.SubtitleTrack]:
        found: list[subtitles.Track] = []
        for stream in info.subtitles:
            name = f"subtitle stream #{stream.index} ({stream.codec})"
            if not stream.is_text:
                warnings.append(f"{name}: picture-based subtitles cannot become WebVTT; skipped")
                continue
            try:
                found.extend(await self._embedded(request.source, info, stream))
            except (SubtitleError, FFmpegError) as exc:
                warnings.append(f"{name}: {exc}; skipped")
        for sidecar in request.sidecars:
            try:
                data = await asyncio.to_thread(sidecar.path.read_bytes)
                found.extend(subtitles.parse_subtitles(data, sidecar.path.suffix, sidecar.language, sidecar.label))
            except (SubtitleError, OSError) as exc:
                warnings.append(f"{sidecar.name}: {exc}; skipped")
        return write_subtitle_tracks(found, out, info.duration, mpegts_offset, files, taken=set())

    async def _embedded(self, source: Path, info: MediaInfo, stream: SubtitleStream) -> list[subtitles.Track]:
        code, data, err = await run_capture(
            [self.binaries.ffmpeg, "-hide_banner", "-nostdin", "-v", "error", *input_argv(source, info.format_name),
             "-map", f"0:{stream.index}", "-c:s", "srt", "-f", "srt", "pipe:1"], time_limit=600)
        if code != 0:
            tail = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["unknown error"]
            raise SubtitleError(f"could not be extracted ({tail[0]})")
        return subtitles.parse_subtitles(data, ".srt", stream.language, stream.title)

    # ---- thumbnails ----------------------------------------------------------------------------------------
    async def _thumbnails(self, request: TranscodeRequest, info: MediaInfo, out: Path, files: list[OutputFile],
                          warnings: list[str]) -> None:
        nice = request.settings.nice
        try:
            await make_poster(self.binaries.ffmpeg, request.source, info, out / "poster.jpg", nice=nice)
            files.append(OutputFile("poster.jpg", "thumbnail", "image/jpeg"))
        except MediaError as exc:
            warnings.append(f"poster: {exc}")
        (out / "thumbs").mkdir(exist_ok=True)
        try:
            await make_sprite(self.binaries.ffmpeg, request.source, info, out / "thumbs" / "sprite.jpg",
                              out / "thumbs" / "thumbs.vtt", nice=nice)
            files.append(OutputFile("thumbs/sprite.jpg", "sprite", "image/jpeg"))
            files.append(OutputFile("thumbs/thumbs.vtt", "sprite_vtt", "text/vtt"))
        except MediaError as exc:
            warnings.append(f"preview sprite: {exc}")


async def mpegts_start_offset(ffmpeg_bin: str, segment: Path) -> int:
    """MPEG-TS timestamps do not start at 0; WebVTT maps cue time 0 to this 90 kHz value (X-TIMESTAMP-MAP)."""
    _code, _out, err = await run_capture([ffmpeg_bin, "-hide_banner", "-nostdin", *input_argv(segment, "mpegts")],
                                         time_limit=60)
    for line in err.decode("utf-8", "replace").splitlines():
        if "start:" in line:
            try:
                return round(float(line.split("start:")[1].split(",")[0]) * 90000)
            except ValueError:
                break
    raise FFmpegError(f"could not read the start time of {segment.name}")


def write_subtitle_tracks(tracks: list[subtitles.Track], out: Path, duration: float, mpegts_offset: int | None,
                          files: list[OutputFile], taken: set[str]) -> list[hls.SubtitleTrack]:
    """Write ``subs/<stem>.vtt`` + ``subs/<stem>.m3u8`` per track; return the master playlist entries."""
    entries = []
    if tracks:
        (out / "subs").mkdir(exist_ok=True)
    for track in tracks:
        stem = subtitles.track_file_stem(track.language, taken)
        (out / "subs" / f"{stem}.vtt").write_text(
            subtitles.render_webvtt(track.cues, mpegts_offset=mpegts_offset), encoding="utf-8")
        (out / "subs" / f"{stem}.m3u8").write_text(
            hls.subtitle_media_playlist(f"{stem}.vtt", duration),
            encoding="utf-8")
        language = track.language or "und"
        label = (track.label or subtitles.language_name(track.language))[:100]
        files.append(OutputFile(f"subs/{stem}.vtt", "subtitle", "text/vtt", language, label))
        files.append(OutputFile(f"subs/{stem}.m3u8", "subtitle", PLAYLIST_MIME, language, label))
        entries.append(hls.SubtitleTrack(uri=f"subs/{stem}.m3u8", language=language, name=label))
    return entries
