-- The credential vault: age ciphertexts and the recipient each was encrypted to. Plaintext never
-- touches the database; the identity lives in a key file or the environment.
CREATE TABLE vault_secrets (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key_id     TEXT    NOT NULL,
    ciphertext BYTEA   NOT NULL,
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL
);
CREATE INDEX vault_secrets_key_id ON vault_secrets (key_id);
