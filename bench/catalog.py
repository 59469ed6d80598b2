"""Catalog search latency with 10,000 videos, against a primary-key page measured in the same run.

    .venv/bin/python bench/catalog.py [--videos 10000] [--series 1000 --episodes 16] [--database-url postgresql://...]

Fills a fresh database (SQLite under a temp folder by default) with Korean and English titles, actors and
descriptions, then times pages of ``CatalogService.search`` for anonymous, owner and admin callers with the
filters the API offers. Prints the median and 95th percentile per query, the ratio to the reference query
(``SELECT * FROM videos ORDER BY id LIMIT 24``) and to the 50 ms budget. The series cases add 1,000
series of 16 episodes (Hangul titles with English alternative titles) and time ``GET /api/series``
pages (plain, by romanized name, by initial consonants, by genre), one series' page and the catalog with
series grouped.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kdrama_tui.config import load_settings  # noqa: E402
from kdrama_tui.repositories.videos import search_columns  # noqa: E402
from kdrama_tui.services.catalog.service import ANONYMOUS, Viewer  # noqa: E402
from kdrama_tui.services.container import build_services  # noqa: E402
from kdrama_tui.services.series.episodes import derived_columns  # noqa: E402

BUDGET_MS = 50.0
WORDS_KO = ["사랑", "불시착", "도깨비", "비밀", "의사", "변호사", "왕", "여름", "바다", "시간", "기억", "별",
            "꽃", "달"]
WORDS_EN = ["love", "crash", "goblin", "secret", "doctor", "lawyer", "king", "summer", "sea", "time", "memory"]
ACTORS = ["현빈", "손예진", "Gong Yoo", "Kim Go-eun", "Song Joong-ki", "Park Shin-hye", "이민호", "전지현",
          "Lee Jong-suk", "IU", "Park Seo-joon", "김태리"]
GENRES = ["Romance", "Comedy", "Thriller", "Fantasy", "Historical", "Medical", "Legal", "Action"]


async def fill(svc, count: int, owners: list[int]) -> None:
    rng = random.Random(7)  # the same catalog every run
    rows = []
    for i in range(count):
        title = f"{rng.choice(WORDS_KO)} {rng.choice(WORDS_EN).title()} {i}"
        description = " ".join(rng.choice(WORDS_KO + WORDS_EN) for _ in range(30))
        actors = rng.sample(ACTORS, 3)
        rows.append({"title": title, "description": description, "actors": actors, "genre": rng.choice(GENRES),
                     "year": rng.randint(2000, 2024), "uploader_user_id": rng.choice(owners),
                     "status": "ready" if rng.random() < 0.9 else "processing", "is_public": rng.random() < 0.85,
                     **search_columns(title, description, actors)})
    sql = ("INSERT INTO videos (title, description, actors, genre, year, uploader_user_id, status, is_public, "
           "search_text, actors_text) VALUES (:title, :description, :actors, :genre, :year, :uploader_user_id, "
           ":status, :is_public, :search_text, :actors_text)")
    for start in range(0, count, 1000):
        await svc.db.execute_many(sql, rows[start:start + 1000])


async def fill_series(svc, count: int, episodes: int, owners: list[int]) -> int:
    """``count`` series of ``episodes`` public, ready episodes each; returns one series' id."""
    rng = random.Random(11)
    sql = ("INSERT INTO series (title, native_title, alt_titles, year, genres, status, sort_title, title_key, "
           "search_keys, genre_keys) VALUES (:title, :native_title, :alt_titles, :year, :genres, :status, "
           ":sort_title, :title_key, :search_keys, :genre_keys)")
    rows = []
    for i in range(count):
        native = f"{rng.choice(WORDS_KO)}의 {rng.choice(WORDS_KO)} {i}"
        fields = {"title": f"{rng.choice(WORDS_EN).title()} of {rng.choice(WORDS_EN).title()} {i}",
                  "native_title": native, "alt_titles": [f"The {rng.choice(WORDS_EN).title()} {i}"],
                  "year": rng.randint(2000, 2024), "genres": rng.sample(GENRES, 2),
                  "status": rng.choice(["airing", "completed"])}
        rows.append({**fields, **derived_columns(fields)})
    for start in range(0, count, 500):
        await svc.db.execute_many(sql, rows[start:start + 500])
    ids = [int(r["id"]) for r in await svc.db.fetch_all("SELECT id FROM series ORDER BY id")]
    video_sql = ("INSERT INTO videos (title, uploader_user_id, status, is_public, series_id, season_number, "
                 "episode_number, duration_seconds, search_text) VALUES (:title, :owner, 'ready', :public, :sid, 1, "
                 ":n, 3600, :search_text)")
    batch = []
    for sid in ids:
        for n in range(1, episodes + 1):
            batch.append({"title": f"Episode {n}", "owner": rng.choice(owners), "public": True, "sid": sid, "n": n,
                          "search_text": f"episode {n}"})
        if len(batch) >= 2000:
            await svc.db.execute_many(video_sql, batch)
            batch = []
    if batch:
        await svc.db.execute_many(video_sql, batch)
    return ids[len(ids) // 2]


async def timed(fn, repeat: int) -> list[float]:
    await fn()  # warm
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def run(videos: int, database_url: str | None, repeat: int, series: int = 1000, episodes: int = 16) -> bool:
    with tempfile.TemporaryDirectory(prefix="kdrama-catalog-") as tmp:
        env = {"KDRAMA_DATA_DIR": str(Path(tmp) / "data")}
        if database_url:
            env["KDRAMA_DATABASE_URL"] = database_url
        svc = await build_services(load_settings(env=env))
        try:
            owners = [(await svc.accounts.create_user(f"owner{i}", f"o{i}@example.com", "password 12345", "user")).id
                      for i in range(5)]
            started = time.perf_counter()
            await fill(svc, videos, owners)
            print(f"{svc.db.dialect}: {videos} videos inserted in {time.perf_counter() - started:.1f} s")
            one = None
            if series:
                started = time.perf_counter()
                one = await fill_series(svc, series, episodes, owners)
                print(f"{series} series x {episodes} episodes inserted in {time.perf_counter() - started:.1f} s")
            owner = Viewer(user_id=owners[0])
            admin = Viewer(user_id=None, admin=True)
            cases = {
                "anonymous, first page": lambda: svc.catalog.search(ANONYMOUS),
                "anonymous, page 200": lambda: svc.catalog.search(ANONYMOUS, page=200),
                "anonymous, q=사랑": lambda: svc.catalog.search(ANONYMOUS, q="사랑"),
                "anonymous, q=goblin king": lambda: svc.catalog.search(ANONYMOUS, q="goblin king"),
                "anonymous, q=nothing-matches": lambda: svc.catalog.search(ANONYMOUS, q="zzzzqqq"),
                "anonymous, genre+year": lambda: svc.catalog.search(ANONYMOUS, genre="Romance", year=2019),
                "anonymous, actor=gong": lambda: svc.catalog.search(ANONYMOUS, actor="gong"),
                "owner, q=별": lambda: svc.catalog.search(owner, q="별"),
                "admin, status=processing": lambda: svc.catalog.search(admin, status="processing"),
                "anonymous, facets": lambda: svc.catalog.facets(ANONYMOUS),
            }
            if one is not None:
                cases.update({
                    "series, first page": lambda: svc.series.search(ANONYMOUS),
                    "series, page 30": lambda: svc.series.search(ANONYMOUS, offset=24 * 29),
                    "series, q=sarangui": lambda: svc.series.search(ANONYMOUS, q="sarangui"),
                    "series, q=ㅅㄹ": lambda: svc.series.search(ANONYMOUS, q="ㅅㄹ"),
                    "series, q=사랑의 별": lambda: svc.series.search(ANONYMOUS, q="사랑의 별"),
                    "series, genre+status": lambda: svc.series.search(ANONYMOUS, genre="romance", status="airing"),
                    "series, one series' page": lambda: svc.series.detail(one, ANONYMOUS),
                    "catalog grouped by series": lambda: svc.series.catalog_page(ANONYMOUS),
                })
            reference = statistics.median(await timed(
                lambda: svc.db.fetch_all("SELECT * FROM videos ORDER BY id LIMIT 24"), repeat))
            print(f"reference (primary-key page): {reference:.2f} ms")
            print(f"{'query':<32}{'median ms':>10}{'p95 ms':>9}{'x ref':>8}{'of 50 ms':>10}")
            ok = True
            for name, fn in cases.items():
                samples = sorted(await timed(fn, repeat))
                median = statistics.median(samples)
                p95 = samples[int(len(samples) * 0.95) - 1]
                ok = ok and median < BUDGET_MS
                print(f"{name:<32}{median:>10.2f}{p95:>9.2f}{median / reference:>8.1f}{median / BUDGET_MS:>10.0%}")
            return ok
        finally:
            await svc.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=10_000)
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp folder")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--series", type=int, default=1000, help="series to add (0: none)")
    parser.add_argument("--episodes", type=int, default=16, help="episodes per series")
    args = parser.parse_args()
    sys.exit(0 if asyncio.run(run(args.videos, args.database_url, args.repeat, args.series, args.episodes)) else 1)


if __name__ == "__main__":
    main()
