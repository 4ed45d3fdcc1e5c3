-- Aggregates and prices (issue 17): root lists of items and awards by catalog code and
-- unit, a summary of the awarded unit prices per catalog code and unit, and spending's
-- cells (at the end).
--
-- Items of one catalog code and unit, by id: a page of `items(filter: {catalogCode, unit})`
-- is a range of this index, and the awards of a code find their items' ids in it alone.
-- It serves what items_catalog_idx (catalog_code, unit) served.
CREATE INDEX items_catalog_unit_idx ON items (catalog_code, unit, id);
DROP INDEX items_catalog_idx;
-- A catalog code all but decides its unit: without this, PostgreSQL multiplies the two
-- selectivities and takes a code and unit's 1,081 items (100,000 contracts) for 93, and
-- the page planner (data/sql.py `_choose`) read them all and sorted them for 21 rather
-- than walk the index above, which reads 21.
CREATE STATISTICS items_catalog_unit_stats (dependencies) ON catalog_code, unit FROM items;
-- Awards in a date range, for `awards(filter: {awardedFrom, awardedTo})` read matches first.
CREATE INDEX awards_awarded_idx ON awards (awarded_on, id);

-- The summary, computed: one group per catalog code and unit as the items write them, its
-- most common description, and the count, least, quartiles, median and greatest of the
-- awarded unit prices (percentile_cont: interpolated, in reais to the unit price's 4
-- decimals). Numbered in (code, unit) order, the number being what pages are keyed on.
CREATE VIEW unit_price_groups AS
SELECT row_number() OVER (ORDER BY g.catalog_code, g.unit NULLS FIRST) AS id, g.*
  FROM (SELECT i.catalog_code, i.unit,
               mode() WITHIN GROUP (ORDER BY i.description) AS description,
               count(*) AS award_count,
               min(a.unit_price) AS min_price,
               percentile_cont(0.25) WITHIN GROUP (ORDER BY a.unit_price)::numeric(18, 4) AS p25,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY a.unit_price)::numeric(18, 4) AS median,
               percentile_cont(0.75) WITHIN GROUP (ORDER BY a.unit_price)::numeric(18, 4) AS p75,
               max(a.unit_price) AS max_price
          FROM awards a JOIN items i ON i.id = a.item_id
         WHERE i.catalog_code IS NOT NULL AND a.unit_price IS NOT NULL
         GROUP BY 1, 2) g;

-- Kept: on 1,000,000 contracts (250,094 awards) computing every group reads every award
-- and sorts it; a page of the kept summary reads its own rows. Refreshed with the price
-- references (ingestion/derived.py), under their mark in derived_state.
CREATE MATERIALIZED VIEW unit_price_summary AS SELECT * FROM unit_price_groups;
CREATE UNIQUE INDEX unit_price_summary_idx ON unit_price_summary (id);
CREATE INDEX unit_price_summary_code_idx ON unit_price_summary (catalog_code, id);

-- What the API reads: the kept summary while it is current, the computed one while a write
-- that went around the writers has it marked stale (one of the two branches runs: each is
-- under a one-time filter on the mark), so an answer is never older than the data.
CREATE VIEW unit_prices AS
SELECT * FROM unit_price_summary
 WHERE NOT (SELECT stale FROM derived_state WHERE name = 'price_references')
UNION ALL
SELECT * FROM unit_price_groups
 WHERE (SELECT stale FROM derived_state WHERE name = 'price_references');

-- Spending overviews (issue 17): every contract counted and summed per month of signature,
-- UF, modality and the agency's sphere, 26,153 cells for 1,000,000 contracts. A spending
-- page grouped by month, year, UF, modality or sphere, filtered on nothing but UF,
-- modality and whole months, adds cells up instead of contracts (aggregates.py); the
-- month's first day is kept as `signed_on`, so that the contracts' own clauses on
-- signed_on select the same months' cells. Refreshed by every writer (ingestion/derived.py);
-- a write that goes around them marks it stale, and spending reads the contracts until a
-- writer refreshes it.
CREATE MATERIALIZED VIEW spending_cells AS
SELECT date_trunc('month', c.signed_on)::date AS signed_on, c.uf, c.modality, a.sphere,
       count(*) AS contract_count, sum(c.final_value) AS total
  FROM contracts c JOIN agencies a ON a.id = c.agency_id
 GROUP BY 1, 2, 3, 4;
CREATE UNIQUE INDEX spending_cells_idx ON spending_cells (signed_on, uf, modality, sphere);

INSERT INTO derived_state (name, stale) VALUES ('spending_cells', false);
CREATE FUNCTION mark_derived_stale() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE derived_state SET stale = true WHERE name = TG_ARGV[0] AND NOT stale;
    RETURN NULL;
END
$$;
CREATE TRIGGER contracts_spending_cells_stale
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON contracts
    FOR EACH STATEMENT EXECUTE FUNCTION mark_derived_stale('spending_cells');
CREATE TRIGGER agencies_spending_cells_stale
    AFTER UPDATE OR DELETE OR TRUNCATE ON agencies
    FOR EACH STATEMENT EXECUTE FUNCTION mark_derived_stale('spending_cells');
