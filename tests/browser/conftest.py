"""Browser tests reuse the streaming fixtures and keep each test's report for the failure screenshot."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from tests.streaming.conftest import hls_source, svc, world  # noqa: F401  (fixtures)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[None, Any, Any]:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
