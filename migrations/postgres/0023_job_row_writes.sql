-- Each job's row is written twice by the queue (its claim, its outcome). An UPDATE that changes
-- an indexed column (here `state`, always) adds an entry to every index of the table whose
-- predicate the new row meets; a partial index whose predicate it fails gets none. These
-- indexes serve queries that only ever look at rows in one state, so they hold only those rows:
-- a claim no longer enters the job in the finished-time index, an outcome no longer in the
-- lease index.
--
-- Expired leases (`Store::reclaim_expired`) and the count of running jobs: running jobs only.
DROP INDEX jobs_lease;
CREATE INDEX jobs_running ON jobs (lease_until) WHERE state = 'running';
-- The count of dead jobs (the performance report): without `jobs_lease` it would scan the table.
CREATE INDEX jobs_dead ON jobs (finished_at) WHERE state = 'dead';
-- Finished-time windows (analytics, the performance report): finished jobs only.
DROP INDEX jobs_finished;
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;
