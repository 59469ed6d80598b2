"""The catalog: search and listing, comments, view analytics."""
