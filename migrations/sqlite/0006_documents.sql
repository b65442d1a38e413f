-- Documents: files kept in a project, every version retained, with title, tags and metadata.
-- A version's bytes live in a blob store named by `blob_store`, under `blob_key`; the default
-- store is the database itself (`blobs` + `blob_chunks`, split into chunks so a download streams
-- and no row holds a whole file). Documents synced from a connection carry their source
-- (`source_connection_id`, `external_id`) and are read-only through the API.

CREATE TABLE blobs (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    size       BIGINT  NOT NULL,
    created_at BIGINT  NOT NULL
);

CREATE TABLE blob_chunks (
    blob_id BIGINT NOT NULL REFERENCES blobs (id) ON DELETE CASCADE,
    seq     BIGINT NOT NULL,
    data    BLOB   NOT NULL,
    PRIMARY KEY (blob_id, seq)
);

CREATE TABLE documents (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id           BIGINT  NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    title                TEXT    NOT NULL,
    -- JSON array of the tags as given; `document_tags` holds them folded to lower case for search.
    tags                 TEXT    NOT NULL,
    -- JSON object.
    metadata             TEXT    NOT NULL,
    current_version      BIGINT  NOT NULL,
    -- Lower-cased title, tags, metadata and the text of the current version (text types only),
    -- for `?q=` search.
    search_text          TEXT    NOT NULL,
    source_connection_id BIGINT  REFERENCES connections (id) ON DELETE SET NULL,
    external_id          TEXT,
    created_by           BIGINT  REFERENCES users (id),
    created_at           BIGINT  NOT NULL,
    updated_by           BIGINT  REFERENCES users (id),
    updated_at           BIGINT  NOT NULL,
    UNIQUE (source_connection_id, external_id)
);
CREATE INDEX documents_project ON documents (project_id, id);

CREATE TABLE document_tags (
    document_id BIGINT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    tag         TEXT   NOT NULL,
    PRIMARY KEY (document_id, tag)
);
CREATE INDEX document_tags_tag ON document_tags (tag);

CREATE TABLE document_versions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id  BIGINT  NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    number       BIGINT  NOT NULL,
    filename     TEXT    NOT NULL,
    content_type TEXT    NOT NULL,
    size         BIGINT  NOT NULL,
    sha256       TEXT    NOT NULL,
    blob_store   TEXT    NOT NULL,
    blob_key     TEXT    NOT NULL,
    -- Lower-cased start of the content of text types, for search; NULL for other types.
    content_text TEXT,
    created_by   BIGINT  REFERENCES users (id),
    created_at   BIGINT  NOT NULL,
    UNIQUE (document_id, number)
);

-- Bytes kept in the database go with their version however it is deleted, including by the
-- cascade from a deleted project or document.
CREATE TRIGGER document_versions_drop_blob AFTER DELETE ON document_versions
WHEN OLD.blob_store = 'database'
BEGIN
    DELETE FROM blobs WHERE id = CAST(OLD.blob_key AS INTEGER);
END;
