"""Where files live: local disk or S3-compatible object storage, behind one interface."""

from kdrama_tui.storage.base import Storage, StoredObject, validate_key

__all__ = ["Storage", "StoredObject", "validate_key"]
