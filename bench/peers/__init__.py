"""bench/peers: inbox-graph against the servers a user would deploy instead (``python -m bench.peers``)."""
