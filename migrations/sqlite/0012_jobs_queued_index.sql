-- The claim's index holds queued jobs only, in claim order: it stays small however many
-- finished jobs the table keeps, and a claim reads its first entries instead of sorting every
-- queued job (which is what the planner chose with the full index while a freshly filled table
-- had no statistics yet).
DROP INDEX jobs_due;
CREATE INDEX jobs_queued ON jobs (priority DESC, run_at, id) WHERE state = 'queued';
