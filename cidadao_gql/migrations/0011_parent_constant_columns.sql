-- Nested lists whose filter the parent decides (issue 23, data/child_pages.py): the least
-- and greatest UF of an agency's contracts and procurements, one index entry each, so an
-- agency whose children are all in one UF is read unfiltered for it, or not at all for
-- another, instead of walked and tested row by row (16,553 rows read for 0 on 200,000
-- contracts).
CREATE INDEX contracts_agency_uf_idx ON contracts (agency_id, uf);
CREATE INDEX procurements_agency_uf_idx ON procurements (agency_id, uf);
