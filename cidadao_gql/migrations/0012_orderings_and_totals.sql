-- Orderings and filters of issue 17 (point 2): agencies and suppliers by name and by the
-- total value of their contracts, procurements by estimated value, contracts of an agency
-- sphere, of a municipality, of several states or modalities.
--
-- Totals per agency and per supplier, kept by the database itself: ordering 2,000
-- agencies or 50,000 suppliers by a sum over 1,000,000 contracts would read every contract
-- on every page. Statement-level triggers with transition tables add what a statement
-- inserted and take away what it deleted, one grouped UPDATE per statement whatever its
-- size (a COPY of 50,000 contracts: one UPDATE of the parents it touched), so every
-- writer (the seeder's COPY, the importer's upserts, a hand-written UPDATE) keeps them.
ALTER TABLE agencies ADD COLUMN contracted_total numeric NOT NULL DEFAULT 0;
ALTER TABLE suppliers ADD COLUMN contracted_total numeric NOT NULL DEFAULT 0;

UPDATE agencies a SET contracted_total = c.total
  FROM (SELECT agency_id, sum(final_value) AS total FROM contracts GROUP BY 1) c
 WHERE a.id = c.agency_id;
UPDATE suppliers s SET contracted_total = c.total
  FROM (SELECT supplier_id, sum(final_value) AS total FROM contracts GROUP BY 1) c
 WHERE s.id = c.supplier_id;

-- One function per kind of statement: PL/pgSQL plans a statement when it first runs it,
-- and a statement naming a transition table that its trigger lacks does not plan.
CREATE FUNCTION contracts_add_totals() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE agencies a SET contracted_total = a.contracted_total + m.delta
      FROM (SELECT agency_id, sum(final_value) AS delta FROM new_rows GROUP BY 1) m
     WHERE a.id = m.agency_id AND m.delta <> 0;
    UPDATE suppliers s SET contracted_total = s.contracted_total + m.delta
      FROM (SELECT supplier_id, sum(final_value) AS delta FROM new_rows GROUP BY 1) m
     WHERE s.id = m.supplier_id AND m.delta <> 0;
    RETURN NULL;
END
$$;

CREATE FUNCTION contracts_remove_totals() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE agencies a SET contracted_total = a.contracted_total - m.delta
      FROM (SELECT agency_id, sum(final_value) AS delta FROM old_rows GROUP BY 1) m
     WHERE a.id = m.agency_id AND m.delta <> 0;
    UPDATE suppliers s SET contracted_total = s.contracted_total - m.delta
      FROM (SELECT supplier_id, sum(final_value) AS delta FROM old_rows GROUP BY 1) m
     WHERE s.id = m.supplier_id AND m.delta <> 0;
    RETURN NULL;
END
$$;

CREATE FUNCTION contracts_move_totals() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE agencies a SET contracted_total = a.contracted_total + m.delta
      FROM (SELECT agency_id, sum(v) AS delta FROM (
              SELECT agency_id, final_value AS v FROM new_rows
              UNION ALL SELECT agency_id, -final_value FROM old_rows) d GROUP BY 1) m
     WHERE a.id = m.agency_id AND m.delta <> 0;
    UPDATE suppliers s SET contracted_total = s.contracted_total + m.delta
      FROM (SELECT supplier_id, sum(v) AS delta FROM (
              SELECT supplier_id, final_value AS v FROM new_rows
              UNION ALL SELECT supplier_id, -final_value FROM old_rows) d GROUP BY 1) m
     WHERE s.id = m.supplier_id AND m.delta <> 0;
    RETURN NULL;
END
$$;

CREATE FUNCTION contracts_clear_totals() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE agencies SET contracted_total = 0 WHERE contracted_total <> 0;
    UPDATE suppliers SET contracted_total = 0 WHERE contracted_total <> 0;
    RETURN NULL;
END
$$;

CREATE TRIGGER contracts_totals_insert AFTER INSERT ON contracts
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION contracts_add_totals();
CREATE TRIGGER contracts_totals_update AFTER UPDATE ON contracts
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION contracts_move_totals();
CREATE TRIGGER contracts_totals_delete AFTER DELETE ON contracts
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION contracts_remove_totals();
CREATE TRIGGER contracts_totals_truncate AFTER TRUNCATE ON contracts
    FOR EACH STATEMENT EXECUTE FUNCTION contracts_clear_totals();

-- Keyset orderings (name or total, then id) and the equality filters they serve.
CREATE INDEX agencies_name_idx ON agencies (name, id);
CREATE INDEX agencies_total_idx ON agencies (contracted_total, id);
CREATE INDEX suppliers_name_idx ON suppliers (name, id);
CREATE INDEX suppliers_total_idx ON suppliers (contracted_total, id);
-- A municipality's agencies, looked up before their contracts are read (`ibgeCode`).
CREATE INDEX agencies_ibge_idx ON agencies (ibge_code);

-- Procurements by estimated value: a keyset needs a column without NULLs, and PNCP may
-- publish a procurement without its estimate (sigiloso, or not yet), which sorts as zero.
ALTER TABLE procurements
    ADD COLUMN estimated_or_zero numeric(18, 2) NOT NULL
    GENERATED ALWAYS AS (coalesce(estimated_total, 0)) STORED;
CREATE INDEX procurements_estimated_idx ON procurements (estimated_or_zero, id);
CREATE INDEX procurements_agency_estimated_idx ON procurements (agency_id, estimated_or_zero, id);
CREATE INDEX procurements_uf_estimated_idx ON procurements (uf, estimated_or_zero, id);
CREATE INDEX procurements_modality_estimated_idx
    ON procurements (modality, estimated_or_zero, id);
ALTER TABLE procurements ALTER COLUMN estimated_or_zero SET STATISTICS 1000;
