-- 0002_steering: human-in-the-loop requests of paused runs.

CREATE TABLE steering_requests (
    id            TEXT COLLATE "C" PRIMARY KEY,
    deployment_id TEXT COLLATE "C" NOT NULL,
    thread_id     TEXT COLLATE "C" NOT NULL,
    run_id        TEXT COLLATE "C" NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    tool_call_id  TEXT COLLATE "C" NOT NULL,
    kind          TEXT COLLATE "C" NOT NULL,
    summary       TEXT COLLATE "C" NOT NULL,
    tool          TEXT COLLATE "C" NOT NULL,
    arguments     TEXT COLLATE "C" NOT NULL,     -- JSON object
    options       TEXT COLLATE "C" NOT NULL,     -- JSON array
    status        TEXT COLLATE "C" NOT NULL,
    decision      TEXT COLLATE "C" NOT NULL,
    message       TEXT COLLATE "C" NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    resolved_at   BIGINT,
    UNIQUE (run_id, tool_call_id)
);

-- ListSteeringRequests by deployment (and status).
CREATE INDEX steering_deployment ON steering_requests (deployment_id, id);
-- ExpiredSteeringRequests.
CREATE INDEX steering_pending ON steering_requests (expires_at) WHERE status = 'pending';
