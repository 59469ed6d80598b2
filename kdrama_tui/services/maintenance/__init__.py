"""Maintenance: the orphan sweep and moving the library between storages."""
