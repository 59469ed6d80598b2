"""0005: transcoding_jobs becomes a durable, multi-worker queue.

The design's job row says what to do and how it went; running it safely from several processes needs more:
- ``worker_id``, ``lease_expires_at``, ``heartbeat_at``: a worker claims a job atomically and holds it by
  renewing a lease. A worker that dies (SIGKILL, power cut) stops renewing; once the lease has expired
  another worker (or the restarted process) takes the job over and starts it again from scratch.
- ``claims``: how many times the job was claimed. A job whose workers keep dying (it crashes them) is
  failed after a few takeovers instead of looping forever.
- ``attempt``, ``retry_of_id``, ``run_after``: a failed job is retried as a NEW row (the design's "retry job"),
  numbered by attempt, pointing at the job it retries, and not claimable before ``run_after`` (backoff).
  The failed row keeps its error for the admin.
- ``warnings``: problems that did not fail the job (a subtitle file that could not be read), JSON list.
- ``status`` gains ``cancelled``: an admin stopped the job; it is neither a failure to retry nor a success.
- ``idx_transcoding_jobs_claim``: claiming reads queued jobs by priority then age.

SQLite cannot change a CHECK constraint, so its table is rebuilt inside the migration's transaction (as in
0003); no other table references transcoding_jobs.
"""

_STATUSES = "'queued', 'processing', 'completed', 'failed', 'cancelled'"

SQLITE = f"""
CREATE TABLE transcoding_jobs_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
    status TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ({_STATUSES})),
    provider TEXT NOT NULL DEFAULT 'google_cloud' CHECK (provider IN ('google_cloud', 'local_server')),
    priority INTEGER NOT NULL DEFAULT 5 CHECK (priority BETWEEN 1 AND 10),
    input_format VARCHAR(20) CHECK (input_format IS NULL OR length(input_format) <= 20),
    output_formats TEXT CHECK (output_formats IS NULL OR json_valid(output_formats)),
    job_id VARCHAR(255),
    progress INTEGER NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    error_message TEXT,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    started_at TEXT,
    completed_at TEXT,
    attempt INTEGER NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    retry_of_id INTEGER REFERENCES transcoding_jobs_new(id) ON DELETE SET NULL,
    run_after TEXT,
    worker_id VARCHAR(100) CHECK (worker_id IS NULL OR length(worker_id) <= 100),
    lease_expires_at TEXT,
    heartbeat_at TEXT,
    claims INTEGER NOT NULL DEFAULT 0 CHECK (claims >= 0),
    warnings TEXT CHECK (warnings IS NULL OR json_valid(warnings))
);
INSERT INTO transcoding_jobs_new (id, video_id, status, provider, priority, input_format, output_formats, job_id,
                                  progress, error_message, created_at, started_at, completed_at)
    SELECT id, video_id, status, provider, priority, input_format, output_formats, job_id, progress,
           error_message, created_at, started_at, completed_at
    FROM transcoding_jobs;
DROP TABLE transcoding_jobs;
ALTER TABLE transcoding_jobs_new RENAME TO transcoding_jobs;
CREATE INDEX idx_transcoding_jobs_video ON transcoding_jobs(video_id);
CREATE INDEX idx_transcoding_jobs_status ON transcoding_jobs(status);
CREATE INDEX idx_transcoding_jobs_priority ON transcoding_jobs(priority);
CREATE INDEX idx_transcoding_jobs_claim ON transcoding_jobs(status, priority, created_at, id);
"""

POSTGRESQL = f"""
ALTER TABLE transcoding_jobs DROP CONSTRAINT transcoding_jobs_status_check;
ALTER TABLE transcoding_jobs ADD CONSTRAINT transcoding_jobs_status_check CHECK (status IN ({_STATUSES}));
ALTER TABLE transcoding_jobs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1 CHECK (attempt >= 1);
ALTER TABLE transcoding_jobs ADD COLUMN retry_of_id BIGINT REFERENCES transcoding_jobs(id) ON DELETE SET NULL;
ALTER TABLE transcoding_jobs ADD COLUMN run_after TIMESTAMPTZ;
ALTER TABLE transcoding_jobs ADD COLUMN worker_id VARCHAR(100);
ALTER TABLE transcoding_jobs ADD COLUMN lease_expires_at TIMESTAMPTZ;
ALTER TABLE transcoding_jobs ADD COLUMN heartbeat_at TIMESTAMPTZ;
ALTER TABLE transcoding_jobs ADD COLUMN claims INTEGER NOT NULL DEFAULT 0 CHECK (claims >= 0);
ALTER TABLE transcoding_jobs ADD COLUMN warnings JSONB;
CREATE INDEX idx_transcoding_jobs_claim ON transcoding_jobs(status, priority, created_at, id);
"""
