"""Accounts: users, API keys, access and refresh tokens, signing keys, passwords, login throttle, master key."""
