"""0001: the seed design's eleven tables, constraints and indexes.

Deliberate departures from ``database-design.md``, each fixing a slip:
- ``users.role``: the design's ``ENUM('admin', 'useruser') DEFAULT 'user'`` could never hold its own default;
  the roles are ``admin`` and ``user``.
- ENUMs are CHECK constraints on both databases (SQLite has no ENUM; on PostgreSQL a CHECK can be widened
  by a later migration inside a transaction, which ``ALTER TYPE ... ADD VALUE`` cannot always do).
- Timestamps: TIMESTAMPTZ on PostgreSQL; on SQLite UTC text ``YYYY-MM-DD HH:MM:SS[.ffffff]`` (the design's
  ``DEFAULT CURRENT_TIMESTAMP`` writes text, not integers, and text sorts and compares correctly).
- JSON fields: JSONB on PostgreSQL, TEXT holding JSON on SQLite.
- VARCHAR(n) limits are enforced on SQLite with CHECK(length(...)) so both databases refuse the same values.
- ``api_keys.api_key`` and ``user_sessions.refresh_token`` hold SHA-256 hashes, never the secret itself.

Foreign keys, and why each deletes the way it does:
- videos.uploader_user_id RESTRICT: deleting an account must never silently delete a library; deactivate it.
- api_keys, keys, user_sessions, uploads -> users CASCADE: credentials and unfinished sessions mean nothing
  without their user.
- upload_chunks -> uploads CASCADE: chunk records belong to their session.
- uploads.video_id SET NULL: deleting a video keeps the upload's history (who sent what, when).
- transcoding_jobs, video_files, video_analytics, comments -> videos CASCADE: they describe that video only
  (the files themselves are removed by the service before the row goes).
- video_analytics.user_id, comments.user_id SET NULL: views and comments outlive an account, anonymously.
"""

SQLITE = """
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username VARCHAR(50) UNIQUE NOT NULL CHECK (length(username) BETWEEN 1 AND 50),
    email VARCHAR(100) UNIQUE NOT NULL CHECK (length(email) BETWEEN 3 AND 100),
    password_hash VARCHAR(255) NOT NULL CHECK (length(password_hash) <= 255),
    role TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('admin', 'user')),
    is_active INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    last_login_at TEXT
);

CREATE TABLE videos (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title VARCHAR(200) NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description TEXT,
    year INTEGER,
    genre VARCHAR(100) CHECK (genre IS NULL OR length(genre) <= 100),
    actors TEXT CHECK (actors IS NULL OR json_valid(actors)),
    duration_seconds INTEGER,
    original_filename VARCHAR(255) CHECK (original_filename IS NULL OR length(original_filename) <= 255),
    uploader_user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE RESTRICT,
    status TEXT NOT NULL DEFAULT 'uploading' CHECK (status IN ('uploading', 'processing', 'ready', 'failed')),
    is_public INTEGER NOT NULL DEFAULT 1 CHECK (is_public IN (0, 1)),
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    api_key VARCHAR(255) UNIQUE NOT NULL CHECK (length(api_key) <= 255),
    is_active INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    expires_at TEXT,
    last_used_at TEXT
);

CREATE TABLE keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,
    public_key TEXT NOT NULL,
    private_key TEXT NOT NULL,
    is_active INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    expires_at TEXT
);

CREATE TABLE uploads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    video_id INTEGER REFERENCES videos(id) ON DELETE SET NULL,
    filename VARCHAR(255) NOT NULL CHECK (length(filename) <= 255),
    total_size BIGINT NOT NULL CHECK (total_size >= 0),
    total_chunks INTEGER NOT NULL CHECK (total_chunks >= 1),
    uploaded_chunks TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(uploaded_chunks)),
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'uploading', 'completed', 'failed')),
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    completed_at TEXT
);

CREATE TABLE upload_chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    upload_id INTEGER NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
    chunk_number INTEGER NOT NULL CHECK (chunk_number >= 0),
    chunk_size INTEGER NOT NULL CHECK (chunk_size >= 0),
    checksum VARCHAR(64) NOT NULL CHECK (length(checksum) <= 64),
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'uploaded', 'verified', 'failed')),
    uploaded_at TEXT,
    verified_at TEXT,
    UNIQUE (upload_id, chunk_number)
);

CREATE TABLE transcoding_jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
    status TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'processing', 'completed', 'failed')),
    provider TEXT NOT NULL DEFAULT 'google_cloud' CHECK (provider IN ('google_cloud', 'local_server')),
    priority INTEGER NOT NULL DEFAULT 5 CHECK (priority BETWEEN 1 AND 10),
    input_format VARCHAR(20) CHECK (input_format IS NULL OR length(input_format) <= 20),
    output_formats TEXT CHECK (output_formats IS NULL OR json_valid(output_formats)),
    job_id VARCHAR(255),
    progress INTEGER NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    error_message TEXT,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    started_at TEXT,
    completed_at TEXT
);

CREATE TABLE video_files (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
    file_type TEXT NOT NULL CHECK (file_type IN ('original', 'transcoded_720p', 'transcoded_1080p', 'thumbnail')),
    storage_provider TEXT NOT NULL CHECK (storage_provider IN ('wasabi', 'idrive', 'local', 'google_cloud')),
    file_path VARCHAR(500) NOT NULL CHECK (length(file_path) <= 500),
    file_size BIGINT NOT NULL CHECK (file_size >= 0),
    checksum VARCHAR(64) NOT NULL CHECK (length(checksum) <= 64),
    mime_type VARCHAR(100),
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE user_sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    refresh_token VARCHAR(255) UNIQUE NOT NULL CHECK (length(refresh_token) <= 255),
    expires_at TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    last_used_at TEXT
);

CREATE TABLE video_analytics (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
    user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
    ip_address VARCHAR(45) CHECK (ip_address IS NULL OR length(ip_address) <= 45),
    user_agent TEXT,
    watch_duration INTEGER CHECK (watch_duration IS NULL OR watch_duration >= 0),
    viewed_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE comments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
    user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
    facebook_comment_id VARCHAR(255),
    content TEXT NOT NULL,
    is_approved INTEGER NOT NULL DEFAULT 1 CHECK (is_approved IN (0, 1)),
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- The design's indexes. idx_users_email/username and idx_api_keys_key duplicate the UNIQUE constraints'
-- own indexes; they are kept because the design lists them and they cost little at this size.
CREATE INDEX idx_users_email ON users(email);
CREATE INDEX idx_users_username ON users(username);
CREATE INDEX idx_videos_uploader ON videos(uploader_user_id);
CREATE INDEX idx_videos_status ON videos(status);
CREATE INDEX idx_videos_created ON videos(created_at);
CREATE INDEX idx_api_keys_user ON api_keys(user_id);
CREATE INDEX idx_api_keys_key ON api_keys(api_key);
CREATE INDEX idx_uploads_user ON uploads(user_id);
CREATE INDEX idx_uploads_status ON uploads(status);
CREATE INDEX idx_upload_chunks_upload ON upload_chunks(upload_id);
CREATE INDEX idx_upload_chunks_status ON upload_chunks(status);
CREATE INDEX idx_transcoding_jobs_video ON transcoding_jobs(video_id);
CREATE INDEX idx_transcoding_jobs_status ON transcoding_jobs(status);
CREATE INDEX idx_transcoding_jobs_priority ON transcoding_jobs(priority);
CREATE INDEX idx_video_files_video ON video_files(video_id);
CREATE INDEX idx_video_files_type ON video_files(file_type);
-- Not in the design, needed by the foreign keys of the optional tables (cascade deletes scan them).
CREATE INDEX idx_user_sessions_user ON user_sessions(user_id);
CREATE INDEX idx_video_analytics_video ON video_analytics(video_id, viewed_at);
CREATE INDEX idx_comments_video ON comments(video_id, created_at);
"""

POSTGRESQL = """
CREATE TABLE users (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    username VARCHAR(50) UNIQUE NOT NULL CHECK (length(username) >= 1),
    email VARCHAR(100) UNIQUE NOT NULL CHECK (length(email) >= 3),
    password_hash VARCHAR(255) NOT NULL,
    role VARCHAR(10) NOT NULL DEFAULT 'user' CONSTRAINT users_role_check CHECK (role IN ('admin', 'user')),
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    last_login_at TIMESTAMPTZ
);

CREATE TABLE videos (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    title VARCHAR(200) NOT NULL CHECK (length(title) >= 1),
    description TEXT,
    year INTEGER,
    genre VARCHAR(100),
    actors JSONB,
    duration_seconds INTEGER,
    original_filename VARCHAR(255),
    uploader_user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE RESTRICT,
    status VARCHAR(20) NOT NULL DEFAULT 'uploading'
        CONSTRAINT videos_status_check CHECK (status IN ('uploading', 'processing', 'ready', 'failed')),
    is_public BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE api_keys (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    api_key VARCHAR(255) UNIQUE NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    expires_at TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ
);

CREATE TABLE keys (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    user_id BIGINT NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,
    public_key TEXT NOT NULL,
    private_key TEXT NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    expires_at TIMESTAMPTZ
);

CREATE TABLE uploads (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    video_id BIGINT REFERENCES videos(id) ON DELETE SET NULL,
    filename VARCHAR(255) NOT NULL,
    total_size BIGINT NOT NULL CHECK (total_size >= 0),
    total_chunks INTEGER NOT NULL CHECK (total_chunks >= 1),
    uploaded_chunks JSONB NOT NULL DEFAULT '[]',
    status VARCHAR(20) NOT NULL DEFAULT 'pending'
        CONSTRAINT uploads_status_check CHECK (status IN ('pending', 'uploading', 'completed', 'failed')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    completed_at TIMESTAMPTZ
);

CREATE TABLE upload_chunks (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    upload_id BIGINT NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
    chunk_number INTEGER NOT NULL CHECK (chunk_number >= 0),
    chunk_size INTEGER NOT NULL CHECK (chunk_size >= 0),
    checksum VARCHAR(64) NOT NULL,
    status VARCHAR(20) NOT NULL DEFAULT 'pending'
        CONSTRAINT upload_chunks_status_check CHECK (status IN ('pending', 'uploaded', 'verified', 'failed')),
    uploaded_at TIMESTAMPTZ,
    verified_at TIMESTAMPTZ,
    UNIQUE (upload_id, chunk_number)
);

CREATE TABLE transcoding_jobs (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    video_id BIGINT NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
    status VARCHAR(20) NOT NULL DEFAULT 'queued'
        CONSTRAINT transcoding_jobs_status_check CHECK (status IN ('queued', 'processing', 'completed', 'failed')),
    provider VARCHAR(20) NOT NULL DEFAULT 'google_cloud'
        CONSTRAINT transcoding_jobs_provider_check CHECK (provider IN ('google_cloud', 'local_server')),
    priority INTEGER NOT NULL DEFAULT 5 CHECK (priority BETWEEN 1 AND 10),
    input_format VARCHAR(20),
    output_formats JSONB,
    job_id VARCHAR(255),
    progress INTEGER NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    error_message TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    started_at TIMESTAMPTZ,
    completed_at TIMESTAMPTZ
);

CREATE TABLE video_files (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    video_id BIGINT NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
    file_type VARCHAR(30) NOT NULL CONSTRAINT video_files_file_type_check
        CHECK (file_type IN ('original', 'transcoded_720p', 'transcoded_1080p', 'thumbnail')),
    storage_provider VARCHAR(20) NOT NULL CONSTRAINT video_files_storage_provider_check
        CHECK (storage_provider IN ('wasabi', 'idrive', 'local', 'google_cloud')),
    file_path VARCHAR(500) NOT NULL,
    file_size BIGINT NOT NULL CHECK (file_size >= 0),
    checksum VARCHAR(64) NOT NULL,
    mime_type VARCHAR(100),
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE user_sessions (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    refresh_token VARCHAR(255) UNIQUE NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    last_used_at TIMESTAMPTZ
);

CREATE TABLE video_analytics (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    video_id BIGINT NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
    user_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
    ip_address VARCHAR(45),
    user_agent TEXT,
    watch_duration INTEGER CHECK (watch_duration IS NULL OR watch_duration >= 0),
    viewed_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE comments (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    video_id BIGINT NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
    user_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
    facebook_comment_id VARCHAR(255),
    content TEXT NOT NULL,
    is_approved BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX idx_users_email ON users(email);
CREATE INDEX idx_users_username ON users(username);
CREATE INDEX idx_videos_uploader ON videos(uploader_user_id);
CREATE INDEX idx_videos_status ON videos(status);
CREATE INDEX idx_videos_created ON videos(created_at);
CREATE INDEX idx_api_keys_user ON api_keys(user_id);
CREATE INDEX idx_api_keys_key ON api_keys(api_key);
CREATE INDEX idx_uploads_user ON uploads(user_id);
CREATE INDEX idx_uploads_status ON uploads(status);
CREATE INDEX idx_upload_chunks_upload ON upload_chunks(upload_id);
CREATE INDEX idx_upload_chunks_status ON upload_chunks(status);
CREATE INDEX idx_transcoding_jobs_video ON transcoding_jobs(video_id);
CREATE INDEX idx_transcoding_jobs_status ON transcoding_jobs(status);
CREATE INDEX idx_transcoding_jobs_priority ON transcoding_jobs(priority);
CREATE INDEX idx_video_files_video ON video_files(video_id);
CREATE INDEX idx_video_files_type ON video_files(file_type);
CREATE INDEX idx_user_sessions_user ON user_sessions(user_id);
CREATE INDEX idx_video_analytics_video ON video_analytics(video_id, viewed_at);
CREATE INDEX idx_comments_video ON comments(video_id, created_at);
"""
