"""The ffmpeg wrappers are tested on small clips made once per session."""

from tests.support.clips import clips  # noqa: F401  (fixture)
