-- price_references gains the mean absolute deviation of the logs (the price-outlier
-- scale when MAD is 0), takes logs in double precision (ln of numeric costs several times
-- more and gives nothing a z-score needs), and is marked stale by every write to awards
-- or items, so that the agent refreshes it before reading it (`ensure_current`) whoever
-- wrote the prices. Writers that refresh it themselves clear the mark first.
DROP MATERIALIZED VIEW price_references;
CREATE MATERIALIZED VIEW price_references AS
WITH priced AS (
    SELECT i.catalog_code AS code, lower(btrim(i.unit)) AS unit, ln(a.unit_price::float8) AS lp
      FROM awards a JOIN items i ON i.id = a.item_id
     WHERE a.unit_price > 0 AND i.catalog_code IS NOT NULL),
medians AS (
    SELECT code, unit, count(*) AS n, percentile_cont(0.5) WITHIN GROUP (ORDER BY lp) AS med
      FROM priced GROUP BY 1, 2)
SELECT m.code, m.unit, m.n, m.med,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(p.lp - m.med)) AS mad,
       avg(abs(p.lp - m.med)) AS mean_ad
  FROM medians m JOIN priced p USING (code, unit)
 GROUP BY 1, 2, 3, 4;
CREATE UNIQUE INDEX price_references_idx ON price_references (code, unit);

CREATE TABLE derived_state (
    name   text PRIMARY KEY,
    stale  boolean NOT NULL
);
INSERT INTO derived_state (name, stale) VALUES ('price_references', false);

-- Statement-level, and a no-op once the mark is up: a bulk load pays for one UPDATE.
CREATE FUNCTION mark_price_references_stale() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE derived_state SET stale = true WHERE name = 'price_references' AND NOT stale;
    RETURN NULL;
END
$$;
CREATE TRIGGER awards_price_references_stale
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON awards
    FOR EACH STATEMENT EXECUTE FUNCTION mark_price_references_stale();
CREATE TRIGGER items_price_references_stale
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON items
    FOR EACH STATEMENT EXECUTE FUNCTION mark_price_references_stale();
