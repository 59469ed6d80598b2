"""0008: ``uploads.total_size`` may be NULL while a tus upload's length is deferred.

tus's ``creation-defer-length`` extension lets a client start an upload before it knows how long it is
(``Upload-Defer-Length: 1``; e.g. a stream being recorded or compressed on the fly) and declare the length
in a later PATCH. Until then the session has no total size, and NULL says exactly that: a placeholder
number (0, or ``uploads.max_size``) would be read as a real size by the disk-space reservation
(``sum(total_size - bytes_received)``), the progress figures and the completion check. A CHECK keeps it
to tus sessions that are still open: the chunk API always knows its size, and nothing is assembled or
completed without one.

SQLite cannot drop a NOT NULL or add a CHECK to an existing table, so ``uploads`` is rebuilt the way 0004
did it: ``upload_chunks`` first (its ON DELETE CASCADE would otherwise empty it when the old ``uploads``
is dropped), then both old tables are dropped and the new ones renamed, inside the migration's
transaction. PostgreSQL only alters the column and adds the constraint.
"""

_STATUSES = "'pending', 'uploading', 'assembling', 'completed', 'failed', 'aborted', 'expired'"
_COLUMNS = ("id, user_id, video_id, filename, total_size, total_chunks, uploaded_chunks, status, created_at, "
            "completed_at, token, protocol, metadata, chunk_size, bytes_received, expected_sha256, updated_at, "
            "expires_at, error_message")
_DEFERRED_CHECK = "total_size IS NOT NULL OR (protocol = 'tus' AND status NOT IN ('assembling', 'completed'))"

SQLITE = f"""
CREATE TABLE uploads_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    video_id INTEGER REFERENCES videos(id) ON DELETE SET NULL,
    filename VARCHAR(255) NOT NULL CHECK (length(filename) <= 255),
    total_size BIGINT CHECK (total_size IS NULL OR total_size >= 0),
    total_chunks INTEGER NOT NULL CHECK (total_chunks >= 1),
    uploaded_chunks TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(uploaded_chunks)),
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ({_STATUSES})),
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    completed_at TEXT,
    token VARCHAR(64) NOT NULL UNIQUE CHECK (length(token) BETWEEN 22 AND 64),
    protocol TEXT NOT NULL DEFAULT 'chunk' CHECK (protocol IN ('chunk', 'tus')),
    metadata TEXT NOT NULL DEFAULT '{{}}' CHECK (json_valid(metadata)),
    chunk_size BIGINT CHECK (chunk_size IS NULL OR chunk_size >= 1),
    bytes_received BIGINT NOT NULL DEFAULT 0 CHECK (bytes_received >= 0),
    expected_sha256 VARCHAR(64) CHECK (expected_sha256 IS NULL OR length(expected_sha256) = 64),
    updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    expires_at TEXT,
    error_message TEXT,
    CONSTRAINT uploads_deferred_length_check CHECK ({_DEFERRED_CHECK})
);
INSERT INTO uploads_new ({_COLUMNS}) SELECT {_COLUMNS} FROM uploads;
CREATE TABLE upload_chunks_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    upload_id INTEGER NOT NULL REFERENCES uploads_new(id) ON DELETE CASCADE,
    chunk_number INTEGER NOT NULL CHECK (chunk_number >= 0),
    chunk_size BIGINT NOT NULL CHECK (chunk_size >= 0),
    checksum VARCHAR(64) NOT NULL CHECK (length(checksum) <= 64),
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'uploaded', 'verified', 'failed')),
    uploaded_at TEXT,
    verified_at TEXT,
    UNIQUE (upload_id, chunk_number)
);
INSERT INTO upload_chunks_new (id, upload_id, chunk_number, chunk_size, checksum, status, uploaded_at, verified_at)
    SELECT id, upload_id, chunk_number, chunk_size, checksum, status, uploaded_at, verified_at FROM upload_chunks;
DROP TABLE upload_chunks;
DROP TABLE uploads;
ALTER TABLE uploads_new RENAME TO uploads;
ALTER TABLE upload_chunks_new RENAME TO upload_chunks;
CREATE INDEX idx_uploads_user ON uploads(user_id);
CREATE INDEX idx_uploads_status ON uploads(status);
CREATE INDEX idx_uploads_expiry ON uploads(status, expires_at);
CREATE INDEX idx_upload_chunks_upload ON upload_chunks(upload_id);
CREATE INDEX idx_upload_chunks_status ON upload_chunks(status);
"""

POSTGRESQL = f"""
ALTER TABLE uploads ALTER COLUMN total_size DROP NOT NULL;
ALTER TABLE uploads ADD CONSTRAINT uploads_deferred_length_check CHECK ({_DEFERRED_CHECK});
"""
