"""0013: ``cluster_secrets``, what every node of a cluster must agree on, kept in the one shared database.

Two rows, neither of them a secret on its own:

- ``master_key_check``: an HMAC of a fixed label under the master key. The master key itself stays out of the
  database (a dump must not be able to sign anything), but a node started with another key (its own generated
  ``master.key``, a typo in the environment file) would seal signing keys that no other node can open; with
  the check it refuses to start instead, saying so in one line.
- ``playback_salt``: random bytes from which each node derives the playback-token key together with the
  master key, so a token issued by one node verifies on every other. Replacing the salt
  (``kdrama-tui playback-key rotate``) revokes every playback link on every node at once.

Rows are inserted with ON CONFLICT DO NOTHING and read back, so nodes starting together on an empty database
all end up with the first one's values.
"""

SQLITE = """
CREATE TABLE cluster_secrets (
    name VARCHAR(64) PRIMARY KEY,
    value TEXT NOT NULL CHECK (length(value) <= 512),
    updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
"""

POSTGRESQL = """
CREATE TABLE cluster_secrets (
    name VARCHAR(64) PRIMARY KEY,
    value TEXT NOT NULL CHECK (length(value) <= 512),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
);
"""
