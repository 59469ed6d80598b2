"""The Textual dashboard: its app, its admin API client, messages, widgets. A client of the admin API only."""
