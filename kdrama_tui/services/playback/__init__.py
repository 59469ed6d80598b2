"""Playback: who may watch what, playlists kept in memory, playback tokens."""
