-- Single sign-on with OpenID Connect.
-- Timestamps are Unix epoch milliseconds, as everywhere.

-- Who a provider's account is here: linked only by the provider's stable (issuer, subject).
CREATE TABLE oidc_identities (
    issuer        TEXT   NOT NULL,
    subject       TEXT   NOT NULL,
    user_id       BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider      TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    last_login_at BIGINT NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX oidc_identities_user_id ON oidc_identities (user_id);

-- Sign-ins in progress: the state's hash (the state itself travels only in the browser), the
-- provider, the nonce and PKCE verifier (in the vault), and until when the callback is accepted.
-- A row is deleted when used, so a state works once.
CREATE TABLE oidc_logins (
    state_hash TEXT   PRIMARY KEY,
    provider   TEXT   NOT NULL,
    secret_id  BIGINT NOT NULL REFERENCES vault_secrets (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL
);
CREATE INDEX oidc_logins_expiry ON oidc_logins (expires_at);

-- Finished sign-ins waiting for the front end to fetch their tokens with a one-time code
-- (stored as its hash); the session starts when the code is exchanged.
CREATE TABLE oidc_handoffs (
    code_hash  TEXT   PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider   TEXT   NOT NULL,
    issuer     TEXT   NOT NULL,
    subject    TEXT   NOT NULL,
    idp_sid    TEXT,
    expires_at BIGINT NOT NULL
);
CREATE INDEX oidc_handoffs_expiry ON oidc_handoffs (expires_at);

-- Which platform sessions an SSO sign-in started, and the provider's session (`sid`), so that
-- the provider's back-channel logout ends exactly those.
CREATE TABLE oidc_sessions (
    session_id BIGINT PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    provider   TEXT   NOT NULL,
    issuer     TEXT   NOT NULL,
    subject    TEXT   NOT NULL,
    idp_sid    TEXT
);
CREATE INDEX oidc_sessions_subject ON oidc_sessions (issuer, subject);
