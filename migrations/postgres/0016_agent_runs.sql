-- Agents that really run (issue 15). A deployed component agent runs as a chain of `agent.run`
-- jobs: `run_job_id` is the one queued or running now (one run of an agent at a time; a run
-- that is not the agent's current one changes nothing). `grant_permissions` is the JSON array
-- of permissions the agent's platform calls may use, fixed at deploy as a subset of the
-- deploying person's (`deployed_by`). `run_state` is the agent's own state between runs (JSON
-- text it returned). Health of component agents is measured by the host from their runs:
-- `run_health` ('healthy', 'unhealthy', NULL before the first run) follows
-- `consecutive_failures` against the kind's `unhealthy_after`; `external` agents keep the
-- heartbeat rule.
ALTER TABLE agents ADD COLUMN grant_permissions TEXT;
ALTER TABLE agents ADD COLUMN deployed_by BIGINT;
ALTER TABLE agents ADD COLUMN run_job_id BIGINT;
ALTER TABLE agents ADD COLUMN run_state TEXT;
ALTER TABLE agents ADD COLUMN runs BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN failures BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN consecutive_failures BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN last_run_at BIGINT;
ALTER TABLE agents ADD COLUMN last_success_at BIGINT;
ALTER TABLE agents ADD COLUMN last_duration_ms BIGINT;
ALTER TABLE agents ADD COLUMN run_health TEXT;

-- One row per finished run: what the host measured (start, duration, outcome) and what the
-- agent reported (summary, metrics, events), or why it failed.
CREATE TABLE agent_runs (
    id          BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    agent_id    BIGINT  NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    job_id      BIGINT,
    run         BIGINT  NOT NULL,
    started_at  BIGINT  NOT NULL,
    duration_ms BIGINT  NOT NULL,
    succeeded   BIGINT  NOT NULL,
    error       TEXT,
    summary     TEXT,
    metrics     TEXT    NOT NULL,
    events      TEXT    NOT NULL
);
CREATE INDEX agent_runs_agent ON agent_runs (agent_id, id);

-- What people watching an agent are told: its own events and the host's alerts
-- (`alert.unhealthy`, `alert.recovered`). Read by `GET …/agents/{id}/events` (a stream).
CREATE TABLE agent_events (
    id       BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    agent_id BIGINT  NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    at       BIGINT  NOT NULL,
    kind     TEXT    NOT NULL,
    message  TEXT    NOT NULL
);
CREATE INDEX agent_events_agent ON agent_events (agent_id, id);
