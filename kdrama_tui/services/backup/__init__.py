"""Backups: create, restore, encryption, database dumps, the schedule."""
