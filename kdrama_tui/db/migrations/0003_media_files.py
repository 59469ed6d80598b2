"""0003: video_files can describe everything the pipeline produces.

The design's ``file_type`` allowed only original / transcoded_720p / transcoded_1080p / thumbnail. The HLS
ladder is configurable (360p, 480p, ... renditions) and also produces playlists, WebVTT subtitles and a
seek-preview sprite, and uploads bring subtitle sidecars. ``file_type`` now accepts the fixed kinds plus
``transcoded_<rendition>``. ``storage_provider`` gains ``s3`` (any S3-compatible endpoint: MinIO, AWS).
``language`` and ``label`` name subtitle tracks (``ko`` / ``Korean``) for the master playlist and player.

SQLite cannot alter a CHECK constraint, so its table is rebuilt (create, copy, drop, rename, re-index)
inside the migration's transaction; nothing references video_files, so no foreign key is disturbed.
"""

_KINDS = ("'original', 'thumbnail', 'sprite', 'sprite_vtt', 'playlist', 'master_playlist', 'subtitle', "
          "'subtitle_source'")
_PROVIDERS = "'wasabi', 'idrive', 'local', 'google_cloud', 's3'"

SQLITE = f"""
CREATE TABLE video_files_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
    file_type TEXT NOT NULL CHECK (file_type IN ({_KINDS})
        OR (file_type LIKE 'transcoded\\_%' ESCAPE '\\' AND length(file_type) <= 30)),
    storage_provider TEXT NOT NULL CHECK (storage_provider IN ({_PROVIDERS})),
    file_path VARCHAR(500) NOT NULL CHECK (length(file_path) <= 500),
    file_size BIGINT NOT NULL CHECK (file_size >= 0),
    checksum VARCHAR(64) NOT NULL CHECK (length(checksum) <= 64),
    mime_type VARCHAR(100),
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    language VARCHAR(20),
    label VARCHAR(100)
);
INSERT INTO video_files_new (id, video_id, file_type, storage_provider, file_path, file_size, checksum,
                             mime_type, created_at)
    SELECT id, video_id, file_type, storage_provider, file_path, file_size, checksum, mime_type, created_at
    FROM video_files;
DROP TABLE video_files;
ALTER TABLE video_files_new RENAME TO video_files;
CREATE INDEX idx_video_files_video ON video_files(video_id);
CREATE INDEX idx_video_files_type ON video_files(file_type);
"""

POSTGRESQL = f"""
ALTER TABLE video_files DROP CONSTRAINT video_files_file_type_check;
ALTER TABLE video_files ADD CONSTRAINT video_files_file_type_check
    CHECK (file_type IN ({_KINDS}) OR file_type LIKE 'transcoded\\_%');
ALTER TABLE video_files DROP CONSTRAINT video_files_storage_provider_check;
ALTER TABLE video_files ADD CONSTRAINT video_files_storage_provider_check
    CHECK (storage_provider IN ({_PROVIDERS}));
ALTER TABLE video_files ADD COLUMN language VARCHAR(20);
ALTER TABLE video_files ADD COLUMN label VARCHAR(100);
"""
