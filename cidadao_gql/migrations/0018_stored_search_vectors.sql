-- Search words kept, not recomputed (issue 23): a page that walks an ordering's index and
-- tests a search word on each row computed the row's to_tsvector on the way, about 6.5 µs
-- a row: on 1,000,000 contracts a word in 27,877 of them ("geradores", newest first, the
-- mixed workload's search shape) walks 1,030 rows for 21, 7 of its 8 ms in to_tsvector.
-- The vector is now a stored column, computed once when the row is written (COPY and
-- INSERT compute it; nobody writes it), and the GIN index is built on it, so a match read
-- through the index and a match tested on a walked row read the same column.
-- data/statement.py `Sql.text_search` writes `t.object_search @@ websearch_to_tsquery(…)`.
ALTER TABLE contracts ADD COLUMN object_search tsvector
    GENERATED ALWAYS AS (to_tsvector('portuguese_unaccent', object)) STORED;
DROP INDEX contracts_object_fts_idx;
CREATE INDEX contracts_object_fts_idx ON contracts USING gin (object_search);

ALTER TABLE procurements ADD COLUMN object_search tsvector
    GENERATED ALWAYS AS (to_tsvector('portuguese_unaccent', object)) STORED;
DROP INDEX procurements_object_fts_idx;
CREATE INDEX procurements_object_fts_idx ON procurements USING gin (object_search);
-- The planner's estimates of a word's matches come from the column's statistics now (the
-- page plans choose by them: data/page_plans.py); without these, until autovacuum came by,
-- every word was the default share.
ANALYZE contracts (object_search);
ANALYZE procurements (object_search);
