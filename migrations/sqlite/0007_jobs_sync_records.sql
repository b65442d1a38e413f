-- The durable job queue. A job is claimed by one worker at a time under a lease it renews with
-- heartbeats; a worker that dies loses the lease and the job is retried. Failed attempts back off
-- exponentially (with jitter) until `max_attempts`, then the job is dead (kept for inspection and
-- manual retry). `idempotency_key` makes enqueueing the same work twice a no-op.
-- States: queued, running, succeeded, dead, cancelled.
CREATE TABLE jobs (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    kind              TEXT    NOT NULL,
    project_id        BIGINT  REFERENCES projects (id) ON DELETE CASCADE,
    payload           TEXT    NOT NULL,
    state             TEXT    NOT NULL,
    priority          INTEGER NOT NULL DEFAULT 0,
    attempts          INTEGER NOT NULL DEFAULT 0,
    max_attempts      INTEGER NOT NULL,
    run_at            BIGINT  NOT NULL,
    idempotency_key   TEXT    UNIQUE,
    lease_owner       TEXT,
    lease_until       BIGINT,
    cancel_requested  BIGINT  NOT NULL DEFAULT 0,
    progress_done     BIGINT  NOT NULL DEFAULT 0,
    progress_total    BIGINT,
    progress_message  TEXT    NOT NULL DEFAULT '',
    last_error        TEXT,
    result            TEXT,
    created_by        BIGINT  REFERENCES users (id) ON DELETE SET NULL,
    created_at        BIGINT  NOT NULL,
    started_at        BIGINT,
    finished_at       BIGINT,
    updated_at        BIGINT  NOT NULL
);
-- The claim: the most urgent due job.
CREATE INDEX jobs_due ON jobs (state, priority DESC, run_at, id);
CREATE INDEX jobs_project ON jobs (project_id, id);
CREATE INDEX jobs_lease ON jobs (state, lease_until);

-- Cron schedules. Every worker ticks them; the one that moves `next_run_at` on (a guarded
-- UPDATE) enqueues the run, with an idempotency key naming the slot, so each slot runs once.
CREATE TABLE job_schedules (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL UNIQUE,
    kind         TEXT    NOT NULL,
    project_id   BIGINT  REFERENCES projects (id) ON DELETE CASCADE,
    payload      TEXT    NOT NULL,
    cron         TEXT    NOT NULL,
    next_run_at  BIGINT  NOT NULL,
    enabled      BIGINT  NOT NULL DEFAULT 1,
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL
);

-- Where each stream of each connection got to: the plugin's opaque state after the last stored
-- page, written in the same transaction as that page's records.
CREATE TABLE sync_states (
    connection_id BIGINT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    stream        TEXT   NOT NULL,
    state         TEXT,
    cycle         BIGINT NOT NULL DEFAULT 0,
    complete      BIGINT NOT NULL DEFAULT 0,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (connection_id, stream)
);

-- The internal models the connectors transform into: one row per record, keyed by its source
-- (connection, stream, external id) so upserts are idempotent; the kind's searchable fields in
-- columns, the whole record as JSON. `cycle` is the full-refresh cycle that last saw the record
-- (deletions are what a completed full refresh did not see).
CREATE TABLE records (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id    BIGINT  NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    connection_id BIGINT  NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    stream        TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    external_id   TEXT    NOT NULL,
    title         TEXT    NOT NULL DEFAULT '',
    status        TEXT,
    data          TEXT    NOT NULL,
    source_updated_at BIGINT,
    cycle         BIGINT  NOT NULL DEFAULT 0,
    deleted       BIGINT  NOT NULL DEFAULT 0,
    synced_at     BIGINT  NOT NULL,
    UNIQUE (connection_id, stream, external_id)
);
CREATE INDEX records_by_kind ON records (project_id, kind, id);
