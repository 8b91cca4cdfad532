-- Notes on deals, contacts, companies, placements and checklist tasks: one table, the parent
-- named by type and id (the API reaches notes only through their parent's path).
CREATE TABLE notes (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id          INTEGER NOT NULL REFERENCES accounts(id),
    parent_type         TEXT NOT NULL,
    parent_id           INTEGER NOT NULL,
    text                TEXT NOT NULL,
    created_by_user_id  INTEGER REFERENCES users(id),
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);
CREATE INDEX notes_parent ON notes(account_id, parent_type, parent_id, id);
