-- The counts and totals kept on parents (0012, 0017) are written by triggers of their
-- children: an award written updates items.award_count, a procurement agencies'
-- procurement_count. Those UPDATEs raised the marks of spending's cells and of the price
-- references, which read neither column, so after 0017's own backfill (and after every
-- procurement written since) spending overviews and unit prices were computed from the
-- tables (1 request/s for spending by state on 1,000,000 contracts) until the next import.
-- The marks now rise on the columns the derived data reads; the backfill's marks go.
DROP TRIGGER agencies_spending_cells_stale ON agencies;
CREATE TRIGGER agencies_spending_cells_stale
    AFTER UPDATE OF id, sphere OR DELETE OR TRUNCATE ON agencies
    FOR EACH STATEMENT EXECUTE FUNCTION mark_derived_stale('spending_cells');
DROP TRIGGER items_price_references_stale ON items;
CREATE TRIGGER items_price_references_stale
    AFTER INSERT OR UPDATE OF id, procurement_id, number, description, catalog_code, unit,
        quantity, estimated_unit_price, estimated_total, material_or_service
        OR DELETE OR TRUNCATE ON items
    FOR EACH STATEMENT EXECUTE FUNCTION mark_price_references_stale();
REFRESH MATERIALIZED VIEW spending_cells;
REFRESH MATERIALIZED VIEW price_references;
REFRESH MATERIALIZED VIEW unit_price_summary;
UPDATE derived_state SET stale = false WHERE stale;
