"""What each field and mutation does, one module per domain. Resolvers return model rows;
the schema modules wrap them in GraphQL types."""
