"""Fixtures of the upload tests (services, HTTP client, uploader accounts) on both databases."""

from tests.support.uploads import client, other, svc, vip  # noqa: F401 (fixtures for this folder)
