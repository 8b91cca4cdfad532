-- Exact deal totals without scanning: the number of deals of each account, and how many of
-- them are archived, kept by a trigger on every write to `deals` (whatever the write path), so
-- an unfiltered list page reads its total from one row instead of counting the account.
CREATE TABLE deal_counts (
    account_id BIGINT PRIMARY KEY,
    total      BIGINT NOT NULL DEFAULT 0,
    archived   BIGINT NOT NULL DEFAULT 0
);

INSERT INTO deal_counts (account_id, total, archived)
SELECT owner_account_id, COUNT(*), SUM(CASE WHEN archived <> 0 THEN 1 ELSE 0 END)
FROM deals GROUP BY owner_account_id;

CREATE FUNCTION deal_counts_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE deal_counts
        SET total = total - 1, archived = archived - (CASE WHEN OLD.archived <> 0 THEN 1 ELSE 0 END)
        WHERE account_id = OLD.owner_account_id;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO deal_counts (account_id, total, archived)
        VALUES (NEW.owner_account_id, 1, CASE WHEN NEW.archived <> 0 THEN 1 ELSE 0 END)
        ON CONFLICT (account_id) DO UPDATE
        SET total = deal_counts.total + 1, archived = deal_counts.archived + EXCLUDED.archived;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER deal_counts_insert_delete AFTER INSERT OR DELETE ON deals
FOR EACH ROW EXECUTE FUNCTION deal_counts_keep();

CREATE TRIGGER deal_counts_update AFTER UPDATE OF archived, owner_account_id ON deals
FOR EACH ROW WHEN (OLD.archived IS DISTINCT FROM NEW.archived OR OLD.owner_account_id IS DISTINCT FROM NEW.owner_account_id)
EXECUTE FUNCTION deal_counts_keep();
