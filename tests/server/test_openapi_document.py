"""/api/openapi.json is a valid OpenAPI 3 document (openapi-spec-validator) with unique operation ids, and
declares the typed request bodies the routes validate with."""

from __future__ import annotations

from collections import Counter

from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate

from kdrama_tui.server import bodies
from tests.support.uploads import Account, client, svc, vip  # noqa: F401 (fixtures)


async def test_the_document_validates(client: TestClient) -> None:  # noqa: F811
    response = await client.get("/api/openapi.json")
    assert response.status == 200
    document = await response.json()
    validate(document)
    ids = Counter(op["operationId"] for item in document["paths"].values() for op in item.values()
                  if isinstance(op, dict) and "operationId" in op)
    assert [name for name, n in ids.items() if n > 1] == []
    assert {"options_api_tus", "options_api_tus_slash", "post_api_tus", "post_api_tus_slash"} <= set(ids)


async def test_the_upload_and_auth_bodies_come_from_the_models(client: TestClient) -> None:  # noqa: F811
    document = await (await client.get("/api/openapi.json")).json()
    paths = document["paths"]
    body = paths["/api/uploads"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == bodies.openapi_schema(bodies.UploadCreate)
    assert body["required"] == ["filename", "total_size", "total_chunks"]
    assert body["properties"]["total_size"]["minimum"] == 1 and body["properties"]["sha256"]["nullable"] is True
    assert "title" in body["properties"]["metadata"]["properties"]
    login = paths["/api/auth/login"]["post"]
    assert login["requestBody"]["content"]["application/json"]["schema"] == bodies.openapi_schema(bodies.LoginBody)
    pair = login["responses"]["200"]["content"]["application/json"]["schema"]
    assert pair["properties"]["token_type"] == {"type": "string", "enum": ["Bearer"]}
    assert set(pair["required"]) == {"access_token", "refresh_token", "token_type", "expires_in"}


async def test_validation_errors_name_the_field(client: TestClient, vip: Account) -> None:  # noqa: F811
    response = await client.post("/api/auth/login", json={"username": 5, "password": "x"})
    error = (await response.json())["error"]
    assert response.status == 400 and error["code"] == "invalid_input"
    assert error["message"].startswith("username:") and error["details"]["errors"][0]["field"] == "username"
    response = await client.post("/api/auth/refresh", json={"refresh_token": ""})
    assert response.status == 400 and (await response.json())["error"]["details"]["errors"][0]["field"] == \
        "refresh_token"
    response = await client.post("/api/uploads", headers=vip.headers, json={
        "filename": "a.mkv", "total_size": "10", "total_chunks": 1.5})
    error = (await response.json())["error"]
    assert response.status == 400 and error["code"] == "invalid_size"  # the API's code for the first field
    assert [e["field"] for e in error["details"]["errors"]] == ["total_size", "total_chunks"]
