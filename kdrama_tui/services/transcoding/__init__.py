"""Transcoding: the leased job queue shared by processes, the relay of other workers' events, subtitle tracks."""
