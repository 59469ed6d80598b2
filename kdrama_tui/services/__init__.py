"""Domain services: the work behind the HTTP handlers, the CLI and the dashboard."""
