"""Upload throughput and memory of the chunk API, against references measured in the same run.

Uploads a generated 1 GiB file in 8 MiB chunks over loopback to a real ``python -m kdrama_tui serve``
(SQLite, local disk), sequentially and 4 in parallel, and prints MB/s next to:
  (a) a bare aiohttp handler (run here as a separate process too) that only streams each body through
      SHA-256 to disk and fsyncs: the target is >= 80% of it, sequential and parallel;
  (b) hashlib SHA-256 speed, and (c) the disk's write + fsync speed: the ratio to min(b, c) is printed.
Then measures the server's RSS growth during a 2 GiB upload (4 in parallel; target < 64 MB).

tus rows: the same tus client (bench/tus_bench.py: 8 MiB PATCHes, no Upload-Checksum) against kdrama-tui's
/api/tus/ and the official tus Node server (@tus/server + FileStore, a devDependency: `npm ci`), started
here on 127.0.0.1, one 1 GiB upload and 4 uploads of 256 MiB at once; the target is >= 1.0x of it, while
kdrama-tui fsyncs every PATCH and the Node server does not. Time runs from the first POST to the last
answer, so kdrama-tui's include assembling each file and handing it to the library.

    /work/main/.venv/bin/python bench/upload.py [--size-mib 1024] [--rounds 3] [--dir /path/on/the/disk]
                                                [--only tus]

Chunk checksums are computed before timing, so the client does the same work for both servers.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.tus_bench import tus_run  # noqa: E402

MiB = 1024 * 1024
CHUNK = 8 * MiB


# ---- reference (a): the bare handler, run as its own process --------------------------------------------
def bare_server(port: int, folder: Path) -> None:
    async def put(request: web.Request) -> web.Response:
        digest = hashlib.sha256()
        path = folder / f"chunk_{request.match_info['n']}"
        with path.open("wb") as f:
            async for data in request.content.iter_any():
                digest.update(data)
                f.write(data)
            f.flush()
            os.fsync(f.fileno())
        return web.json_response({"sha256": digest.hexdigest()})

    app = web.Application()
    app.router.add_put("/put/{n}", put)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


# ---- helpers --------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_file(path: Path, size: int) -> list[str]:
    """A random file; returns the SHA-256 of each 8 MiB chunk."""
    sums = []
    with path.open("wb") as f:
        for offset in range(0, size, CHUNK):
            block = os.urandom(min(CHUNK, size - offset))
            sums.append(hashlib.sha256(block).hexdigest())
            f.write(block)
    return sums


def sha256_speed(size: int) -> float:
    block = os.urandom(CHUNK)
    digest = hashlib.sha256()
    start = time.perf_counter()
    for _ in range(size // CHUNK):
        digest.update(block)
    return size / (time.perf_counter() - start) / 1e6


def disk_speed(folder: Path, size: int) -> float:
    block = os.urandom(CHUNK)
    path = folder / "disk-speed.bin"
    start = time.perf_counter()
    with path.open("wb") as f:
        for _ in range(size // CHUNK):
            f.write(block)
        f.flush()
        os.fsync(f.fileno())
    elapsed = time.perf_counter() - start
    path.unlink()
    return size / elapsed / 1e6


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


async def wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(400):
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}")
            try:
                async with session.get(url) as response:
                    if response.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} never answered")


async def send_chunks(session: aiohttp.ClientSession, source: Path, sums: list[str], total: int,
                      url_of: object, headers: dict[str, str], parallel: int,
                      on_tick: object = None) -> float:
    """PUT every chunk of a ``total``-byte upload (the file repeats past its end); returns seconds."""
    fd = os.open(source, os.O_RDONLY)
    file_size = os.fstat(fd).st_size
    numbers = list(range(-(-total // CHUNK)))
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in numbers:
        queue.put_nowait(n)

    async def worker() -> None:
        while not queue.empty():
            n = queue.get_nowait()
            offset = (n * CHUNK) % file_size
            size = min(CHUNK, total - n * CHUNK)
            body = await asyncio.to_thread(os.pread, fd, size, offset)
            async with session.put(url_of(n), data=body,  # type: ignore[operator]
                                   headers={**headers, "X-Chunk-SHA256": sums[(offset // CHUNK)]}) as r:
                if r.status != 200:
                    raise RuntimeError(f"chunk {n}: {r.status} {await r.text()}")
            if on_tick is not None:
                on_tick()  # type: ignore[operator]

    start = time.perf_counter()
    try:
        await asyncio.gather(*(worker() for _ in range(parallel)))
    finally:
        os.close(fd)
    return time.perf_counter() - start


# ---- the runs -------------------------------------------------------------------------------------------
async def tus_rows(results: dict[str, list[float]], base: str, key: str, pid: int, node_url: str,
                   node_dir: Path, source: Path, size: int) -> None:
    """One round of the tus rows: the Node server and kdrama-tui, sequential then 4 in parallel."""
    for mode, parallel in (("seq", 1), ("par", 4)):
        mbps, _ = await tus_run(node_url, {}, source, size, parallel)
        results[f"node_tus_{mode}"].append(mbps)
        shutil.rmtree(node_dir, ignore_errors=True)
        node_dir.mkdir()
        before, peak = rss_bytes(pid), 0

        async def sampler() -> None:
            nonlocal peak
            while True:
                peak = max(peak, rss_bytes(pid))
                await asyncio.sleep(0.02)

        task = asyncio.create_task(sampler())
        try:
            mbps, final = await tus_run(base + "/api/tus/", {"X-API-Key": key}, source, size, parallel)
        finally:
            task.cancel()
        results[f"kd_tus_{mode}"].append(mbps)
        results["tus_final"].append(final)
        results["tus_rss"].append((peak - before) / MiB)


def print_tus(m: dict[str, float], size: int) -> None:
    print()
    print(f"{'tus, 8 MiB PATCHes, no Upload-Checksum':42}{'MB/s':>9}{'ratio':>9}")
    for label, mode in (("one upload", "seq"), ("4 uploads at once", "par")):
        ref, ours = m[f"node_tus_{mode}"], m[f"kd_tus_{mode}"]
        verdict = "ok" if ours >= ref else "BELOW 1.0x TARGET"
        print(f"{'@tus/server + FileStore, ' + label:42}{ref:9.0f}")
        print(f"{'kdrama-tui /api/tus/, ' + label:42}{ours:9.0f}{ours / ref:9.2f}  {verdict}  (kdrama-tui/@tus)")
    print(f"kdrama-tui's final PATCH (assembly + hand-off of {size / MiB:.0f} MiB or a quarter): "
          f"{m['tus_final']:.2f} s median; server RSS growth during a tus run: {m['tus_rss']:.1f} MiB median")


async def bare_run(port: int, folder: Path, source: Path, sums: list[str], size: int, parallel: int) -> float:
    async with aiohttp.ClientSession() as session:
        seconds = await send_chunks(session, source, sums, size, lambda n: f"http://127.0.0.1:{port}/put/{n}",
                                    {}, parallel)
    for path in folder.glob("chunk_*"):
        path.unlink()
    return size / seconds / 1e6


async def kdrama_session(session: aiohttp.ClientSession, base: str, key: str, size: int) -> dict[str, object]:
    async with session.post(base + "/api/uploads", headers={"X-API-Key": key}, json={
            "filename": "bench.mkv", "total_size": size, "total_chunks": -(-size // CHUNK)}) as r:
        if r.status != 201:
            raise RuntimeError(f"create: {r.status} {await r.text()}")
        return await r.json()


async def kdrama_run(base: str, key: str, source: Path, sums: list[str], size: int,
                     parallel: int) -> tuple[float, float]:
    """(MB/s of the chunk PUTs, seconds of complete: assembly + hashing + hand-off)."""
    headers = {"X-API-Key": key}
    async with aiohttp.ClientSession() as session:
        upload = await kdrama_session(session, base, key, size)
        seconds = await send_chunks(session, source, sums, size,
                                    lambda n: f"{base}/api/uploads/{upload['id']}/chunks/{n}", headers, parallel)
        start = time.perf_counter()
        async with session.post(f"{base}/api/uploads/{upload['id']}/complete", headers=headers) as r:
            if r.status != 202:
                raise RuntimeError(f"complete: {r.status} {await r.text()}")
        complete = time.perf_counter() - start
    return size / seconds / 1e6, complete


async def rss_run(base: str, key: str, pid: int, source: Path, sums: list[str], size: int) -> tuple[int, int, int]:
    """(RSS before, peak RSS during, RSS after) of the server while a ``size``-byte upload arrives."""
    headers = {"X-API-Key": key}
    before = rss_bytes(pid)
    peak = before

    def sample() -> None:
        nonlocal peak
        peak = max(peak, rss_bytes(pid))

    async def sampler() -> None:
        while True:
            sample()
            await asyncio.sleep(0.02)

    task = asyncio.create_task(sampler())
    try:
        async with aiohttp.ClientSession() as session:
            upload = await kdrama_session(session, base, key, size)
            await send_chunks(session, source, sums, size,
                              lambda n: f"{base}/api/uploads/{upload['id']}/chunks/{n}", headers, 4, sample)
            async with session.post(f"{base}/api/uploads/{upload['id']}/complete", headers=headers) as r:
                if r.status != 202:
                    raise RuntimeError(f"complete: {r.status} {await r.text()}")
    finally:
        task.cancel()
    return before, peak, rss_bytes(pid)


async def create_key(data_dir: Path) -> str:
    from kdrama_tui.config import load_settings
    from kdrama_tui.services.container import build_services

    settings = load_settings(env={"KDRAMA_DATA_DIR": str(data_dir), "KDRAMA_SECURITY_BCRYPT_ROUNDS": "4"})
    svc = await build_services(settings)
    try:
        user = await svc.accounts.create_user("bench", "bench@example.com", "bench password 123")
        key, _ = await svc.accounts.issue_api_key(user.id)
        return key
    finally:
        await svc.close()


def start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(argv, env=env, cwd=ROOT, stdout=out, stderr=out)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def main(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="kdrama-bench-", dir=args.dir))
    size = args.size_mib * MiB
    try:
        print(f"work dir {work} ({shutil.disk_usage(work).free / 1e9:.0f} GB free), {size / MiB:.0f} MiB upload, "
              f"{CHUNK // MiB} MiB chunks, {args.rounds} round(s), medians shown", flush=True)
        source = work / "source.bin"
        sums = make_file(source, size)
        bare_dir = work / "bare"
        bare_dir.mkdir()
        data_dir = work / "data"
        key = await create_key(data_dir)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        bare_port, kd_port, node_port = free_port(), free_port(), free_port()
        bare = start([sys.executable, __file__, "--bare-server", str(bare_port), str(bare_dir)], env,
                     work / "bare.log")
        node_dir = work / "tus-node"
        node_dir.mkdir()
        node = start(["node", str(ROOT / "bench" / "tus_node_server.mjs"), str(node_port), str(node_dir)], env,
                     work / "tus-node.log")
        kd = start([sys.executable, "-m", "kdrama_tui", "serve"],
                   {**env, "KDRAMA_DATA_DIR": str(data_dir), "KDRAMA_SERVER_PORT": str(kd_port),
                    "KDRAMA_INGEST_ENABLED": "false", "KDRAMA_BACKUP_ENABLED": "false"}, work / "server.log")
        try:
            base = f"http://127.0.0.1:{kd_port}"
            node_url = f"http://127.0.0.1:{node_port}/files"
            await wait_ready(f"http://127.0.0.1:{bare_port}/", bare)
            await wait_ready(base + "/healthz", kd)
            await wait_ready(node_url, node)
            # Memory first, on the fresh server: growth from start-up, not from an already warmed process.
            before, peak, after = (await rss_run(base, key, kd.pid, source, sums, 2 * size) if args.only != "tus"
                                   else (0, 0, 0))
            shutil.rmtree(data_dir / "media" / "originals", ignore_errors=True)
            results: dict[str, list[float]] = {k: [] for k in (
                "sha256", "disk", "bare_seq", "kd_seq", "bare_par", "kd_par", "complete",
                "node_tus_seq", "kd_tus_seq", "node_tus_par", "kd_tus_par", "tus_final", "tus_rss")}
            for _ in range(args.rounds):  # interleaved, so drift on a shared machine hits all alike
                await tus_rows(results, base, key, kd.pid, node_url, node_dir, source, size)
                shutil.rmtree(data_dir / "media" / "originals", ignore_errors=True)
                if args.only == "tus":
                    continue
                results["sha256"].append(sha256_speed(size))
                results["disk"].append(disk_speed(work, size))
                results["bare_seq"].append(await bare_run(bare_port, bare_dir, source, sums, size, 1))
                mbps, complete = await kdrama_run(base, key, source, sums, size, 1)
                results["kd_seq"].append(mbps)
                results["complete"].append(complete)
                results["bare_par"].append(await bare_run(bare_port, bare_dir, source, sums, size, 4))
                mbps, complete = await kdrama_run(base, key, source, sums, size, 4)
                results["kd_par"].append(mbps)
                results["complete"].append(complete)
                shutil.rmtree(data_dir / "media" / "originals", ignore_errors=True)  # keep the disk free
        finally:
            stop(kd)
            stop(bare)
            stop(node)
        m = {k: statistics.median(v) for k, v in results.items() if v}
        print_tus(m, size)
        if args.only == "tus":
            return
        floor = min(m["sha256"], m["disk"])
        print()
        print(f"{'':42}{'MB/s':>9}{'vs (a)':>9}{'vs min(b,c)':>13}")
        print(f"{'(b) hashlib SHA-256, 8 MiB blocks':42}{m['sha256']:9.0f}")
        print(f"{'(c) disk write + fsync':42}{m['disk']:9.0f}")
        for label, mode in (("sequential", "seq"), ("4 in parallel", "par")):
            ref, ours = m[f"bare_{mode}"], m[f"kd_{mode}"]
            print(f"{'(a) bare aiohttp handler, ' + label:42}{ref:9.0f}{'':9}{ref / floor:13.2f}")
            verdict = "ok" if ours >= 0.8 * ref else "BELOW 80% TARGET"
            print(f"{'kdrama-tui chunk API, ' + label:42}{ours:9.0f}{ours / ref:9.2f}{ours / floor:13.2f}  {verdict}")
        print(f"\ncomplete (assemble {size / MiB:.0f} MiB, hash, hand off): {m['complete']:.2f} s median")
        growth = (peak - before) / MiB
        print(f"server RSS during a {2 * size / MiB:.0f} MiB upload (4 in parallel) on a fresh server: "
              f"{before / MiB:.0f} MiB before, peak {peak / MiB:.0f} MiB, {after / MiB:.0f} MiB after; "
              f"growth {growth:.1f} MiB ({'ok' if growth * MiB < 64e6 else 'ABOVE 64 MB TARGET'})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", default=None, help="where to put the files (default: the temp folder)")
    parser.add_argument("--only", choices=["tus"], help="only the tus rows")
    parser.add_argument("--bare-server", nargs=2, metavar=("PORT", "DIR"), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.bare_server:
        bare_server(int(arguments.bare_server[0]), Path(arguments.bare_server[1]))
    else:
        asyncio.run(main(arguments))
