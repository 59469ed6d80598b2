"""Streaming tests run a real app on the parametrised database with installed HLS videos."""

from tests.support.world import hls_source, svc, world  # noqa: F401  (fixtures)
