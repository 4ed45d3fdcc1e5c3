-- Spending by agency or supplier under a UF, modality, date or sphere filter, read from
-- an index alone (issue 23). A spending page aggregates every contract the filter matches;
-- from the heap, a year's 208,332 contracts by supplier took 263 ms of backend CPU on
-- 1,000,000 contracts, the commonest modality's by supplier 347 ms, SP's by agency 230 ms.
-- Indexes the pages already walk carry the party columns too, so that each aggregate is an
-- index-only scan of the filter's range (the same contracts, the same sums): 63, 137 and
-- 43 ms; 90 days by agency 127 → 10 ms (serial plans, 3 runs each interleaved with the
-- old indexes, loaded machine). By supplier in a sphere (a join to the agencies): each of
-- the sphere's agencies' entries of (agency_id, final_value, id), not all 1,000,000 of
-- (supplier_id, agency_id, final_value, id), the federal sphere 337 → 75 ms (EXPLAIN
-- ANALYZE, serial). Widened in place, not added: a write maintains as many indexes as
-- before, and a page's walk reads entries 8 to 16 bytes longer.
DROP INDEX contracts_uf_supplier_idx;
CREATE INDEX contracts_uf_supplier_idx ON contracts (uf, supplier_id)
    INCLUDE (final_value, agency_id);
DROP INDEX contracts_modality_value_idx;
CREATE INDEX contracts_modality_value_idx ON contracts (modality, final_value, id)
    INCLUDE (supplier_id, agency_id);
DROP INDEX contracts_signed_value_idx;
CREATE INDEX contracts_signed_value_idx ON contracts (signed_on, final_value, id)
    INCLUDE (supplier_id, agency_id);
DROP INDEX contracts_agency_value_idx;
CREATE INDEX contracts_agency_value_idx ON contracts (agency_id, final_value, id)
    INCLUDE (supplier_id);
