"""/api/openapi.json is a valid OpenAPI 3 document (openapi-spec-validator) with unique operation ids, and
declares the typed request bodies the routes validate with."""

from __future__ import annotations

from collections import Counter

from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate

from tests.support.uploads import client, svc  # noqa: F401 (fixtures)


async def test_the_document_validates(client: TestClient) -> None:  # noqa: F811
    response = await client.get("/api/openapi.json")
    assert response.status == 200
    document = await response.json()
    validate(document)
    ids = Counter(op["operationId"] for item in document["paths"].values() for op in item.values()
                  if isinstance(op, dict) and "operationId" in op)
    assert [name for name, n in ids.items() if n > 1] == []
    assert {"options_api_tus", "options_api_tus_slash", "post_api_tus", "post_api_tus_slash"} <= set(ids)
