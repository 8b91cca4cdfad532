-- Exact deal totals without scanning: the number of deals of each account, and how many of
-- them are archived, kept by statement-level triggers on every write to `deals` (whatever the
-- write path), so an unfiltered list page reads its total from one row instead of counting the
-- account. Statement-level with transition tables: a bulk insert updates each account's row
-- once, not once per inserted deal, and an update that changes neither owner nor archived
-- writes nothing.
CREATE TABLE deal_counts (
    account_id BIGINT PRIMARY KEY,
    total      BIGINT NOT NULL DEFAULT 0,
    archived   BIGINT NOT NULL DEFAULT 0
);

INSERT INTO deal_counts (account_id, total, archived)
SELECT owner_account_id, COUNT(*), SUM(CASE WHEN archived <> 0 THEN 1 ELSE 0 END)
FROM deals GROUP BY owner_account_id;

CREATE FUNCTION deal_counts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO deal_counts (account_id, total, archived)
    SELECT owner_account_id, COUNT(*), SUM(CASE WHEN archived <> 0 THEN 1 ELSE 0 END)
    FROM new_rows GROUP BY owner_account_id
    ON CONFLICT (account_id) DO UPDATE
    SET total = deal_counts.total + EXCLUDED.total, archived = deal_counts.archived + EXCLUDED.archived;
    RETURN NULL;
END;
$$;

CREATE FUNCTION deal_counts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE deal_counts c SET total = c.total - d.n, archived = c.archived - d.a
    FROM (SELECT owner_account_id, COUNT(*) AS n, SUM(CASE WHEN archived <> 0 THEN 1 ELSE 0 END) AS a
          FROM old_rows GROUP BY owner_account_id) d
    WHERE c.account_id = d.owner_account_id;
    RETURN NULL;
END;
$$;

CREATE FUNCTION deal_counts_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO deal_counts (account_id, total, archived)
    SELECT account_id, SUM(dt), SUM(da) FROM (
        SELECT owner_account_id AS account_id, 1 AS dt, CASE WHEN archived <> 0 THEN 1 ELSE 0 END AS da
        FROM new_rows
        UNION ALL
        SELECT owner_account_id, -1, CASE WHEN archived <> 0 THEN -1 ELSE 0 END FROM old_rows
    ) d
    GROUP BY account_id
    HAVING SUM(dt) <> 0 OR SUM(da) <> 0
    ON CONFLICT (account_id) DO UPDATE
    SET total = deal_counts.total + EXCLUDED.total, archived = deal_counts.archived + EXCLUDED.archived;
    RETURN NULL;
END;
$$;

CREATE TRIGGER deal_counts_insert AFTER INSERT ON deals
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION deal_counts_inserted();

CREATE TRIGGER deal_counts_delete AFTER DELETE ON deals
REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION deal_counts_deleted();

CREATE TRIGGER deal_counts_update AFTER UPDATE ON deals
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION deal_counts_updated();
