"""0002: what accounts and auth need beyond the seed design.

- api_keys.name, api_keys.key_prefix: the admin tells keys apart by a label and the key's first characters
  (the key itself is stored only as a SHA-256 hash and cannot be shown again).
- api_keys.revoked_at: when a key was revoked (is_active alone loses the when).
- user_sessions.family_id, revoked_at, replaced_by_id: refresh-token rotation. Every refresh replaces the
  session row with a new one in the same family; presenting a replaced token again (reuse) revokes the
  whole family, as RFC 6819 / OAuth 2.0 Security BCP recommend.
- user_sessions.user_agent, ip_address: shown to the admin; help spot a stolen token.
- keys.algorithm: the JWT algorithm the key pair is for (pinned on verification).
"""

SQLITE = """
ALTER TABLE api_keys ADD COLUMN name VARCHAR(100) NOT NULL DEFAULT '' CHECK (length(name) <= 100);
ALTER TABLE api_keys ADD COLUMN key_prefix VARCHAR(16) NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN revoked_at TEXT;
ALTER TABLE user_sessions ADD COLUMN family_id VARCHAR(64) NOT NULL DEFAULT '';
ALTER TABLE user_sessions ADD COLUMN revoked_at TEXT;
ALTER TABLE user_sessions ADD COLUMN replaced_by_id INTEGER REFERENCES user_sessions(id) ON DELETE SET NULL;
ALTER TABLE user_sessions ADD COLUMN user_agent TEXT;
ALTER TABLE user_sessions ADD COLUMN ip_address VARCHAR(45);
ALTER TABLE keys ADD COLUMN algorithm VARCHAR(20) NOT NULL DEFAULT 'EdDSA';
CREATE INDEX idx_user_sessions_family ON user_sessions(family_id);
"""

POSTGRESQL = """
ALTER TABLE api_keys ADD COLUMN name VARCHAR(100) NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN key_prefix VARCHAR(16) NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN revoked_at TIMESTAMPTZ;
ALTER TABLE user_sessions ADD COLUMN family_id VARCHAR(64) NOT NULL DEFAULT '';
ALTER TABLE user_sessions ADD COLUMN revoked_at TIMESTAMPTZ;
ALTER TABLE user_sessions ADD COLUMN replaced_by_id BIGINT REFERENCES user_sessions(id) ON DELETE SET NULL;
ALTER TABLE user_sessions ADD COLUMN user_agent TEXT;
ALTER TABLE user_sessions ADD COLUMN ip_address VARCHAR(45);
ALTER TABLE keys ADD COLUMN algorithm VARCHAR(20) NOT NULL DEFAULT 'EdDSA';
CREATE INDEX idx_user_sessions_family ON user_sessions(family_id);
"""
