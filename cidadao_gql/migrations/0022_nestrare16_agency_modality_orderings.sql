-- An agency's contracts in one modality, by value or by date (issue 16: a page of children
-- filtered by a closed value, under parents with many children). Direct purchases
-- (dispensa) are the small contracts by law, so the walk of (agency_id, final_value, id)
-- from the largest passed every larger contract of other modalities first: the five
-- largest federal agencies' 4 largest dispensas read 3,797 rows each for 4 on 1,000,000
-- contracts (PostGraphile v5's plan read as many), 21.7 ms of PostgreSQL per request. A
-- walk by date tests each row of the agency's (agency_id, signed_on, id) in a fence that
-- PostgreSQL plans for the whole agency (the page's limit is outside it) and, for a rare
-- modality, reads the filter's index for the agency's matches. With the pair leading the
-- ordering, each parent's page is a range of one index as long as the page, its count a
-- range too (sql.py: the orderings' `served` pair agency_id+modality): 0.22 ms. 47 and
-- 39 MB on 1,000,000 contracts.
CREATE INDEX contracts_agency_modality_value_idx
    ON contracts (agency_id, modality, final_value, id);
CREATE INDEX contracts_agency_modality_signed_idx
    ON contracts (agency_id, modality, signed_on, id);
