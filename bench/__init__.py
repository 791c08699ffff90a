"""On-demand benchmarks (not part of the test suite): ``python -m bench.fanout``."""

UNTHROTTLED = {
    "INBOX_GRAPH_RATE_LIMIT_POINTS": "1000000000",
    "INBOX_GRAPH_ANONYMOUS_RATE_LIMIT_POINTS": "1000000000",
    "INBOX_GRAPH_MAX_SUBSCRIPTIONS_PER_USER": "1000000",
    "INBOX_GRAPH_MAX_SOCKETS_PER_USER": "1000000",
}
"""Server settings the throughput benchmarks run with: budgets no benchmark client reaches (a
benchmark's thousands of subscriptions and reads come from one or a few tokens and one address),
so they measure the API, not its rate limits (``graph.throttle``)."""
