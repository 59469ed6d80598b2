"""Route tests: a real app with installed HLS videos, and small clips for the jobs API."""

from tests.support.clips import clips  # noqa: F401  (fixture)
from tests.support.world import hls_source, svc, world  # noqa: F401  (fixtures)
