"""cidadao-gql: a GraphQL-first data API over Brazilian public-procurement data."""

__version__ = "0.1.0"
