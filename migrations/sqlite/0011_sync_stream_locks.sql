-- One sync at a time per stream: the job holding a stream's sync. A holder that is no longer
-- running (finished, or its worker died and the queue reclaimed it) holds nothing, so the
-- lock needs no lease of its own: the job queue's lease is it.
ALTER TABLE sync_states ADD COLUMN lock_job BIGINT;
