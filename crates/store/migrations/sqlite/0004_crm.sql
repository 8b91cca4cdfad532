-- CRM and credits: companies, contacts and their phones, and the credit pool that pays for
-- contact unlocks (a balance per account plus a ledger of every change to it).

CREATE TABLE companies (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_account_id  INTEGER NOT NULL REFERENCES accounts(id),
    name              TEXT NOT NULL,
    -- 'lender' or 'sponsor'; accepted on create, not shown on the Company resource.
    company_type      TEXT NOT NULL,
    website           TEXT,
    address           TEXT,
    city              TEXT,
    state             TEXT,
    zip               TEXT,
    -- Global directory organization (lender directory id space); not a foreign key, the
    -- directory is reference data that may be reloaded.
    org_id            INTEGER,
    linkedin_url      TEXT,
    is_connected      INTEGER NOT NULL DEFAULT 1,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);
CREATE INDEX companies_account ON companies(owner_account_id, id);

CREATE TABLE contacts (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_account_id  INTEGER NOT NULL REFERENCES accounts(id),
    company_id        INTEGER NOT NULL REFERENCES companies(id),
    -- Comma-separated values of 'lender_contact', 'sponsor'; the first is `contact_type`.
    contact_types     TEXT NOT NULL,
    first_name        TEXT,
    last_name         TEXT,
    email             TEXT,
    title             TEXT,
    department        TEXT,
    address           TEXT,
    address2          TEXT,
    city              TEXT,
    state             TEXT,
    zip               TEXT,
    linkedin_url      TEXT,
    photo_url         TEXT,
    is_primary        INTEGER NOT NULL DEFAULT 0,
    is_connected      INTEGER NOT NULL DEFAULT 1,
    -- 1 for an AI-recommended contact whose identity is withheld until it is unlocked.
    is_locked         INTEGER NOT NULL DEFAULT 0,
    unlocked_at       TEXT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);
CREATE INDEX contacts_account ON contacts(owner_account_id, is_connected, id);
CREATE INDEX contacts_company ON contacts(company_id, id);
-- At most one primary contact per company.
CREATE UNIQUE INDEX contacts_one_primary ON contacts(company_id) WHERE is_primary = 1;

CREATE TABLE contact_phones (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    contact_id  INTEGER NOT NULL REFERENCES contacts(id),
    position    INTEGER NOT NULL,
    phone_type  TEXT,
    raw         TEXT,
    country     TEXT,
    e164        TEXT,
    extension   TEXT
);
CREATE INDEX contact_phones_contact ON contact_phones(contact_id, position);

-- The account's credit pool. No row: the account has its tier's default (see the service).
-- `balance` is NULL exactly when credit billing is not enabled.
CREATE TABLE credit_accounts (
    account_id  INTEGER PRIMARY KEY REFERENCES accounts(id),
    enabled     INTEGER NOT NULL,
    balance     INTEGER,
    updated_at  TEXT NOT NULL,
    CHECK (balance IS NULL OR balance >= 0)
);

-- Every change of a balance, written in the transaction that makes it.
CREATE TABLE credit_ledger (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id     INTEGER NOT NULL REFERENCES accounts(id),
    delta          INTEGER NOT NULL,
    balance_after  INTEGER NOT NULL,
    -- 'opening_grant', 'grant', 'adjustment' or 'contact_unlock'.
    reason         TEXT NOT NULL,
    contact_id     INTEGER REFERENCES contacts(id),
    user_id        INTEGER REFERENCES users(id),
    created_at     TEXT NOT NULL
);
CREATE INDEX credit_ledger_account ON credit_ledger(account_id, id);
-- A contact is paid for once, whatever races or retries happen.
CREATE UNIQUE INDEX credit_ledger_one_unlock ON credit_ledger(contact_id) WHERE reason = 'contact_unlock';
