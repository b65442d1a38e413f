-- Agents: a project's configured, deployable workers. `config` is JSON valid against the JSON
-- Schema of `kind` (a registry in code). Lifecycle `state`: draft, deploying, running, stopping,
-- stopped, failed; `job_id` is the deploy or stop job that moves it out of a transitional state.
-- The agent's runtime token (`aat_<prefix>_<secret>`) is stored only as its SHA-256 hash, looked
-- up by prefix. Health is not stored: it is computed from `last_heartbeat_at` (or
-- `running_since`, before the first heartbeat) against `agents.heartbeat_timeout_secs`.
CREATE TABLE agents (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id        BIGINT  NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name              TEXT    NOT NULL,
    kind              TEXT    NOT NULL,
    config            TEXT    NOT NULL,
    state             TEXT    NOT NULL,
    last_error        TEXT,
    job_id            BIGINT  REFERENCES jobs (id) ON DELETE SET NULL,
    token_prefix      TEXT    UNIQUE,
    token_hash        TEXT,
    token_issued_at   BIGINT,
    running_since     BIGINT,
    last_heartbeat_at BIGINT,
    last_metrics      TEXT,
    created_by        BIGINT  REFERENCES users (id) ON DELETE SET NULL,
    created_at        BIGINT  NOT NULL,
    updated_at        BIGINT  NOT NULL,
    UNIQUE (project_id, name)
);
CREATE INDEX agents_project ON agents (project_id, id);

-- Metrics reported with heartbeats: one row per heartbeat that carried metrics (a JSON object of
-- name → number). Bounded per agent by age and count (`agents.metrics_retention_secs`,
-- `agents.metrics_max_samples`), pruned as samples arrive.
CREATE TABLE agent_metrics (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id BIGINT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    at       BIGINT NOT NULL,
    metrics  TEXT   NOT NULL
);
CREATE INDEX agent_metrics_agent ON agent_metrics (agent_id, id);
CREATE INDEX agent_metrics_at ON agent_metrics (agent_id, at);
