"""The media pipeline: probe an original, transcode it to an HLS ladder with subtitles and thumbnails, and
run that as a durable, multi-worker queue (see ``queue.py``)."""
