"""State backends: the store protocol, the Redis and Redis Cluster store, and the in-memory store."""
