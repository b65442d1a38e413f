-- Web-automation tasks: an ordered list of steps (navigate, fetch, extract, submit a form, wait)
-- run against a target site on the job queue, through the same egress rules as plugins.
-- `allowed_hosts` and `steps` are JSON; `run_count` numbers the runs of a task.
CREATE TABLE web_tasks (
    id                    BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id            BIGINT  NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name                  TEXT    NOT NULL,
    target_url            TEXT    NOT NULL,
    allowed_hosts         TEXT    NOT NULL,
    allow_private_network BIGINT  NOT NULL DEFAULT 0,
    steps                 TEXT    NOT NULL,
    run_count             BIGINT  NOT NULL DEFAULT 0,
    created_by            BIGINT  REFERENCES users (id) ON DELETE SET NULL,
    created_at            BIGINT  NOT NULL,
    updated_at            BIGINT  NOT NULL,
    UNIQUE (project_id, name)
);
CREATE INDEX web_tasks_project ON web_tasks (project_id, id);

-- One run of a task: its state, the per-step results (JSON array) and the document holding the
-- extracted data; `origin` is `manual` or `schedule`. `job_id` is unique: a retried job continues its own run instead of adding one.
-- States: queued, running, succeeded, failed, cancelled.
CREATE TABLE web_task_runs (
    id           BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id      BIGINT  NOT NULL REFERENCES web_tasks (id) ON DELETE CASCADE,
    number       BIGINT  NOT NULL,
    job_id       BIGINT  UNIQUE REFERENCES jobs (id) ON DELETE SET NULL,
    origin       TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    steps        TEXT    NOT NULL DEFAULT '[]',
    error        TEXT,
    document_id  BIGINT  REFERENCES documents (id) ON DELETE SET NULL,
    requested_by BIGINT  REFERENCES users (id) ON DELETE SET NULL,
    created_at   BIGINT  NOT NULL,
    started_at   BIGINT,
    finished_at  BIGINT,
    UNIQUE (task_id, number)
);
CREATE INDEX web_task_runs_task ON web_task_runs (task_id, id);
