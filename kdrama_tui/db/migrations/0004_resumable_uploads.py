"""0004: what resumable uploads (chunk API and tus 1.0) need beyond the seed's ``uploads`` table.

New ``uploads`` columns, and why:
- ``token``: 192 random bits naming the upload's folder under ``uploads_dir`` and its tus URL
  (``/api/tus/<token>``). A tus URL acts as a capability, so it must not be a guessable serial id; the
  owner is still checked on every request.
- ``protocol`` (``chunk`` | ``tus``): the two protocols store bytes the same way (parts in
  ``upload_chunks``) but differ in how parts are numbered and sized.
- ``metadata``: the video metadata given at creation (title, year, actors...), validated then and handed
  to the library when the upload completes; nothing about the video exists before that.
- ``chunk_size``: ``ceil(total_size / total_chunks)`` for the chunk API, fixed at creation so every PUT
  can be checked against it; NULL for tus, whose PATCH bodies vary.
- ``bytes_received``: verified bytes, kept in step with ``upload_chunks`` in the same transaction; for tus
  it is the ``Upload-Offset``.
- ``expected_sha256``: optional whole-file SHA-256 given at creation, checked after assembly.
- ``updated_at`` / ``expires_at``: every verified part pushes ``expires_at`` forward by
  ``uploads.expire_hours``; the cleanup task deletes the bytes of sessions idle past it (tus expiration
  extension: the ``Upload-Expires`` header).
- ``error_message``: why a session failed (e.g. the whole-file checksum did not match).
- ``status`` gains ``assembling`` (all parts are in and the file is being put together: a crash here is
  redone on the next ``complete`` or by the cleanup task), ``aborted`` (DELETE) and ``expired`` (swept).
  Terminal rows are kept, without their bytes, as the history of who sent what.

For tus uploads ``total_chunks`` counts the PATCH segments stored so far (at least 1), since the number
of parts is not known in advance. ``upload_chunks.chunk_size`` becomes BIGINT on PostgreSQL so that any
allowed ``uploads.max_chunk_size`` fits.

SQLite cannot alter a CHECK constraint, so ``uploads`` is rebuilt. Dropping the old table would, with
foreign keys on, delete its ``upload_chunks`` rows through ON DELETE CASCADE, so ``upload_chunks`` is
rebuilt first against the new table (create, copy, drop both old tables, rename; SQLite rewrites the
reference on rename), all inside the migration's transaction.
"""

_STATUSES = "'pending', 'uploading', 'assembling', 'completed', 'failed', 'aborted', 'expired'"

SQLITE = f"""
CREATE TABLE uploads_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    video_id INTEGER REFERENCES videos(id) ON DELETE SET NULL,
    filename VARCHAR(255) NOT NULL CHECK (length(filename) <= 255),
    total_size BIGINT NOT NULL CHECK (total_size >= 0),
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
    error_message TEXT
);
INSERT INTO uploads_new (id, user_id, video_id, filename, total_size, total_chunks, uploaded_chunks, status,
                         created_at, completed_at, token, chunk_size, bytes_received, updated_at, expires_at)
    SELECT u.id, u.user_id, u.video_id, u.filename, u.total_size, u.total_chunks, u.uploaded_chunks, u.status,
           u.created_at, u.completed_at, lower(hex(randomblob(24))),
           max(1, (u.total_size + u.total_chunks - 1) / u.total_chunks),
           (SELECT coalesce(sum(c.chunk_size), 0) FROM upload_chunks c
             WHERE c.upload_id = u.id AND c.status = 'verified'),
           u.created_at,
           CASE WHEN u.status IN ('pending', 'uploading') THEN u.created_at END
    FROM uploads u;
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
ALTER TABLE uploads DROP CONSTRAINT uploads_status_check;
ALTER TABLE uploads ADD CONSTRAINT uploads_status_check CHECK (status IN ({_STATUSES}));
ALTER TABLE uploads ADD COLUMN token VARCHAR(64);
UPDATE uploads SET token = replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '');
ALTER TABLE uploads ALTER COLUMN token SET NOT NULL;
ALTER TABLE uploads ADD CONSTRAINT uploads_token_key UNIQUE (token);
ALTER TABLE uploads ADD CONSTRAINT uploads_token_length_check CHECK (length(token) BETWEEN 22 AND 64);
ALTER TABLE uploads ADD COLUMN protocol VARCHAR(10) NOT NULL DEFAULT 'chunk'
    CONSTRAINT uploads_protocol_check CHECK (protocol IN ('chunk', 'tus'));
ALTER TABLE uploads ADD COLUMN metadata JSONB NOT NULL DEFAULT '{{}}';
ALTER TABLE uploads ADD COLUMN chunk_size BIGINT CHECK (chunk_size IS NULL OR chunk_size >= 1);
UPDATE uploads SET chunk_size = GREATEST(1, (total_size + total_chunks - 1) / total_chunks);
ALTER TABLE uploads ADD COLUMN bytes_received BIGINT NOT NULL DEFAULT 0 CHECK (bytes_received >= 0);
UPDATE uploads u SET bytes_received = (SELECT coalesce(sum(c.chunk_size), 0) FROM upload_chunks c
                                        WHERE c.upload_id = u.id AND c.status = 'verified');
ALTER TABLE uploads ADD COLUMN expected_sha256 VARCHAR(64)
    CHECK (expected_sha256 IS NULL OR length(expected_sha256) = 64);
ALTER TABLE uploads ADD COLUMN updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP;
UPDATE uploads SET updated_at = created_at;
ALTER TABLE uploads ADD COLUMN expires_at TIMESTAMPTZ;
UPDATE uploads SET expires_at = created_at WHERE status IN ('pending', 'uploading');
ALTER TABLE uploads ADD COLUMN error_message TEXT;
ALTER TABLE upload_chunks ALTER COLUMN chunk_size TYPE BIGINT;
CREATE INDEX idx_uploads_expiry ON uploads(status, expires_at);
"""
