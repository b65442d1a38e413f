-- Postponements in a row without progress (a rate limit that never lets the job do anything):
-- reset by an attempt that made progress or spent an attempt; at `jobs.max_postponements` the
-- job is dead, its last error naming the count and the last reason.
ALTER TABLE jobs ADD COLUMN postponements INTEGER NOT NULL DEFAULT 0;
