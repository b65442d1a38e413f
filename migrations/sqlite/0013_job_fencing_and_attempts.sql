-- Fencing: every claim takes a new `lease_token` (it only grows), and every write a running
-- attempt makes (records, sync state, progress, outcome) first checks, in its own transaction,
-- that the job is still running under that token. A worker that lost its lease (paused past
-- it, cut off from the database) then changes nothing, even if it claims the job again later.
ALTER TABLE jobs ADD COLUMN lease_token BIGINT NOT NULL DEFAULT 0;
-- When the running attempt started (for its history entry).
ALTER TABLE jobs ADD COLUMN attempt_started_at BIGINT;
-- What a handler carries from one attempt to the next (JSON), written under the fence in the
-- same transaction as the work it counts: a sync's running totals across attempts.
ALTER TABLE jobs ADD COLUMN checkpoint TEXT;

-- One row per ended attempt, kept across retries: who ran it, when, and how it ended
-- (`succeeded`, `failed`, `postponed`, `cancelled`, `expired`: the worker stopped renewing).
CREATE TABLE job_attempts (
    job_id       BIGINT  NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    lease_token  BIGINT  NOT NULL,
    attempt      INTEGER NOT NULL,
    worker       TEXT    NOT NULL,
    started_at   BIGINT  NOT NULL,
    finished_at  BIGINT  NOT NULL,
    outcome      TEXT    NOT NULL,
    error        TEXT,
    PRIMARY KEY (job_id, lease_token)
);
