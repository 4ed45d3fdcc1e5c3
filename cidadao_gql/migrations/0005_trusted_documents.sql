-- Documents registered in advance (`cidadao-gql documents register DIR`): with
-- PERSISTED_QUERIES_ONLY=true the server runs these and nothing else.
CREATE TABLE trusted_documents (
    hash           text PRIMARY KEY,  -- sha256 of the document text, hex
    name           text NOT NULL,
    document       text NOT NULL,
    registered_at  timestamptz NOT NULL DEFAULT now()
);
