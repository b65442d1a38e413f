-- Each job's row is written three times by the queue (its enqueue, its claim, its outcome), and
-- every write that changes `state` adds an entry to each index whose predicate the row meets
-- (0023). Three full indexes held entries for rows they are never searched for: the unique
-- index of `idempotency_key` held every job without a key (most of them), and the two per-project
-- indexes every job without a project (backups, schedules without one). Each now holds only the
-- rows it finds: a lookup by key or by project (`=`, `IN`) implies `IS NOT NULL`, so both
-- databases still use them. Enqueueing names the predicate in its `ON CONFLICT` target.
ALTER TABLE jobs DROP CONSTRAINT jobs_idempotency_key_key;
CREATE UNIQUE INDEX jobs_idempotency_key ON jobs (idempotency_key) WHERE idempotency_key IS NOT NULL;
DROP INDEX jobs_project;
CREATE INDEX jobs_project ON jobs (project_id, id) WHERE project_id IS NOT NULL;
DROP INDEX jobs_project_created;
CREATE INDEX jobs_project_created ON jobs (project_id, created_at) WHERE project_id IS NOT NULL;
