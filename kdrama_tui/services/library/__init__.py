"""The library: the one hand-off from a complete file to a queued video (accept_original), and video metadata."""
