-- The market reference of each catalog item and unit: how many awarded unit prices, and
-- the median and median absolute deviation of their logarithms. The price-outlier agent
-- compares single awards with it; writers refresh it after loading (`refresh_derived`).
CREATE MATERIALIZED VIEW price_references AS
WITH priced AS (
    SELECT i.catalog_code AS code, lower(btrim(i.unit)) AS unit, ln(a.unit_price) AS lp
      FROM awards a JOIN items i ON i.id = a.item_id
     WHERE a.unit_price > 0 AND i.catalog_code IS NOT NULL),
medians AS (
    SELECT code, unit, count(*) AS n, percentile_cont(0.5) WITHIN GROUP (ORDER BY lp) AS med
      FROM priced GROUP BY 1, 2)
SELECT m.code, m.unit, m.n, m.med,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(p.lp - m.med)) AS mad
  FROM medians m JOIN priced p USING (code, unit)
 GROUP BY 1, 2, 3, 4;
CREATE UNIQUE INDEX price_references_idx ON price_references (code, unit);
CREATE INDEX items_procurement_idx ON items (procurement_id);
