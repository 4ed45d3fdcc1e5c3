"""The GraphQL schema's domain types and resolvers, one module per area; the executable schema is built in cidadao_gql.execution.executable_schema."""
