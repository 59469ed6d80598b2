"""The ffmpeg wrappers: find the binaries, guard every input, probe, plan the ladder, transcode to HLS,
thumbnails and subtitles. No database, storage or repositories here: callers hand in paths and settings."""
