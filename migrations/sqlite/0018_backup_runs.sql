-- The log of this installation's backups: one row per attempt (scheduled, started from the API
-- or by `agentic backup create`), what it made and whether a later `backup verify` passed.
-- `started_by`: schedule | api | cli. Read by the admin API and by `/metrics` (last success,
-- size, duration, failures since).
-- Not itself backed up (host/src/store/backup/mod.rs, TRANSIENT): a restored installation
-- starts a new log; the backups themselves are listed from their destination.
CREATE TABLE backup_runs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    started_by   TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER,
    destination  TEXT    NOT NULL,
    name         TEXT,
    size         INTEGER,
    row_count    INTEGER,
    blob_count   INTEGER,
    duration_ms  INTEGER,
    error        TEXT,
    job_id       INTEGER,
    verified_at  INTEGER,
    verify_error TEXT
);
CREATE INDEX backup_runs_state ON backup_runs (state, id);
CREATE INDEX backup_runs_name ON backup_runs (name);
