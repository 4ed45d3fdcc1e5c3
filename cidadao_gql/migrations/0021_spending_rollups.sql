-- Spending by a coarse key over every contract (issue 16): `spending(groupBy: UF)` with no
-- filter added up all of spending's 26,153 cells (migration 0013) for its 27 groups, 15.7 ms
-- of PostgreSQL's CPU per request on 1,000,000 contracts (98 req/s; the same statement in a
-- bare asyncpg loop 211). The cells added up once per grouping a page can ask for unfiltered
-- (month, year, UF, modality, sphere): 99 rows, a page reads its grouping's own (spending
-- by UF: 0.5 ms of PostgreSQL's CPU per request, peers.py on a loaded machine). Each row
-- holds its key in the cells' column of the same name (a year as its first day in
-- signed_on), so that the groupings' expressions over the cells read it unchanged, and a
-- page of months or years past a cursor bounds signed_on as it does on the cells.
-- Derived from the cells and refreshed right after them, in the same transaction, under
-- their mark (ingestion/derived.py): spending reads neither while the mark is up.
CREATE MATERIALIZED VIEW spending_rollups AS
SELECT CASE WHEN grouping(c.signed_on) = 0 THEN 'MONTH'
            WHEN grouping(date_trunc('year', c.signed_on)::date) = 0 THEN 'YEAR'
            WHEN grouping(c.uf) = 0 THEN 'UF'
            WHEN grouping(c.modality) = 0 THEN 'MODALITY'
            ELSE 'SPHERE' END AS grouped_by,
       coalesce(c.signed_on, date_trunc('year', c.signed_on)::date) AS signed_on,
       c.uf, c.modality, c.sphere,
       sum(c.contract_count)::bigint AS contract_count, sum(c.total) AS total
  FROM spending_cells c
 GROUP BY GROUPING SETS ((c.signed_on), (date_trunc('year', c.signed_on)::date), (c.uf),
                         (c.modality), (c.sphere));
CREATE INDEX spending_rollups_idx ON spending_rollups (grouped_by);

-- A coarse grouping under a coarse filter (`spending(groupBy: UF, filter: {modality: ...})`,
-- or whole years): the cells added up per year, UF, modality and sphere, 2,599 rows for
-- 1,000,000 contracts where the cells are 26,153, a year's first day kept as signed_on so
-- that the contracts' clauses on signed_on select the same years. Any grouping but MONTH,
-- under UF, modality and whole years. Refreshed between the cells and the rollups.
CREATE MATERIALIZED VIEW spending_year_cells AS
SELECT date_trunc('year', c.signed_on)::date AS signed_on, c.uf, c.modality, c.sphere,
       sum(c.contract_count)::bigint AS contract_count, sum(c.total) AS total
  FROM spending_cells c
 GROUP BY 1, 2, 3, 4;
