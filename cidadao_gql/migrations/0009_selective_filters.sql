-- Pages whose filter is selective on one column and whose order is on another (issue 23).
-- PostgreSQL assumes the matches of a filter are spread evenly along an ordering index, so
-- for "contracts above R$ 4 million, newest first" it walks contracts_signed_idx and
-- filters: 56,057 rows read for 21 returned. Three remedies, each measured by
-- benchmarks/filters.py on 1,000,000 contracts:
--
-- 1. Indexes that serve an equality filter and an ordering together, (column, ordering
--    column, id): the page is then a range of one index, exactly as long as the page. For
--    every equality filter a list offers with every ordering it offers (a small UF holds
--    0.07 % of contracts, an absent modality none at all: without them the walk reads the
--    whole table), and for the parents of nested lists (a procurement's contracts had no
--    index at all: a sequential scan per procurement).
CREATE INDEX contracts_agency_value_idx ON contracts (agency_id, final_value, id);
CREATE INDEX contracts_supplier_value_idx ON contracts (supplier_id, final_value, id);
CREATE INDEX contracts_uf_signed_idx ON contracts (uf, signed_on, id);
CREATE INDEX contracts_uf_value_idx ON contracts (uf, final_value, id);
CREATE INDEX contracts_modality_signed_idx ON contracts (modality, signed_on, id);
CREATE INDEX contracts_modality_value_idx ON contracts (modality, final_value, id);
CREATE INDEX contracts_procurement_idx ON contracts (procurement_id, signed_on, id);
CREATE INDEX procurements_uf_idx ON procurements (uf, published_at, id);
CREATE INDEX procurements_modality_idx ON procurements (modality, published_at, id);
CREATE INDEX procurements_status_idx ON procurements (status, published_at, id);
CREATE INDEX procurements_year_idx ON procurements (year, published_at, id);
CREATE INDEX agencies_sphere_idx ON agencies (sphere, id);
-- 2. Indexes that find the matches of a range or a substring, for when reading them first
--    and sorting them is cheaper than the walk (queries.py chooses, per statement).
CREATE INDEX procurements_value_idx ON procurements (estimated_total, id);
CREATE INDEX agencies_name_trgm_idx ON agencies USING gin (name gin_trgm_ops);
-- 3. Statistics the choice reads: values are log-normal, and the selective filters sit in
--    the tail, where the default 100-bucket histogram puts 1 % of the table in a bucket
--    (9,092 contracts estimated above R$ 4 million for 416; with 1,000 buckets, 952).
--    (Tried and dropped: CREATE STATISTICS (dependencies) on agency and UF. It knows that
--    an agency has one UF, not which, so "these agencies, in RR" was estimated at all of
--    their contracts, and a page that matches none walked the largest agency whole.)
ALTER TABLE contracts ALTER COLUMN final_value SET STATISTICS 1000;
ALTER TABLE contracts ALTER COLUMN signed_on SET STATISTICS 1000;
ALTER TABLE procurements ALTER COLUMN estimated_total SET STATISTICS 1000;
