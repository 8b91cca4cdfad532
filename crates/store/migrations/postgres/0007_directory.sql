-- The global lender directory and market reference data. Not owned by any account: every
-- caller sees the same rows. Lender, program and asset-type ids come with the data (lender ids
-- are organization ids other records refer to), so none of these tables assigns its own ids.

CREATE TABLE directory_lenders (
    id               BIGINT PRIMARY KEY,
    name             TEXT NOT NULL,
    -- Case-folded name and aliases, one per line: what `name=` searches.
    name_search      TEXT NOT NULL,
    -- Case-folded name: what `sort=name` orders by.
    name_sort        TEXT COLLATE "C" NOT NULL,
    website          TEXT,
    logo_url         TEXT,
    address          TEXT,
    city             TEXT,
    state            TEXT,
    zip              TEXT,
    about            TEXT,
    -- Lists are JSON arrays of strings.
    lender_type      TEXT,
    category         TEXT,
    linkedin_url     TEXT,
    aliases          TEXT,
    domains          TEXT,
    square_logo_url  TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX directory_lenders_state ON directory_lenders(state, id);
CREATE INDEX directory_lenders_name_sort ON directory_lenders(name_sort, id);

CREATE TABLE directory_programs (
    id                   BIGINT PRIMARY KEY,
    lender_id            BIGINT NOT NULL REFERENCES directory_lenders(id) ON DELETE CASCADE,
    title                TEXT,
    loan_types           TEXT,
    recourse_types       TEXT,
    min_loan_amount      DOUBLE PRECISION,
    max_loan_amount      DOUBLE PRECISION,
    capital_source_type  TEXT,
    positions            TEXT,
    sponsor_states       TEXT,
    status               TEXT
);
CREATE INDEX directory_programs_lender ON directory_programs(lender_id, id);

CREATE TABLE market_base_rates (
    rate_key    TEXT PRIMARY KEY,
    code        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    rate        DOUBLE PRECISION,
    as_of       TEXT NOT NULL,
    position    BIGINT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE market_asset_types (
    id                  BIGINT PRIMARY KEY,
    description         TEXT,
    property_sub_types  TEXT,
    updated_at          TEXT NOT NULL
);

-- One row per reference data set once it has been loaded (built-in or from a file). A missing
-- row means "never loaded": levd then loads its built-in data set. An emptied data set keeps
-- its row, so an operator's deliberate empty load is not undone.
CREATE TABLE reference_datasets (
    name       TEXT PRIMARY KEY,
    source     TEXT NOT NULL,
    loaded_at  TEXT NOT NULL
);
