-- API usage for the analytics endpoints. Each host counts requests in memory per (hour, project,
-- route template, method, status class) and adds its counts here about once a minute and when it
-- stops, so counting costs no database write per request. `project_id` 0 means a request not
-- attributed to a project; there is no foreign key, so usage history outlives a deleted project
-- (ids are never reused, so it cannot be shown as another project's).
CREATE TABLE api_usage (
    bucket_start BIGINT NOT NULL,
    project_id   BIGINT NOT NULL,
    route        TEXT   NOT NULL,
    method       TEXT   NOT NULL,
    status_class TEXT   NOT NULL,
    requests     BIGINT NOT NULL,
    duration_ms  BIGINT NOT NULL,
    PRIMARY KEY (bucket_start, project_id, route, method, status_class)
);
CREATE INDEX api_usage_project ON api_usage (project_id, bucket_start);

-- The analytics series select jobs by when they were enqueued and when they finished.
CREATE INDEX jobs_project_created ON jobs (project_id, created_at);
CREATE INDEX jobs_finished ON jobs (finished_at);
