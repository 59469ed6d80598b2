"""Series service tests run on the parametrised database with a real app and installed HLS videos."""

from tests.support.world import hls_source, svc, world  # noqa: F401  (fixtures)
