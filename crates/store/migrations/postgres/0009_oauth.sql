-- Built-in OAuth 2.1 authorization server: passwords of users, signing keys, registered
-- clients, sign-in interactions, grants (one per consent: the family every code, access
-- token and refresh token of that consent belongs to), codes and refresh tokens. Codes and
-- tokens are stored as SHA-256 digests only. Times in epoch seconds are integers.
ALTER TABLE users ADD COLUMN password_hash TEXT;

CREATE TABLE oauth_signing_keys (
    kid          TEXT PRIMARY KEY,
    private_pem  TEXT NOT NULL,
    public_jwk   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    retired_at   BIGINT
);

CREATE TABLE oauth_clients (
    client_id      TEXT PRIMARY KEY,
    secret_digest  TEXT,
    auth_method    TEXT NOT NULL,
    client_name    TEXT,
    redirect_uris  TEXT NOT NULL,
    metadata       TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);

CREATE TABLE oauth_interactions (
    id_digest       TEXT PRIMARY KEY,
    csrf_digest     TEXT NOT NULL,
    request         TEXT NOT NULL,
    user_id         BIGINT REFERENCES users(id),
    expires_at      BIGINT NOT NULL
);

CREATE TABLE oauth_grants (
    id          TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL,
    user_id     BIGINT NOT NULL REFERENCES users(id),
    scope       TEXT NOT NULL,
    audience    TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX oauth_grants_user ON oauth_grants(user_id);

CREATE TABLE oauth_codes (
    code_digest     TEXT PRIMARY KEY,
    grant_id        TEXT NOT NULL REFERENCES oauth_grants(id),
    redirect_uri    TEXT NOT NULL,
    code_challenge  TEXT NOT NULL,
    expires_at      BIGINT NOT NULL,
    used_at         BIGINT
);

CREATE TABLE oauth_refresh_tokens (
    token_digest  TEXT PRIMARY KEY,
    grant_id      TEXT NOT NULL REFERENCES oauth_grants(id),
    expires_at    BIGINT NOT NULL,
    used_at       BIGINT
);
CREATE INDEX oauth_refresh_tokens_grant ON oauth_refresh_tokens(grant_id);

-- Failed sign-ins per e-mail address and per client address, in fixed windows.
CREATE TABLE oauth_signin_failures (
    bucket        TEXT PRIMARY KEY,
    window_start  BIGINT NOT NULL,
    failures      BIGINT NOT NULL
);
