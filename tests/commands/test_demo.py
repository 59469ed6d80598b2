"""``kdrama-tui demo``: three sample clips through the whole pipeline."""

from __future__ import annotations

from pathlib import Path

from kdrama_tui.commands.demo import demo
from kdrama_tui.config import Settings, load_settings
from kdrama_tui.db import open_database
from kdrama_tui.repositories import repos_of
from kdrama_tui.server.app import create_app, start_http
from kdrama_tui.services.container import build_services
from tests.support.ingest import fast_settings, run_cli
from tests.support.postgres import free_port

EXPECTED = [("서울의 밤", 2024), ("Sample Drama S01E02", None), ("Han River Walk", 2023)]


async def check_demo_videos(svc, videos) -> None:
    assert sorted((v.title, v.year) for v in videos) == sorted(EXPECTED)
    by_title = {v.title: v for v in videos}
    subtitles = await repos_of(svc.db).video_files.find_by_video(by_title["서울의 밤"].id, "subtitle_source")
    assert sorted((s.language, s.label) for s in subtitles) == [("en", "English"), ("ko", "Korean")]
    for video in videos:
        (original,) = await repos_of(svc.db).video_files.find_by_video(video.id, "original")
        assert original.file_size > 0
        assert [j.status for j in await repos_of(svc.db).jobs.find_by_video(video.id)] in (["queued"], ["processing"],
                                                                                        ["completed"])
    (mark,) = await repos_of(svc.db).ingested_files.find_by_video(by_title["Sample Drama S01E02"].id)
    assert (mark.show_title, mark.season, mark.episode) == ("Sample Drama", 1, 2)


async def test_demo_without_a_server_runs_the_watcher_itself(settings: Settings) -> None:
    fast_settings(settings)
    settings.server.port = free_port()  # nothing listens there
    lines: list[str] = []
    svc = await build_services(settings)
    try:
        videos = await demo(svc, until="queued", time_limit=120, say=lines.append)
        await check_demo_videos(svc, videos)
        assert any("no server running" in line for line in lines)
        watch = settings.watch_dirs[0]
        assert sorted(p.name for p in watch.iterdir()) == ["failed"], "the watch folder is empty again"
        assert not list((watch / "failed").iterdir())
        assert not list(settings.work_dir.glob("demo-*")), "the scratch clips are gone"

        # Running it again finds the same clips already in the library and drops nothing.
        lines.clear()
        again = await demo(svc, until="queued", time_limit=120, say=lines.append)
        assert sorted(v.id for v in again) == sorted(v.id for v in videos)
        assert sum("already in the library" in line for line in lines) == 3
    finally:
        await svc.close()


async def test_demo_lets_a_running_server_take_the_clips(settings: Settings, tmp_path: Path) -> None:
    fast_settings(settings)
    settings.server.port = free_port()
    server = await build_services(settings)
    runner = await start_http(create_app(server), "127.0.0.1", settings.server.port)
    await server.start_background(queue=False, ingest=True, schedules=False)
    client_settings = fast_settings(load_settings(env={"KDRAMA_DATA_DIR": str(settings.data_dir),
                                                       "KDRAMA_DATABASE_URL": settings.database_url}))
    client_settings.server.port = settings.server.port
    client = await build_services(client_settings)
    lines: list[str] = []
    try:
        videos = await demo(client, until="queued", time_limit=120, say=lines.append)
        await check_demo_videos(client, videos)
        assert any("a server is running" in line for line in lines)
        assert not client.ingester.started, "the demo did not run a second watcher"
        taken = [e.data["name"] for e in server.events.recent(100, prefix="ingest.ingested")]
        assert sorted(taken) == sorted(["서울의 밤 (2024).mp4", "Sample Drama.S01E02.mp4",
                                        "Han River Walk (2023).mkv"])
    finally:
        await client.close()
        await runner.cleanup()
        await server.close()


async def test_demo_on_a_fresh_data_folder_ends_with_3_ready_videos(settings: Settings) -> None:
    """The real command: clips, watch folder, transcode queue, HLS with the subtitles in the ladder."""
    port = str(free_port())
    result = run_cli(settings, "demo", "--timeout", "600", timeout=900,
                     extra_env={"KDRAMA_INGEST_QUIET_SECONDS": "0.5", "KDRAMA_SERVER_PORT": port})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all 3 clips are ready" in result.stdout
    db = await open_database(settings.database_url)
    try:
        videos = await repos_of(db).videos.list(order_by="id")
        assert sorted((v.title, v.year, v.status) for v in videos) == sorted(
            (title, year, "ready") for title, year in EXPECTED)
        korean = next(v for v in videos if v.title == "서울의 밤")
        tracks = await repos_of(db).video_files.find_by_video(korean.id, "subtitle")
        assert {(t.language, t.label) for t in tracks} == {("ko", "Korean"), ("en", "English")}
        (master,) = await repos_of(db).video_files.find_by_video(korean.id, "master_playlist")
    finally:
        await db.close()
    playlist = (settings.media_root / master.file_path).read_text()
    assert 'TYPE=SUBTITLES' in playlist and 'LANGUAGE="ko"' in playlist and 'LANGUAGE="en"' in playlist
    for video in videos:
        assert f"/watch/{video.id}" in result.stdout
