-- The credential vault: age ciphertexts and the recipient each was encrypted to. Plaintext never
-- touches the database; the identity lives in a key file or the environment.
CREATE TABLE vault_secrets (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    key_id     TEXT    NOT NULL,
    ciphertext BLOB    NOT NULL,
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL
);
CREATE INDEX vault_secrets_key_id ON vault_secrets (key_id);
