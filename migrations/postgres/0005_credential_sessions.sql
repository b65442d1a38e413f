-- Sessions the host obtains from credentials (OAuth tokens, login cookies) live in the vault
-- with the credential; this table coordinates renewing them. One host at a time holds the lease
-- (`holder`, `lease_until`) and renews; the others wait and read the result. `generation` counts
-- renewals. A failed renewal is remembered for a while (`failure`, `refused`, `failed_at`) so
-- that callers do not hammer a provider that just said no.
CREATE TABLE credential_sessions (
    secret_id   BIGINT PRIMARY KEY REFERENCES vault_secrets (id) ON DELETE CASCADE,
    generation  BIGINT NOT NULL DEFAULT 0,
    status      TEXT   NOT NULL,
    holder      TEXT,
    lease_until BIGINT,
    failure     TEXT,
    refused     BIGINT NOT NULL DEFAULT 0,
    failed_at   BIGINT,
    updated_at  BIGINT NOT NULL
);

-- Authorization code flows in progress: the state's hash (the state itself travels only in the
-- browser), the connection and credential it authorizes, who started it, the PKCE verifier (in
-- the vault), and until when the callback is accepted. A row is deleted when used.
CREATE TABLE oauth_authorizations (
    state_hash         TEXT   PRIMARY KEY,
    connection_id      BIGINT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    secret_id          BIGINT NOT NULL REFERENCES vault_secrets (id) ON DELETE CASCADE,
    verifier_secret_id BIGINT NOT NULL REFERENCES vault_secrets (id) ON DELETE CASCADE,
    user_id            BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    return_to          TEXT,
    expires_at         BIGINT NOT NULL
);
CREATE INDEX oauth_authorizations_expiry ON oauth_authorizations (expires_at);
