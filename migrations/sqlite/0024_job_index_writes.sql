-- Each job's row is written three times by the queue (its enqueue, its claim, its outcome), and
-- every write that changes `state` adds an entry to each index whose predicate the row meets
-- (0023). Three full indexes held entries for rows they are never searched for: the unique
-- index of `idempotency_key` held every job without a key (most of them), and the two per-project
-- indexes every job without a project (backups, schedules without one). Each now holds only the
-- rows it finds: a lookup by key or by project (`=`, `IN`) implies `IS NOT NULL`, so both
-- databases still use them. Enqueueing names the predicate in its `ON CONFLICT` target.
--
-- A column's `UNIQUE` cannot be dropped in SQLite, so `jobs` is rebuilt as SQLite's documented
-- procedure does it (https://sqlite.org/lang_altertable.html, "Making Other Kinds Of Table
-- Schema Changes"): with foreign keys off (`Store::migrate` turns them off for migrations), so
-- that dropping the old table neither cascades into `job_attempts` nor clears `agents.job_id`
-- and `web_task_runs.job_id`; the new table is renamed to `jobs`, which their references name;
-- the AUTOINCREMENT counter is carried over, so an id is never reused after the newest jobs
-- were deleted; and the migration fails, rolled back, if any reference no longer resolves.
CREATE TABLE jobs_rebuilt (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    kind               TEXT    NOT NULL,
    project_id         BIGINT  REFERENCES projects (id) ON DELETE CASCADE,
    payload            TEXT    NOT NULL,
    state              TEXT    NOT NULL,
    priority           INTEGER NOT NULL DEFAULT 0,
    attempts           INTEGER NOT NULL DEFAULT 0,
    max_attempts       INTEGER NOT NULL,
    run_at             BIGINT  NOT NULL,
    idempotency_key    TEXT,
    lease_owner        TEXT,
    lease_until        BIGINT,
    cancel_requested   BIGINT  NOT NULL DEFAULT 0,
    progress_done      BIGINT  NOT NULL DEFAULT 0,
    progress_total     BIGINT,
    progress_message   TEXT    NOT NULL DEFAULT '',
    last_error         TEXT,
    result             TEXT,
    created_by         BIGINT  REFERENCES users (id) ON DELETE SET NULL,
    created_at         BIGINT  NOT NULL,
    started_at         BIGINT,
    finished_at        BIGINT,
    updated_at         BIGINT  NOT NULL,
    lease_token        BIGINT  NOT NULL DEFAULT 0,
    attempt_started_at BIGINT,
    checkpoint         TEXT,
    postponements      INTEGER NOT NULL DEFAULT 0
);
INSERT INTO jobs_rebuilt (id, kind, project_id, payload, state, priority, attempts, max_attempts,
    run_at, idempotency_key, lease_owner, lease_until, cancel_requested, progress_done,
    progress_total, progress_message, last_error, result, created_by, created_at, started_at,
    finished_at, updated_at, lease_token, attempt_started_at, checkpoint, postponements)
SELECT id, kind, project_id, payload, state, priority, attempts, max_attempts,
    run_at, idempotency_key, lease_owner, lease_until, cancel_requested, progress_done,
    progress_total, progress_message, last_error, result, created_by, created_at, started_at,
    finished_at, updated_at, lease_token, attempt_started_at, checkpoint, postponements
FROM jobs;
DELETE FROM sqlite_sequence WHERE name = 'jobs_rebuilt';
INSERT INTO sqlite_sequence (name, seq) SELECT 'jobs_rebuilt', seq FROM sqlite_sequence WHERE name = 'jobs';
DROP TABLE jobs;
ALTER TABLE jobs_rebuilt RENAME TO jobs;
CREATE UNIQUE INDEX jobs_idempotency_key ON jobs (idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_project ON jobs (project_id, id) WHERE project_id IS NOT NULL;
CREATE INDEX jobs_project_created ON jobs (project_id, created_at) WHERE project_id IS NOT NULL;
-- Unchanged, recreated with the table.
CREATE INDEX jobs_queued ON jobs (priority DESC, run_at, id) WHERE state = 'queued';
CREATE INDEX jobs_running ON jobs (lease_until) WHERE state = 'running';
CREATE INDEX jobs_dead ON jobs (finished_at) WHERE state = 'dead';
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;
-- Fails the migration (its transaction) if a reference dangles: the check holds for 0 only.
CREATE TEMP TABLE jobs_rebuilt_references (broken INTEGER CHECK (broken = 0));
INSERT INTO jobs_rebuilt_references SELECT COUNT(*) FROM pragma_foreign_key_check;
DROP TABLE jobs_rebuilt_references;
