-- Deal data:
-- vaults and folders, documents (their bytes live in the data directory, named by content id),
-- the secret that signs file links, checklists with sections, tasks and task links, memos and
-- the deal index (metric catalog, entities, observations, canonical facts and their full-text
-- index). Every account-owned row carries its account id, so every query filters on it.

-- One row, created by the first node that needs it and shared by all of them.
CREATE TABLE file_link_secrets (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    secret_hex  TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE vaults (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    deal_id     INTEGER NOT NULL REFERENCES deals(id),
    vault_type  TEXT NOT NULL,
    title       TEXT,
    is_default  INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL
);
CREATE INDEX vaults_deal ON vaults(account_id, deal_id, id);
-- A deal has one private Resources vault and at most one default Deal Room.
CREATE UNIQUE INDEX vaults_one_resources ON vaults(deal_id) WHERE vault_type = 'resources';
CREATE UNIQUE INDEX vaults_one_default ON vaults(deal_id) WHERE is_default = 1;

CREATE TABLE vault_folders (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    vault_id    INTEGER NOT NULL REFERENCES vaults(id),
    path        TEXT NOT NULL,
    UNIQUE (vault_id, path)
);

-- Catalog of expected document types (global reference data).
CREATE TABLE document_types (
    id    INTEGER PRIMARY KEY,
    name  TEXT NOT NULL
);
INSERT INTO document_types (id, name) VALUES
    (1, 'Rent roll'),
    (2, 'Operating statement'),
    (3, 'Appraisal'),
    (4, 'Purchase and sale agreement'),
    (5, 'Environmental report (Phase I)'),
    (6, 'Property condition report'),
    (7, 'Survey'),
    (8, 'Title commitment'),
    (9, 'Insurance certificate'),
    (10, 'Sponsor financial statement'),
    (11, 'Organizational documents'),
    (12, 'Budget'),
    (13, 'Offering memorandum'),
    (14, 'Tax bill'),
    (15, 'Lease'),
    (16, 'Loan application');

CREATE TABLE documents (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id        INTEGER NOT NULL REFERENCES accounts(id),
    deal_id           INTEGER NOT NULL REFERENCES deals(id),
    vault_id          INTEGER NOT NULL REFERENCES vaults(id),
    folder_id         INTEGER REFERENCES vault_folders(id),
    file_name         TEXT,
    extension         TEXT,
    size_bytes        INTEGER,
    -- SHA-256 (hex) of the bytes: the file's name in the data directory, never a user's path.
    content_id        TEXT,
    document_type_id  INTEGER REFERENCES document_types(id),
    -- File name case-folded by the application, matched by `search`.
    search_name       TEXT NOT NULL DEFAULT '',
    uploaded_at       TEXT
);
CREATE INDEX documents_deal ON documents(account_id, deal_id, id);
CREATE INDEX documents_vault ON documents(vault_id, id);

-- One checklist per shared Deal Room.
CREATE TABLE checklists (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    deal_id     INTEGER NOT NULL REFERENCES deals(id),
    vault_id    INTEGER NOT NULL UNIQUE REFERENCES vaults(id),
    created_at  TEXT NOT NULL
);
CREATE INDEX checklists_deal ON checklists(account_id, deal_id);

CREATE TABLE checklist_sections (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id    INTEGER NOT NULL REFERENCES accounts(id),
    checklist_id  INTEGER NOT NULL REFERENCES checklists(id),
    name          TEXT NOT NULL,
    position      INTEGER NOT NULL,
    start_date    TEXT,
    end_date      TEXT
);
CREATE INDEX checklist_sections_checklist ON checklist_sections(checklist_id, position, id);

CREATE TABLE checklist_tasks (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id        INTEGER NOT NULL REFERENCES accounts(id),
    checklist_id      INTEGER NOT NULL REFERENCES checklists(id),
    section_id        INTEGER REFERENCES checklist_sections(id),
    parent_task_id    INTEGER REFERENCES checklist_tasks(id),
    title             TEXT NOT NULL,
    description       TEXT,
    status            TEXT NOT NULL DEFAULT 'to_do',
    is_completed      INTEGER NOT NULL DEFAULT 0,
    completed_at      TEXT,
    position          INTEGER NOT NULL,
    due_date          TEXT,
    role              TEXT,
    assignee_user_id  INTEGER REFERENCES users(id),
    team_type         TEXT,
    team_id           INTEGER,
    team_name         TEXT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);
CREATE INDEX checklist_tasks_checklist ON checklist_tasks(checklist_id, position, id);
CREATE INDEX checklist_tasks_account ON checklist_tasks(account_id, id);

CREATE TABLE checklist_task_collaborators (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id  INTEGER NOT NULL REFERENCES checklist_tasks(id),
    user_id  INTEGER REFERENCES users(id),
    email    TEXT
);
CREATE INDEX checklist_task_collaborators_task ON checklist_task_collaborators(task_id, id);

CREATE TABLE checklist_task_document_types (
    task_id           INTEGER NOT NULL REFERENCES checklist_tasks(id),
    document_type_id  INTEGER NOT NULL REFERENCES document_types(id),
    PRIMARY KEY (task_id, document_type_id)
);

-- Files linked to a task; the id is the file's `vault_resource_id`.
CREATE TABLE checklist_task_files (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id      INTEGER NOT NULL REFERENCES checklist_tasks(id),
    document_id  INTEGER REFERENCES documents(id),
    name         TEXT,
    origin       TEXT NOT NULL
);
CREATE INDEX checklist_task_files_task ON checklist_task_files(task_id, id);

CREATE TABLE memos (
    id                     INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid                   TEXT NOT NULL UNIQUE,
    account_id             INTEGER NOT NULL REFERENCES accounts(id),
    deal_id                INTEGER NOT NULL REFERENCES deals(id),
    title                  TEXT NOT NULL,
    memo_type              TEXT NOT NULL,
    status                 TEXT NOT NULL,
    body                   TEXT NOT NULL,
    created_by_user_id     INTEGER REFERENCES users(id),
    pdf_generation_status  TEXT NOT NULL,
    -- Set when the PDF has been written to the data directory (on first request).
    pdf_content_id         TEXT,
    published_at           TEXT,
    created_at             TEXT NOT NULL,
    updated_at             TEXT NOT NULL,
    search_title           TEXT NOT NULL DEFAULT ''
);
CREATE INDEX memos_deal ON memos(account_id, deal_id, id);

CREATE TABLE memo_vaults (
    memo_id   INTEGER NOT NULL REFERENCES memos(id),
    vault_id  INTEGER NOT NULL REFERENCES vaults(id),
    PRIMARY KEY (memo_id, vault_id)
);

-- The catalog of recordable metrics (global reference data).
CREATE TABLE index_metric_definitions (
    id                       INTEGER PRIMARY KEY,
    metric_key               TEXT NOT NULL UNIQUE,
    metric_label             TEXT NOT NULL,
    value_type               TEXT NOT NULL,
    category_id              INTEGER NOT NULL,
    category_label           TEXT NOT NULL,
    entity_type              TEXT NOT NULL,
    editable                 INTEGER NOT NULL,
    identifying              INTEGER NOT NULL,
    support_multiple_values  INTEGER NOT NULL
);
INSERT INTO index_metric_definitions (id, metric_key, metric_label, value_type, category_id, category_label, entity_type, editable, identifying, support_multiple_values) VALUES
    (1, 'deal_name', 'Deal name', 'text', 1, 'Deal overview', 'deal', 1, 1, 0),
    (2, 'loan_amount_requested', 'Requested loan amount', 'currency', 5, 'Loan terms', 'deal', 1, 0, 0),
    (3, 'purchase_price', 'Purchase price', 'currency', 3, 'Valuation', 'deal', 1, 0, 0),
    (4, 'appraised_value', 'Appraised value', 'currency', 3, 'Valuation', 'deal', 1, 0, 0),
    (5, 'going_in_cap_rate', 'Going-in cap rate', 'percent', 3, 'Valuation', 'deal', 1, 0, 0),
    (6, 'loan_to_value', 'Loan-to-value (LTV)', 'percent', 5, 'Loan terms', 'deal', 0, 0, 0),
    (7, 'debt_service_coverage', 'Debt service coverage ratio (DSCR)', 'number', 5, 'Loan terms', 'deal', 0, 0, 0),
    (8, 'interest_rate_requested', 'Requested interest rate', 'percent', 5, 'Loan terms', 'deal', 1, 0, 0),
    (9, 'loan_term_months', 'Loan term (months)', 'integer', 5, 'Loan terms', 'deal', 1, 0, 0),
    (10, 'estimated_closing_date', 'Estimated closing date', 'date', 1, 'Deal overview', 'deal', 1, 0, 0),
    (20, 'property_name', 'Property name', 'text', 2, 'Property', 'property', 1, 1, 0),
    (21, 'property_address', 'Property address', 'text', 2, 'Property', 'property', 1, 1, 0),
    (22, 'unit_count', 'Unit count', 'integer', 2, 'Property', 'property', 1, 0, 0),
    (23, 'year_built', 'Year built', 'integer', 2, 'Property', 'property', 1, 0, 0),
    (24, 'net_rentable_area_sf', 'Net rentable area (SF)', 'number', 2, 'Property', 'property', 1, 0, 0),
    (30, 'gross_potential_rent', 'Gross potential rent', 'currency', 4, 'Income and expenses', 'property', 1, 0, 0),
    (31, 'effective_gross_income', 'Effective gross income', 'currency', 4, 'Income and expenses', 'property', 1, 0, 0),
    (32, 'operating_expenses_t12', 'Operating expenses (T-12)', 'currency', 4, 'Income and expenses', 'property', 1, 0, 0),
    (33, 'noi_t12', 'NOI (T-12)', 'currency', 4, 'Income and expenses', 'property', 1, 0, 0),
    (34, 'noi_underwritten', 'Underwritten NOI', 'currency', 4, 'Income and expenses', 'property', 1, 0, 0),
    (40, 'occupancy_physical', 'Physical occupancy', 'percent', 6, 'Occupancy and leasing', 'property', 1, 0, 0),
    (41, 'occupancy_economic', 'Economic occupancy', 'percent', 6, 'Occupancy and leasing', 'property', 1, 0, 0),
    (42, 'average_rent_per_unit', 'Average in-place rent per unit', 'currency', 6, 'Occupancy and leasing', 'property', 1, 0, 0),
    (50, 'sponsor_name', 'Sponsor name', 'text', 7, 'Sponsor', 'sponsor', 1, 1, 0),
    (51, 'sponsor_net_worth', 'Sponsor net worth', 'currency', 7, 'Sponsor', 'sponsor', 1, 0, 0),
    (52, 'sponsor_liquidity', 'Sponsor liquidity', 'currency', 7, 'Sponsor', 'sponsor', 1, 0, 0),
    (53, 'sponsor_units_owned', 'Units owned by the sponsor', 'integer', 7, 'Sponsor', 'sponsor', 1, 0, 1);

-- Entities of a deal beyond the deal itself and its properties (sponsors).
CREATE TABLE index_entities (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id   INTEGER NOT NULL REFERENCES accounts(id),
    deal_id      INTEGER NOT NULL REFERENCES deals(id),
    entity_type  TEXT NOT NULL,
    name         TEXT,
    created_at   TEXT NOT NULL
);
CREATE INDEX index_entities_deal ON index_entities(account_id, deal_id, id);

-- Candidate values, one per source (a document extraction or a value a user recorded).
-- `slot` names what the value is about: the entity ref, `group:<ref>` or `deal`.
CREATE TABLE index_observations (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id          INTEGER NOT NULL REFERENCES accounts(id),
    deal_id             INTEGER NOT NULL REFERENCES deals(id),
    metric_id           INTEGER NOT NULL REFERENCES index_metric_definitions(id),
    slot                TEXT NOT NULL,
    entity_type         TEXT,
    entity_id           INTEGER,
    entity_ref          TEXT,
    group_ref           TEXT,
    value_text          TEXT NOT NULL,
    original_text       TEXT,
    context             TEXT,
    summary             TEXT,
    period_type         TEXT,
    period_value        TEXT,
    confidence          REAL,
    weight              INTEGER NOT NULL,
    source_type         TEXT NOT NULL,
    document_id         INTEGER REFERENCES documents(id),
    -- Page numbers, comma-separated.
    pages               TEXT,
    created_by_user_id  INTEGER REFERENCES users(id),
    created_at          TEXT NOT NULL
);
CREATE INDEX index_observations_slot ON index_observations(account_id, deal_id, metric_id, slot, id);

-- Canonical ("source of truth") values: one per deal, metric and slot.
CREATE TABLE index_facts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id      INTEGER NOT NULL REFERENCES accounts(id),
    deal_id         INTEGER NOT NULL REFERENCES deals(id),
    metric_id       INTEGER NOT NULL REFERENCES index_metric_definitions(id),
    slot            TEXT NOT NULL,
    entity_type     TEXT,
    entity_id       INTEGER,
    entity_ref      TEXT,
    group_ref       TEXT,
    value_text      TEXT NOT NULL,
    context         TEXT,
    summary         TEXT,
    period_type     TEXT,
    period_value    TEXT,
    source_type     TEXT NOT NULL,
    source_id       TEXT,
    observation_id  INTEGER REFERENCES index_observations(id),
    document_id     INTEGER REFERENCES documents(id),
    pages           TEXT,
    weight          INTEGER,
    origin          TEXT NOT NULL,
    needs_review    INTEGER NOT NULL DEFAULT 0,
    -- Metric names, value and surrounding text, matched by the full-text search.
    search_text     TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (deal_id, metric_id, slot)
);
CREATE INDEX index_facts_deal ON index_facts(account_id, deal_id, id);

-- Full-text search over facts: an FTS5 index over `index_facts.search_text` (Porter stemming,
-- Unicode folding), kept in step by triggers.
CREATE VIRTUAL TABLE index_fact_fts USING fts5(
    search_text,
    content = 'index_facts',
    content_rowid = 'id',
    tokenize = 'porter unicode61'
);
CREATE TRIGGER index_facts_fts_insert AFTER INSERT ON index_facts BEGIN
    INSERT INTO index_fact_fts (rowid, search_text) VALUES (new.id, new.search_text);
END;
CREATE TRIGGER index_facts_fts_delete AFTER DELETE ON index_facts BEGIN
    INSERT INTO index_fact_fts (index_fact_fts, rowid, search_text) VALUES ('delete', old.id, old.search_text);
END;
CREATE TRIGGER index_facts_fts_update AFTER UPDATE OF search_text ON index_facts BEGIN
    INSERT INTO index_fact_fts (index_fact_fts, rowid, search_text) VALUES ('delete', old.id, old.search_text);
    INSERT INTO index_fact_fts (rowid, search_text) VALUES (new.id, new.search_text);
END;
