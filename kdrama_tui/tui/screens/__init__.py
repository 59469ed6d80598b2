"""Textual screens of the admin dashboard, one module each; all data comes through the admin API."""
