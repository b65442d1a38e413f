-- Connections: a project's use of a plugin against one service (base URL), with non-secret
-- configuration and a credential kept in the vault (`secret_id`; NULL for anonymous access).
CREATE TABLE connections (
    id                    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id            BIGINT  NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    plugin_id             TEXT    NOT NULL REFERENCES plugins (id),
    name                  TEXT    NOT NULL,
    config                TEXT    NOT NULL,
    base_url              TEXT    NOT NULL,
    allow_private_network BIGINT  NOT NULL DEFAULT 0,
    credential_kind       TEXT    NOT NULL,
    secret_id             BIGINT  REFERENCES vault_secrets (id),
    created_by            BIGINT  REFERENCES users (id),
    created_at            BIGINT  NOT NULL,
    updated_at            BIGINT  NOT NULL,
    UNIQUE (project_id, name)
);
CREATE INDEX connections_plugin ON connections (plugin_id);
