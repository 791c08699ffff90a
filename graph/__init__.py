"""inbox-graph: the GraphQL API of an omnichannel customer inbox."""
