"""0011: ``transcoding_jobs.ladder``: which path a transcode took and where each of its renditions stands.

A source whose H.264 browsers play keeps its own video as the top rendition, and the video becomes playable
as soon as that copied rendition is published, long before the encoded ones are done. Admins then need to
see, per job, which path was taken and why (``path``, ``reason``), the video encoder, and per rendition
whether it is already listed in the master playlist (``ready``) or how far its encode is (``progress``):
a JSON object, written by the worker holding the job with its heartbeat, so every process (the dashboard's
server, other workers) reads the same state. NULL for jobs that have not started (and older ones).
"""

SQLITE = """
ALTER TABLE transcoding_jobs ADD COLUMN ladder TEXT CHECK (ladder IS NULL OR json_valid(ladder));
"""

POSTGRESQL = """
ALTER TABLE transcoding_jobs ADD COLUMN ladder JSONB;
"""
