"""Test support: real services (PostgreSQL, S3, servers) that the tests start and stop themselves."""
