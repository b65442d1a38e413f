-- Client secrets of identity providers kept in the vault (`client_secret_vault = true`), one per
-- configured provider name. The secret itself is a vault_secrets row (age-encrypted); setting
-- it again replaces that row's ciphertext, so the id here never changes.
CREATE TABLE oidc_client_secrets (
    provider   TEXT   PRIMARY KEY,
    secret_id  BIGINT NOT NULL REFERENCES vault_secrets (id),
    updated_at BIGINT NOT NULL
);
