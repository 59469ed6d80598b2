"""Resumable uploads (chunk API and tus 1.0) on one session service and one on-disk part store."""

from kdrama_tui.services.uploads.service import UploadService
from kdrama_tui.services.uploads.states import ChunkResult, parse_chunk_number, parse_sha256

__all__ = ["ChunkResult", "UploadService", "parse_chunk_number", "parse_sha256"]
