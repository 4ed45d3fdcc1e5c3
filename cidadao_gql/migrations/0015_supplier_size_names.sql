-- Suppliers of one size by name (issue 23, measured by benchmarks/filters.py on 1,000,000
-- contracts): the unidentified size ("NI", a tenth of the 50,000 suppliers) is correlated
-- with the name, so the walk along the name index from its end read 14,303 suppliers for
-- 21 (from its start 2,050), and the matches first read all 5,043. With the size leading,
-- the page is a range of this index (sql.py: the NAME ordering's `served` size), 21 rows
-- read for 21. The suppliers table is small (a twentieth of the contracts) and its names
-- do not change with each contract, unlike contracted_total (whose size filter, walked
-- along the total's index, reads 307 rows for 21: no index for it).
CREATE INDEX suppliers_size_name_idx ON suppliers (size, name, id);
