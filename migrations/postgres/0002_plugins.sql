-- The plugin registry: trusted publisher keys, installed plugins with their versions (component
-- bytes in the database, so every host of a cluster sees the same set), and which projects have
-- a plugin enabled. Components are addressed by SHA-256; compiled code is cached per host.

CREATE TABLE plugin_publishers (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    public_key TEXT    NOT NULL UNIQUE,
    created_at BIGINT  NOT NULL,
    created_by BIGINT  REFERENCES users (id)
);

CREATE TABLE plugins (
    id               TEXT   PRIMARY KEY,
    active_version   TEXT   NOT NULL,
    previous_version TEXT,
    installed_at     BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);

CREATE TABLE plugin_versions (
    plugin_id    TEXT    NOT NULL REFERENCES plugins (id) ON DELETE CASCADE,
    version      TEXT    NOT NULL,
    wit_version  TEXT    NOT NULL,
    manifest     TEXT    NOT NULL,
    component    BYTEA   NOT NULL,
    sha256       TEXT    NOT NULL,
    publisher_id BIGINT  NOT NULL REFERENCES plugin_publishers (id),
    installed_at BIGINT  NOT NULL,
    installed_by BIGINT  REFERENCES users (id),
    PRIMARY KEY (plugin_id, version)
);
CREATE INDEX plugin_versions_publisher ON plugin_versions (publisher_id);

CREATE TABLE project_plugins (
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    plugin_id  TEXT   NOT NULL REFERENCES plugins (id) ON DELETE CASCADE,
    enabled_at BIGINT NOT NULL,
    enabled_by BIGINT REFERENCES users (id),
    PRIMARY KEY (project_id, plugin_id)
);
CREATE INDEX project_plugins_plugin ON project_plugins (plugin_id);
