"""A client generated from /api/openapi.json by openapi-python-client, as an integrator would make one, works
against a real server on both databases: log in, create an upload, send its chunk (X-Chunk-SHA256), read the
catalog. A document the generator cannot turn into these calls fails here."""

from __future__ import annotations

import hashlib
import importlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from kdrama_tui.server.app import create_app
from kdrama_tui.services.container import Services
from tests.support.library import ready_video
from tests.support.world import svc  # noqa: F401  (fixture: services on the parametrised database)

PACKAGE = "kdrama_generated_client"


def _generator() -> str:
    beside = Path(sys.executable).with_name("openapi-python-client")
    found = str(beside) if beside.exists() else shutil.which("openapi-python-client")
    assert found, "openapi-python-client is a test dependency: pip install -e '.[test]'"
    return found


def _generate(document: dict[str, Any], where: Path) -> Any:
    (where / "openapi.json").write_text(json.dumps(document))
    result = subprocess.run([_generator(), "generate", "--path", str(where / "openapi.json"),
                             "--output-path", str(where / PACKAGE), "--meta", "none"],
                            capture_output=True, text=True, timeout=120)
    assert (where / PACKAGE / "client.py").exists(), result.stdout + result.stderr
    sys.path.insert(0, str(where))
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        del sys.modules[name]  # the other database's run generated its own copy
    importlib.invalidate_caches()
    return importlib.import_module(PACKAGE)


async def test_a_generated_client_logs_in_uploads_a_chunk_and_reads_the_catalog(
        svc: Services, aiohttp_client: Any, tmp_path: Path) -> None:  # noqa: F811
    http = await aiohttp_client(create_app(svc))
    document = await (await http.get("/api/openapi.json")).json()
    package = _generate(document, tmp_path)
    try:
        client_mod = importlib.import_module(f"{PACKAGE}.client")
        login = importlib.import_module(f"{PACKAGE}.api.auth.post_api_auth_login")
        create = importlib.import_module(f"{PACKAGE}.api.uploads.post_api_uploads")
        chunk = importlib.import_module(f"{PACKAGE}.api.uploads.put_api_uploads_id_chunks_n")
        catalog = importlib.import_module(f"{PACKAGE}.api.videos.get_api_videos")
        models = importlib.import_module(f"{PACKAGE}.models")
        types = importlib.import_module(f"{PACKAGE}.types")
        minji = await svc.accounts.create_user("minji", "minji@example.com", "correct horse battery", "user")
        base = str(http.make_url("")).rstrip("/")

        anonymous = client_mod.Client(base_url=base)
        signed_in = await login.asyncio_detailed(
            client=anonymous, body=models.PostApiAuthLoginBody(username="minji", password="correct horse battery"))
        assert signed_in.status_code == 200, signed_in.content
        token = json.loads(signed_in.content)["access_token"]
        wrong = await login.asyncio_detailed(
            client=anonymous, body=models.PostApiAuthLoginBody(username="minji", password="not it at all"))
        assert wrong.status_code == 401

        user = client_mod.AuthenticatedClient(base_url=base, token=token)
        data = b"\x1aE\xdf\xa3 one small chunk" * 100
        created = await create.asyncio_detailed(client=user, body=models.PostApiUploadsBody(
            filename="Crash Landing on You E01.mkv", total_size=len(data), total_chunks=1))
        assert created.status_code == 201, created.content
        upload_id = json.loads(created.content)["id"]
        # bytes, not a file object: httpx's async client cannot send a synchronous file
        sent = await chunk.asyncio_detailed(id=upload_id, n=0, client=user, body=types.File(payload=data),
                                            x_chunk_sha256=hashlib.sha256(data).hexdigest())
        assert sent.status_code == 200, sent.content
        assert json.loads(sent.content)["status"] == "verified"
        bad = await chunk.asyncio_detailed(id=upload_id, n=0, client=user,
                                           body=types.File(payload=data), x_chunk_sha256="0" * 64)
        assert bad.status_code >= 400  # a wrong checksum is refused, through the generated call too
        status = importlib.import_module(f"{PACKAGE}.api.uploads.get_api_uploads_id")
        shown = json.loads((await status.asyncio_detailed(id=upload_id, client=user)).content)
        assert shown["bytes_verified"] == len(data) and shown["uploaded_chunks"] == [0]

        video = await ready_video(svc, minji.id, "Crash Landing on You")
        listed = await catalog.asyncio_detailed(client=anonymous, q="Crash")
        assert listed.status_code == 200
        assert [v["id"] for v in json.loads(listed.content)["items"]] == [video.id]
    finally:
        sys.path.remove(str(tmp_path))
        assert package is not None
