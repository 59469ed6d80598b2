"""Ingest: the watch folder, file state, the importer, sidecar files and names."""
