-- How many children each parent has, kept by the database (issue 16), as migration 0012
-- keeps contracted_total: `totalCount` of a parent's children unfiltered (Agency.contracts,
-- or `contracts(filter: {agency})`) counted the largest agency's 54,397 contracts on every
-- request, 2.7 ms of PostgreSQL's CPU out of 2.7 ms for the whole page; read from the
-- parent's row, 0.3 ms. A filtered count still counts (data/kept_counts.py says which).
--
-- One statement-level trigger function for every child table and every kind of statement,
-- told by its arguments which counts to keep: (child column, parent table, count column)
-- triples. What a statement inserted is added and what it deleted taken away, one grouped
-- UPDATE of the parents per statement whatever its size (a COPY of 1,000,000 contracts:
-- one UPDATE of the agencies, one of the suppliers, one of the procurements), so every
-- writer (the seeder's COPY, the importer's upserts, a hand-written UPDATE) keeps them. The
-- statements are dynamic (EXECUTE) and so planned only when run: a statement naming a
-- transition table that its trigger lacks would not plan.
ALTER TABLE agencies ADD COLUMN contract_count bigint NOT NULL DEFAULT 0,
                     ADD COLUMN procurement_count bigint NOT NULL DEFAULT 0;
ALTER TABLE suppliers ADD COLUMN contract_count bigint NOT NULL DEFAULT 0,
                      ADD COLUMN award_count bigint NOT NULL DEFAULT 0;
ALTER TABLE procurements ADD COLUMN contract_count bigint NOT NULL DEFAULT 0,
                         ADD COLUMN item_count bigint NOT NULL DEFAULT 0;
ALTER TABLE items ADD COLUMN award_count bigint NOT NULL DEFAULT 0;

CREATE FUNCTION keep_child_counts() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    i int;
    child text;
    counted text;
    delta text;
BEGIN
    FOR i IN 0 .. TG_NARGS - 1 BY 3 LOOP
        child := quote_ident(TG_ARGV[i]);
        counted := quote_ident(TG_ARGV[i + 2]);
        IF TG_OP = 'TRUNCATE' THEN
            EXECUTE format('UPDATE %I SET %s = 0 WHERE %s <> 0', TG_ARGV[i + 1], counted, counted);
            CONTINUE;
        END IF;
        delta := CASE TG_OP
            WHEN 'INSERT' THEN
                format('SELECT %s AS parent, count(*) AS n FROM new_rows GROUP BY 1', child)
            WHEN 'DELETE' THEN
                format('SELECT %s AS parent, -count(*) AS n FROM old_rows GROUP BY 1', child)
            ELSE  -- UPDATE: rows moved to another parent; the others cancel out
                format('SELECT parent, sum(n) AS n FROM (SELECT %s AS parent, 1 AS n FROM new_rows'
                       ' UNION ALL SELECT %s, -1 FROM old_rows) d GROUP BY 1', child, child)
        END;
        EXECUTE format('UPDATE %I p SET %s = p.%s + d.n FROM (%s) d'
                       ' WHERE p.id = d.parent AND d.n <> 0',
                       TG_ARGV[i + 1], counted, counted, delta);
    END LOOP;
    RETURN NULL;
END
$$;

-- The counts as they are, before the triggers keep them.
UPDATE agencies p SET contract_count = c.n
  FROM (SELECT agency_id, count(*) AS n FROM contracts GROUP BY 1) c WHERE p.id = c.agency_id;
UPDATE agencies p SET procurement_count = c.n
  FROM (SELECT agency_id, count(*) AS n FROM procurements GROUP BY 1) c WHERE p.id = c.agency_id;
UPDATE suppliers p SET contract_count = c.n
  FROM (SELECT supplier_id, count(*) AS n FROM contracts GROUP BY 1) c WHERE p.id = c.supplier_id;
UPDATE suppliers p SET award_count = c.n
  FROM (SELECT supplier_id, count(*) AS n FROM awards GROUP BY 1) c WHERE p.id = c.supplier_id;
UPDATE procurements p SET contract_count = c.n
  FROM (SELECT procurement_id, count(*) AS n FROM contracts GROUP BY 1) c
 WHERE p.id = c.procurement_id;
UPDATE procurements p SET item_count = c.n
  FROM (SELECT procurement_id, count(*) AS n FROM items GROUP BY 1) c
 WHERE p.id = c.procurement_id;
UPDATE items p SET award_count = c.n
  FROM (SELECT item_id, count(*) AS n FROM awards GROUP BY 1) c WHERE p.id = c.item_id;

DO $$
DECLARE
    kept record;
BEGIN
    FOR kept IN SELECT * FROM (VALUES
        ('contracts', $a$'agency_id', 'agencies', 'contract_count',
                       'supplier_id', 'suppliers', 'contract_count',
                       'procurement_id', 'procurements', 'contract_count'$a$),
        ('procurements', $a$'agency_id', 'agencies', 'procurement_count'$a$),
        ('items', $a$'procurement_id', 'procurements', 'item_count'$a$),
        ('awards', $a$'item_id', 'items', 'award_count',
                   'supplier_id', 'suppliers', 'award_count'$a$)) v (t, args)
    LOOP
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %I REFERENCING NEW TABLE AS new_rows'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION keep_child_counts(%s)',
                       kept.t || '_counts_insert', kept.t, kept.args);
        EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %I'
                       ' REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION keep_child_counts(%s)',
                       kept.t || '_counts_update', kept.t, kept.args);
        EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %I REFERENCING OLD TABLE AS old_rows'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION keep_child_counts(%s)',
                       kept.t || '_counts_delete', kept.t, kept.args);
        EXECUTE format('CREATE TRIGGER %I AFTER TRUNCATE ON %I'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION keep_child_counts(%s)',
                       kept.t || '_counts_truncate', kept.t, kept.args);
    END LOOP;
END
$$;
