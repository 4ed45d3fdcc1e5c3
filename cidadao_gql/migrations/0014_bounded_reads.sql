-- Bounded reads for every filter × ordering (issue 23), measured by benchmarks/filters.py.
--
-- An agency's procurements in one modality, newest first: neither the agency's index nor
-- the modality's serves both, and the largest agency's procurements in a modality a
-- twentieth of them have read 2,441 rows for 25 (the walk, the matches first and the
-- parent whole all cost about as much). With the pair leading the ordering the page is a
-- range of one index, as long as the page (sql.py: the ordering's `served` pair).
CREATE INDEX procurements_agency_modality_idx
    ON procurements (agency_id, modality, published_at, id);
-- Sanctions active on a day: without an index on the start the 100 (1,000 on 1,000,000
-- contracts) sanctions were read whole for a day before the first.
CREATE INDEX sanctions_starts_idx ON sanctions (starts_on);
-- Contracts of a few days by value (page_plans.DAILY): each day's page a range of this
-- index, the days' pages merged (a two-day range by value read 7,138 rows for 21 on
-- 1,000,000 contracts: the walk along the value and the matches first both long).
CREATE INDEX contracts_signed_value_idx ON contracts (signed_on, final_value, id);
-- A supplier's contracts with one agency, by value: the five largest suppliers' walks
-- along their value index, filtered on the largest agency, read 5,725 rows for 105 on
-- 1,000,000 contracts (the pair is correlated; the estimate took it for even).
CREATE INDEX contracts_supplier_agency_value_idx
    ON contracts (supplier_id, agency_id, final_value, id);
-- Spending by supplier in a UF (a third of issue 23's mixed workload): the UF's contracts,
-- a quarter of the table, were read from the heap to be grouped (404 ms on 1,000,000
-- contracts, 34,131 blocks); from this index alone, in supplier order, the grouping needs
-- no hash and no heap (205 ms on the same loaded machine). The aggregate still reads every
-- match: the response cache answers it again.
CREATE INDEX contracts_uf_supplier_idx ON contracts (uf, supplier_id) INCLUDE (final_value);
