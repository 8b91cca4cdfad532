-- Core schema: accounts, users, memberships, API keys, idempotency records, deals and the
-- deal sub-resources that deals embed. Timestamps are UTC RFC 3339 text (`...Z`), which sorts
-- correctly as text and reads the same in every backend.

CREATE TABLE accounts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid          TEXT NOT NULL UNIQUE,
    slug          TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    account_type  TEXT,
    api_tier      TEXT NOT NULL DEFAULT 'standard',
    created_at    TEXT NOT NULL
);

CREATE TABLE users (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid              TEXT NOT NULL UNIQUE,
    email             TEXT NOT NULL UNIQUE,
    first_name        TEXT,
    last_name         TEXT,
    title             TEXT,
    photo_url         TEXT,
    subject           TEXT UNIQUE,
    active_account_id INTEGER REFERENCES accounts(id),
    last_login_at     TEXT,
    created_at        TEXT NOT NULL
);

CREATE TABLE memberships (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL REFERENCES users(id),
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    role        TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'active',
    created_at  TEXT NOT NULL,
    UNIQUE (user_id, account_id)
);
CREATE INDEX memberships_account ON memberships(account_id);

CREATE TABLE api_keys (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id         INTEGER NOT NULL REFERENCES users(id),
    account_id      INTEGER NOT NULL REFERENCES accounts(id),
    label           TEXT NOT NULL,
    key_prefix      TEXT NOT NULL,
    key_digest      TEXT NOT NULL UNIQUE,
    permission      TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    last_used_at    TEXT,
    last_origin_app TEXT,
    revoked_at      TEXT
);
CREATE INDEX api_keys_account ON api_keys(account_id, revoked_at);

-- Bumped by every change that must invalidate cached credentials on running servers
-- (revocations, role and membership changes). Servers poll it.
CREATE TABLE auth_epoch (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    value  INTEGER NOT NULL
);
INSERT INTO auth_epoch (id, value) VALUES (1, 0);

CREATE TABLE idempotency_keys (
    account_id   INTEGER NOT NULL,
    user_id      INTEGER NOT NULL,
    idem_key     TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    state        TEXT NOT NULL,
    status       INTEGER,
    body         TEXT,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (account_id, user_id, idem_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);

CREATE TABLE pipelines (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_account_id  INTEGER REFERENCES accounts(id),
    name              TEXT NOT NULL,
    pipeline_type     TEXT,
    created_at        TEXT NOT NULL
);
CREATE INDEX pipelines_account ON pipelines(owner_account_id);

CREATE TABLE pipeline_statuses (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    pipeline_id  INTEGER NOT NULL REFERENCES pipelines(id),
    key          TEXT NOT NULL,
    name         TEXT NOT NULL,
    position     INTEGER NOT NULL
);
CREATE INDEX pipeline_statuses_pipeline ON pipeline_statuses(pipeline_id, position);

CREATE TABLE deals (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_account_id      INTEGER NOT NULL REFERENCES accounts(id),
    title                 TEXT NOT NULL,
    loan_amount           REAL,
    loan_type             TEXT,
    transaction_type      TEXT,
    business_plan         TEXT,
    description           TEXT,
    estimated_close_date  TEXT,
    close_date            TEXT,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL,
    archived              INTEGER NOT NULL DEFAULT 0,
    archived_at           TEXT,
    -- Title and description case-folded by the application (Unicode-aware on every backend),
    -- matched by `search`.
    search_text           TEXT NOT NULL DEFAULT ''
);
CREATE INDEX deals_account_id ON deals(owner_account_id, id);
CREATE INDEX deals_account_created ON deals(owner_account_id, created_at, id);

CREATE TABLE deal_pipelines (
    deal_id      INTEGER NOT NULL REFERENCES deals(id),
    pipeline_id  INTEGER NOT NULL REFERENCES pipelines(id),
    status_id    INTEGER NOT NULL REFERENCES pipeline_statuses(id),
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (deal_id, pipeline_id)
);

CREATE TABLE deal_financials (
    id                                   INTEGER PRIMARY KEY AUTOINCREMENT,
    deal_id                              INTEGER NOT NULL UNIQUE REFERENCES deals(id),
    purchase_price                       REAL,
    asking_price                         REAL,
    estimated_value                      REAL,
    in_place_noi                         REAL,
    stabilized_noi                       REAL,
    stabilized_value                     REAL,
    stabilized_occupancy                 REAL,
    going_in_cap_rate                    REAL,
    going_in_cap_rate_as_of_date         TEXT,
    capex                                REAL,
    historical_capex                     REAL,
    land_cost                            REAL,
    total_cost                           REAL,
    total_cost_basis                     REAL,
    cost_basis_to_date                   REAL,
    imputed_land_value                   REAL,
    existing_debt                        REAL,
    estimated_cost_basis_if_refinance    REAL,
    exchange_amount                      REAL,
    exchange_required_closing_date       TEXT,
    outstanding_loan_amount_at_closing   REAL,
    investment_sales_brokerage_fee       REAL,
    debt_placement_brokerage_fee         REAL,
    environmental_cost                   REAL,
    appraisal_cost                       REAL,
    survey_cost                          REAL,
    snda_and_estoppel_cost               REAL,
    estimated_borrower_counsel_cost      REAL,
    estimated_lender_counsel_cost        REAL,
    other_closing_costs                  INTEGER,
    date_of_purchase_if_refinance        TEXT,
    construction_start_date              TEXT,
    construction_completion_date         TEXT,
    debt_maturity_date                   TEXT,
    cash_out                             INTEGER,
    recent_phase_available               INTEGER,
    recent_appraisal_available           INTEGER,
    survey_available                     INTEGER,
    borrower_counsel_engaged             INTEGER,
    updated_at                           TEXT
);

CREATE TABLE deal_properties (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    deal_id         INTEGER NOT NULL REFERENCES deals(id),
    name            TEXT,
    address         TEXT,
    city            TEXT,
    state           TEXT,
    zip             TEXT,
    asset_type_id   INTEGER,
    units           INTEGER,
    square_footage  REAL,
    year_built      INTEGER
);
CREATE INDEX deal_properties_deal ON deal_properties(deal_id);

CREATE TABLE deal_team (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    deal_id     INTEGER NOT NULL REFERENCES deals(id),
    user_id     INTEGER NOT NULL REFERENCES users(id),
    deal_role   TEXT,
    is_primary  INTEGER NOT NULL DEFAULT 0,
    permission  TEXT
);
CREATE INDEX deal_team_deal ON deal_team(deal_id);
