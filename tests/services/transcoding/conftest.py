"""The queue and workers run real ffmpeg on small clips made once per session."""

from tests.support.clips import clips  # noqa: F401  (fixture)
