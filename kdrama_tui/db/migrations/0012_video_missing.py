"""0012: ``videos.missing_reason``: why a video that was ready can no longer play.

A restored backup (or a lost disk) can bring back rows of a video whose HLS files are gone: the catalog
listed it as ready and the player failed on a 404. The reconciliation at start-up and after a restore
re-queues such a video from its original when that is still stored, and otherwise sets its status to
``failed`` with this reason ("its files are missing ... and so is its original"), which keeps it out of
the catalog and lets the dashboard list the missing videos apart (status filter ``missing``). A column
rather than a new status value: SQLite cannot change the ``videos.status`` CHECK without rebuilding the
table, and with foreign keys on, dropping the old table would cascade into every file, job, view and
comment row. NULL for every video that is not missing.
"""

SQLITE = """
ALTER TABLE videos ADD COLUMN missing_reason TEXT;
"""

POSTGRESQL = """
ALTER TABLE videos ADD COLUMN missing_reason TEXT;
"""
