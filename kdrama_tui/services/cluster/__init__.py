"""What lets several nodes share one database: common secrets, cluster-wide singletons, cross-node events."""
