"""Series and episodes: a show of ordered episodes, its search keys, segments and ingest placement."""
