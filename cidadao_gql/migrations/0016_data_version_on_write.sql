-- Any write to the data tables bumps the `data` cache version (issue 17, found by an outside
-- tester): the writers (`db seed`, `import`) bump it themselves and announce it, but a
-- write by hand in SQL went around them, and the cache tiers kept pages computed before
-- it (a spending page answered the old total for the hour of SPENDING_CACHE while the
-- kept cells were already marked stale). Running instances read cache_versions every few
-- seconds (data/cache/versions.py), so such a write is seen within that poll; a writer's
-- announcement still makes it immediate. One bump per statement, not per row: COPY and
-- the importer's batches pay one row update each.
CREATE FUNCTION bump_data_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO cache_versions (namespace, version) VALUES ('data', 2)
        ON CONFLICT (namespace) DO UPDATE SET version = cache_versions.version + 1;
    RETURN NULL;
END
$$;
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['agencies', 'suppliers', 'procurements', 'items', 'awards',
                             'contracts', 'sanctions']
    LOOP
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %I'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION bump_data_version()',
                       t || '_data_version', t);
    END LOOP;
END
$$;
