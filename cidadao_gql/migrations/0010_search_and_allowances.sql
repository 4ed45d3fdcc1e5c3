-- Two parts of issue 17: search that ignores accents, and per-key rate-limit allowances.
--
-- Search speaks Portuguese as typed (issue 17): "oleo diesel" found none of the 590
-- contracts "óleo diesel" finds, "lider" none of the 202 suppliers "Líder" finds, and the
-- real PNCP rows (capitals, often no accents) and the synthetic ones split on it.
CREATE EXTENSION IF NOT EXISTS unaccent SCHEMA public;

-- Full text: Portuguese with accents stripped before stemming, on both the document and
-- the query, so both spellings meet at the same lexeme ("óleo" and "oleo" -> "ole").
CREATE TEXT SEARCH CONFIGURATION portuguese_unaccent (COPY = portuguese);
ALTER TEXT SEARCH CONFIGURATION portuguese_unaccent
    ALTER MAPPING FOR hword, hword_part, word WITH unaccent, portuguese_stem;

DROP INDEX contracts_object_fts_idx;
CREATE INDEX contracts_object_fts_idx ON contracts
    USING gin (to_tsvector('portuguese_unaccent', object));
DROP INDEX procurements_object_fts_idx;
CREATE INDEX procurements_object_fts_idx ON procurements
    USING gin (to_tsvector('portuguese_unaccent', object));

-- Names: `unaccent(text)` is STABLE (its dictionary could change), so no index can be built
-- on it; this wrapper names the dictionary and is IMMUTABLE, the usual way round. Lower
-- case is left to ILIKE, which the trigram index serves.
CREATE FUNCTION unaccented(text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN public.unaccent('public.unaccent'::regdictionary, $1);

DROP INDEX agencies_name_trgm_idx;
CREATE INDEX agencies_name_trgm_idx ON agencies USING gin (unaccented(name) gin_trgm_ops);
DROP INDEX suppliers_name_trgm_idx;
CREATE INDEX suppliers_name_trgm_idx ON suppliers USING gin (unaccented(name) gin_trgm_ops);

-- Per-key allowances (issue 17): a key may carry its own rate-limit bucket, capacity and
-- refill in points a second (`apikey create --capacity --refill`), for batch exports that
-- the default bucket held to about 54 rows a second. Both or neither.
ALTER TABLE api_keys
    ADD COLUMN rate_capacity integer CHECK (rate_capacity > 0),
    ADD COLUMN rate_refill integer CHECK (rate_refill > 0),
    ADD CONSTRAINT api_keys_allowance_whole CHECK ((rate_capacity IS NULL) = (rate_refill IS NULL));
