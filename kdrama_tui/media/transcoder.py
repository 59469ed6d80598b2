"""Transcoder providers: turn one original into a finished ``hls/`` folder.

The queue only knows the :class:`Transcoder` interface: it hands over a local input file, the sidecar
subtitles and an empty work folder, and gets back the list of files written there. ``local_server`` runs
ffmpeg on this machine; a cloud provider (the design's ``google_cloud``) would upload the input, wait for the
remote job and download its outputs into the same folder, without any change to the queue.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from kdrama_tui.config import TranscodeSettings
from kdrama_tui.media import hls, subtitles
from kdrama_tui.media.binaries import Binaries
from kdrama_tui.media.encoders import VideoEncoder, select_encoder
from kdrama_tui.media.errors import FFmpegError, MediaError, SubtitleError
from kdrama_tui.media.inputs import input_argv
from kdrama_tui.media.ladder import AUDIO_SAMPLE_RATE, LadderPlan, build_ladder_argv, plan_ladder
from kdrama_tui.media.probe import MediaInfo, SubtitleStream, probe
from kdrama_tui.media.proc import run_capture, run_ffmpeg
from kdrama_tui.media.renditions import LadderState, Measured, RenditionState, measure, misalignment
from kdrama_tui.media.source_copy import (
    PathChoice,
    SharedAudio,
    build_copy_argv,
    choose_path,
    encode_shared_audio,
    forced_keyframes,
    segment_starts,
)
from kdrama_tui.media.thumbnails import make_poster, make_sprite

log = logging.getLogger(__name__)

PLAYLIST_MIME = "application/vnd.apple.mpegurl"
MIME_BY_SUFFIX = {".m3u8": PLAYLIST_MIME, ".mp4": "video/mp4", ".m4s": "video/iso.segment", ".ts": "video/mp2t",
                  ".vtt": "text/vtt", ".jpg": "image/jpeg"}
# Share of the job's progress the ladder takes; subtitles and thumbnails take the rest. The copied rendition
# (source-copy path) takes the first COPY_SHARE of it.
LADDER_SHARE = 0.9
COPY_SHARE = 0.05


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
    # Called with the files of a playable first part (a master listing the renditions finished so far): the
    # caller publishes and may move them; they are listed again, unchanged, in the final result.
    on_partial: Callable[[list[OutputFile], float], Awaitable[None]] | None = None  # (files, duration)
    on_state: Callable[[dict[str, Any]], None] | None = None  # the ladder's state (renditions.LadderState)


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
    path: str = "full"  # "copy": the top rendition is the source's own video
    path_reason: str = ""
    encoder: str = ""


ProgressCallback = Callable[[float], None]


class Transcoder(ABC):
    name: ClassVar[str]

    @abstractmethod
    async def transcode(self, request: TranscodeRequest, progress: ProgressCallback) -> TranscodeResult:
        """Fill ``request.work_dir / "hls"``. Raise InputError for a bad original, MediaError otherwise.
        Cancellation (asyncio) must stop the work and leave nothing running."""


def mime_for(path: str) -> str:
    return MIME_BY_SUFFIX.get(Path(path).suffix, "application/octet-stream")


class _NotAligned(MediaError):
    """An encoded rendition's segments do not begin where the copied one's do."""


@dataclass
class _Job:
    """One transcode in progress: what it has made so far."""

    request: TranscodeRequest
    progress: ProgressCallback
    info: MediaInfo
    plan: LadderPlan
    encoder: VideoEncoder
    state: LadderState
    files: list[OutputFile] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    variants: list[hls.Variant] = field(default_factory=list)
    tracks: list[hls.SubtitleTrack] = field(default_factory=list)

    @property
    def out(self) -> Path:
        return self.request.work_dir / "hls"

    def report(self) -> None:
        if self.request.on_state is not None:
            self.request.on_state(self.state.to_dict())

    def reset(self, out: Path) -> None:
        """Start again from an empty folder (the copy path was abandoned)."""
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        self.files, self.variants, self.tracks = [], [], []


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
        choice = await choose_path(self.binaries, request.source, info, enabled=settings.copy_source,
                                   segment_seconds=settings.segment_seconds,
                                   top_rung_height=max(int(r["height"]) for r in settings.ladder))
        encoder = await select_encoder(self.binaries.ffmpeg, settings.preset, settings.hardware_encoder)
        log.info("job %d: %s path (%s); video encoder %s", request.job_id,
                 "source-copy" if choice.copy else "full re-encode", choice.reason, encoder.reason)
        run = _Job(request, progress, info, plan, encoder.encoder,
                   LadderState(choice.name, choice.reason, encoder.encoder.name))
        if choice.copy:
            try:
                await self._copy_ladder(run, choice)
            except _NotAligned as exc:
                log.warning("job %d: %s; re-encoding every rendition instead", request.job_id, exc)
                run.warnings.append(f"the copied rendition could not be aligned ({exc}); everything was re-encoded")
                run.state = LadderState("full", f"copy path abandoned: {exc}", encoder.encoder.name)
                run.reset(out)
                await self._full_ladder(run)
        else:
            await self._full_ladder(run)
        progress(LADDER_SHARE + (1 - LADDER_SHARE) * 0.3)
        await self._thumbnails(request, info, out, run.files, run.warnings)
        self._write_master(run)
        for r in run.state.renditions:
            r.ready, r.progress = True, 100
        run.report()
        progress(0.99)
        return TranscodeResult(duration=info.duration, input_format=info.format_name[:20],
                               renditions=[v.uri.split("/")[0] for v in run.variants], files=run.files,
                               warnings=run.warnings, path=choice.name if run.state.path == "copy" else "full",
                               path_reason=run.state.reason, encoder=encoder.encoder.name)

    # ---- the two paths -------------------------------------------------------------------------------------
    async def _full_ladder(self, run: _Job) -> None:
        """Today's ladder: every rendition encoded from one decode, keyframes every segment_seconds."""
        run.state.renditions = [RenditionState(r.name, r.width, r.height, "encoded") for r in run.plan.renditions]
        await self._encode(run, run.plan, share=(0.0, LADDER_SHARE))
        measured = [self._measure(run, r.name, r.width, r.height) for r in run.plan.renditions]
        if len({len(m.durations) for m in measured}) > 1:
            counts = sorted({len(m.durations) for m in measured})
            raise FFmpegError(f"renditions have different segment counts {counts}: keyframes not aligned")
        run.variants = [m.variant for m in measured]
        run.tracks = await self._subtitles(run.request, run.info, run.out, await self._mpegts_offset(run.out, run.plan),
                                           run.files, run.warnings)

    async def _copy_ladder(self, run: _Job, choice: PathChoice) -> None:
        """The source's video as the top rendition, published as soon as it is segmented; then the lower
        renditions encoded with keyframes at its segment starts."""
        info, plan, settings = run.info, run.plan, run.request.settings
        assert info.video is not None and choice.scan is not None
        width, height = info.video.width, info.video.height
        top = plan.renditions[-1]
        replaces_top = abs(top.width - width) <= 1 and abs(top.height - height) <= 1
        name = top.name if replaces_top else f"{min(width, height)}p"
        lower = [r for r in plan.renditions if r.name != name and (r is not top or not replaces_top)]
        run.state.renditions = [RenditionState(r.name, r.width, r.height, "encoded") for r in lower]
        run.state.renditions.append(RenditionState(name, width, height, "copy"))
        run.report()
        folder = run.out / name
        folder.mkdir()
        started = time.monotonic()
        time_limit = settings.max_runtime_factor * info.duration + 300
        shared = None
        if info.audio and not choice.copy_audio:  # encoded once, copied into every rendition
            shared = await encode_shared_audio(self.binaries, run.request.source, info,
                                               run.request.work_dir / "audio.m4a", bitrate=top.audio_bitrate,
                                               sample_rate=AUDIO_SAMPLE_RATE, nice=settings.nice,
                                               time_limit=time_limit)
        argv = build_copy_argv(self.binaries.ffmpeg, run.request.source, info, folder,
                               segment_seconds=settings.segment_seconds, segment_type=plan.segment_type,
                               copy_audio=choice.copy_audio, shared_audio=shared)
        await run_ffmpeg(argv, duration=info.duration, nice=settings.nice, time_limit=time_limit,
                         on_progress=lambda f: run.progress(f * COPY_SHARE))
        copied = self._measure(run, name, width, height)
        log.info("job %d: copied rendition %s (%dx%d) in %.1f s", run.request.job_id, name, width, height,
                 time.monotonic() - started)
        starts = segment_starts(folder / "index.m3u8", choice.scan, info.start_time)
        run.variants = [copied.variant]
        run.tracks = await self._subtitles(run.request, info, run.out, await self._mpegts_offset(run.out, plan, name),
                                           run.files, run.warnings)
        run.state.mark_done({name})
        if lower and run.request.on_partial is not None:
            self._write_master(run)
            run.state.renditions[-1].ready = True
            run.report()
            await run.request.on_partial(list(run.files), info.duration)
        if not lower:
            return
        lower_plan = replace(plan, renditions=lower)
        await self._encode(run, lower_plan, share=(COPY_SHARE, LADDER_SHARE),
                           keyframe_times=forced_keyframes(starts, choice.scan.frame_duration),
                           copy_audio=choice.copy_audio, shared_audio=shared)
        measured = [self._measure(run, r.name, r.width, r.height) for r in lower]
        for r, m in zip(lower, measured, strict=True):
            if (wrong := misalignment(copied.durations, m.durations, choice.scan.frame_duration)) is not None:
                raise _NotAligned(f"rendition {r.name}: {wrong}")
        run.variants = [m.variant for m in measured] + run.variants

    async def _encode(self, run: _Job, plan: LadderPlan, *, share: tuple[float, float],
                      keyframe_times: str | None = None, copy_audio: bool = False,
                      shared_audio: SharedAudio | None = None) -> None:
        settings = run.request.settings
        for r in plan.renditions:
            (run.out / r.name).mkdir(exist_ok=True)
        argv = build_ladder_argv(self.binaries.ffmpeg, run.request.source, run.info, plan, run.out,
                                 encoder=run.encoder, keyframe_times=keyframe_times, copy_audio=copy_audio,
                                 shared_audio=shared_audio)
        names = {r.name for r in plan.renditions}
        low, high = share

        def on_progress(fraction: float) -> None:
            run.state.set_progress(names, fraction)
            run.progress(low + fraction * (high - low))
            run.report()

        started = time.monotonic()
        await run_ffmpeg(argv, duration=run.info.duration, nice=settings.nice,
                         time_limit=settings.max_runtime_factor * run.info.duration + 300, on_progress=on_progress)
        run.state.mark_done(names)
        log.info("job %d: encoded %s of %.1f s with %s in %.1f s", run.request.job_id, "/".join(sorted(names)),
                 run.info.duration, run.encoder.name, time.monotonic() - started)

    # ---- ladder outputs ------------------------------------------------------------------------------------
    def _measure(self, run: _Job, name: str, width: int, height: int) -> Measured:
        m = measure(run.out / name, width=width, height=height, frame_rate=float(run.plan.frame_rate),
                    segment_type=run.plan.segment_type, has_audio=run.plan.has_audio, duration=run.info.duration)
        kind = f"transcoded_{name}"
        run.files.extend(OutputFile(f"{name}/{n}", kind, mime_for(n)) for n in m.names)
        return m

    def _write_master(self, run: _Job) -> None:
        (run.out / "master.m3u8").write_text(hls.render_master(run.variants, run.tracks), encoding="utf-8")
        if not any(f.file_type == "master_playlist" for f in run.files):
            run.files.append(OutputFile("master.m3u8", "master_playlist", PLAYLIST_MIME))

    async def _mpegts_offset(self, out: Path, plan: LadderPlan, name: str | None = None) -> int | None:
        if plan.segment_type != "mpegts":
            return None
        first = out / (name or plan.renditions[0].name) / f"seg_00001.{plan.segment_extension}"
        return await mpegts_start_offset(self.binaries.ffmpeg, first)

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
