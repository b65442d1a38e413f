-- Event triggers of agents (`run_on`): the latest sync event that brought an agent's next run
-- forward, consumed by that run; and what started each run.
ALTER TABLE agents ADD COLUMN pending_event TEXT;
ALTER TABLE agent_runs ADD COLUMN triggered_by TEXT;
