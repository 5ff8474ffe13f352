-- 0002_steering: human-in-the-loop requests of paused runs.

CREATE TABLE steering_requests (
    id            TEXT PRIMARY KEY,
    deployment_id TEXT NOT NULL,
    thread_id     TEXT NOT NULL,
    run_id        TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    tool_call_id  TEXT NOT NULL,
    kind          TEXT NOT NULL,
    summary       TEXT NOT NULL,
    tool          TEXT NOT NULL,
    arguments     TEXT NOT NULL,     -- JSON object
    options       TEXT NOT NULL,     -- JSON array
    status        TEXT NOT NULL,
    decision      TEXT NOT NULL,
    message       TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    resolved_at   INTEGER,
    UNIQUE (run_id, tool_call_id)
) STRICT;

-- ListSteeringRequests by deployment (and status).
CREATE INDEX steering_deployment ON steering_requests (deployment_id, id);
-- ExpiredSteeringRequests.
CREATE INDEX steering_pending ON steering_requests (expires_at) WHERE status = 'pending';
