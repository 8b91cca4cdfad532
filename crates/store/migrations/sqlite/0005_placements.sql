-- Placements (one outreach of a deal to one lender), term sheets (lender quotes filed under a
-- deal against a placement) and the display columns pipelines and their statuses lacked.
--
-- `private_company_id`, `contact_id` and `org_id` name CRM companies, contacts and directory
-- organisations. They carry no foreign keys: those tables belong to other modules, and a
-- placement keeps its own copy of the names it shows (`lender_name`, `contact_name`), taken
-- when it is created.

CREATE TABLE placements (
    id                          INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id                  INTEGER NOT NULL REFERENCES accounts(id),
    deal_id                     INTEGER NOT NULL REFERENCES deals(id),
    private_company_id          INTEGER NOT NULL,
    contact_id                  INTEGER,
    org_id                      INTEGER,
    lender_name                 TEXT,
    contact_name                TEXT,
    status                      TEXT NOT NULL,
    lender_status               TEXT,
    description                 TEXT,
    lev_score                   REAL,
    score                       REAL,
    outreach_date               TEXT,
    outreach_source             TEXT,
    last_communication_date     TEXT,
    lender_first_response_date  TEXT,
    visibility                  TEXT NOT NULL,
    created_by_user_id          INTEGER REFERENCES users(id),
    created_at                  TEXT NOT NULL,
    updated_at                  TEXT NOT NULL
);
-- At most one placement per (deal, lender, contact); a placement still waiting for its contact
-- counts as contact 0, so a second such outreach to the same lender is a duplicate too.
CREATE UNIQUE INDEX placements_linkage ON placements(deal_id, private_company_id, COALESCE(contact_id, 0));
CREATE INDEX placements_account ON placements(account_id, id);
CREATE INDEX placements_deal ON placements(deal_id, id);

CREATE TABLE term_sheets (
    id                          INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id                  INTEGER NOT NULL REFERENCES accounts(id),
    deal_id                     INTEGER NOT NULL REFERENCES deals(id),
    placement_id                INTEGER NOT NULL REFERENCES placements(id),
    title                       TEXT,
    quote_type                  TEXT NOT NULL,
    rate_type                   TEXT NOT NULL,
    initial_funding             INTEGER NOT NULL,
    additional_funding          INTEGER,
    -- Percent: the spread when `base_rate` names a benchmark, else the whole fixed coupon.
    total_rate                  REAL NOT NULL,
    -- Benchmark (a market base rate) by key (`sofr_m1`, …) and display value as of the write;
    -- NULL for a fixed quote. `base_rate_value` is the benchmark in percent at that time.
    base_rate                   TEXT,
    base_rate_label             TEXT,
    base_rate_value             REAL,
    rate_floor                  REAL,
    floor_type                  TEXT,
    max_ltv                     REAL,
    max_ltc                     REAL,
    min_dscr                    REAL,
    min_debt_yield              REAL,
    origination_fee             REAL,
    extension_fee               REAL,
    exit_fee                    REAL,
    good_faith_deposit          REAL,
    term                        INTEGER,
    amortization                INTEGER,
    io_period                   INTEGER,
    extension_one               INTEGER,
    extension_two               INTEGER,
    extension_three             INTEGER,
    recourse                    TEXT,
    recourse_type               TEXT,
    prepayment_penalty          TEXT,
    prepayment_penalty_details  TEXT,
    payment_method              TEXT,
    capital_source_type         TEXT,
    notes                       TEXT,
    ir_details                  TEXT,
    winning                     INTEGER NOT NULL DEFAULT 0,
    is_visible_to_borrower      INTEGER NOT NULL DEFAULT 1,
    created_by_user_id          INTEGER REFERENCES users(id),
    created_at                  TEXT NOT NULL,
    updated_at                  TEXT NOT NULL,
    deleted_at                  TEXT
);
CREATE INDEX term_sheets_deal ON term_sheets(account_id, deal_id, id);
CREATE INDEX term_sheets_placement ON term_sheets(placement_id);

ALTER TABLE pipelines ADD COLUMN description TEXT;
ALTER TABLE pipelines ADD COLUMN display_order INTEGER;
ALTER TABLE pipeline_statuses ADD COLUMN custom_status_name TEXT;
ALTER TABLE pipeline_statuses ADD COLUMN description TEXT;
ALTER TABLE pipeline_statuses ADD COLUMN icon TEXT;
