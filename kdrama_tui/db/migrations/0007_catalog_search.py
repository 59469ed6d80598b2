"""0007: what catalog search and the viewer pages need.

- videos.search_text: title, description and actor names, Unicode-normalised (NFKC) and case-folded in
  Python when a video is written (``repositories/videos.py``). SQLite's ``lower()``/``LIKE`` fold ASCII
  only and PostgreSQL's depend on the collation, so folding once in Python makes search behave the same on
  both databases, for "Crash Landing" and "사랑의 불시착" alike (NFKC also joins decomposed Hangul jamo,
  as macOS file names carry them, into the syllables users type).
- videos.actors_text: the folded actor names one per line, for the ``actor=`` filter.
- Rows that existed before this migration get both columns from ``CatalogService.backfill_search()`` at
  start-up (folding needs Python, which a SQL migration cannot call).
- idx_videos_listing: the anonymous catalog ("public and ready, newest first") is the hottest query.
- idx_video_analytics_viewed: views per day over all videos (the admin statistics).
- idx_comments_pending: the moderation queue (comments waiting for approval).
"""

SQLITE = """
ALTER TABLE videos ADD COLUMN search_text TEXT;
ALTER TABLE videos ADD COLUMN actors_text TEXT;
CREATE INDEX idx_videos_listing ON videos(status, is_public, created_at);
CREATE INDEX idx_video_analytics_viewed ON video_analytics(viewed_at);
CREATE INDEX idx_comments_pending ON comments(is_approved, created_at);
"""

POSTGRESQL = """
ALTER TABLE videos ADD COLUMN search_text TEXT;
ALTER TABLE videos ADD COLUMN actors_text TEXT;
CREATE INDEX idx_videos_listing ON videos(status, is_public, created_at);
CREATE INDEX idx_video_analytics_viewed ON video_analytics(viewed_at);
CREATE INDEX idx_comments_pending ON comments(is_approved, created_at);
"""
