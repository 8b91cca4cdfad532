-- Exact deal totals without scanning: the number of deals of each account, and how many of
-- them are archived, kept by triggers on every write to `deals` (whatever the write path), so
-- an unfiltered list page reads its total from one row instead of counting the account.
CREATE TABLE deal_counts (
    account_id INTEGER PRIMARY KEY,
    total      INTEGER NOT NULL DEFAULT 0,
    archived   INTEGER NOT NULL DEFAULT 0
);

INSERT INTO deal_counts (account_id, total, archived)
SELECT owner_account_id, COUNT(*), SUM(CASE WHEN archived <> 0 THEN 1 ELSE 0 END)
FROM deals GROUP BY owner_account_id;

CREATE TRIGGER deal_counts_insert AFTER INSERT ON deals BEGIN
    INSERT INTO deal_counts (account_id, total, archived)
    VALUES (NEW.owner_account_id, 1, CASE WHEN NEW.archived <> 0 THEN 1 ELSE 0 END)
    ON CONFLICT (account_id) DO UPDATE SET total = total + 1, archived = archived + excluded.archived;
END;

CREATE TRIGGER deal_counts_delete AFTER DELETE ON deals BEGIN
    UPDATE deal_counts
    SET total = total - 1, archived = archived - (CASE WHEN OLD.archived <> 0 THEN 1 ELSE 0 END)
    WHERE account_id = OLD.owner_account_id;
END;

CREATE TRIGGER deal_counts_update AFTER UPDATE OF archived, owner_account_id ON deals
WHEN OLD.archived IS NOT NEW.archived OR OLD.owner_account_id IS NOT NEW.owner_account_id BEGIN
    UPDATE deal_counts
    SET total = total - 1, archived = archived - (CASE WHEN OLD.archived <> 0 THEN 1 ELSE 0 END)
    WHERE account_id = OLD.owner_account_id;
    INSERT INTO deal_counts (account_id, total, archived)
    VALUES (NEW.owner_account_id, 1, CASE WHEN NEW.archived <> 0 THEN 1 ELSE 0 END)
    ON CONFLICT (account_id) DO UPDATE SET total = total + 1, archived = archived + excluded.archived;
END;
