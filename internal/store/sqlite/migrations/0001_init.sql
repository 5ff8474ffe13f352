-- 0001_init: the whole schema of store.Store.
--
-- Times are INTEGER unix microseconds UTC (NULL for an unset optional time).
-- JSON columns hold the encoding/json form of the domain field ("null" for a
-- nil slice or map, so that nil and empty survive a round trip).

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    scopes       TEXT NOT NULL,          -- JSON array
    hash         TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
) STRICT;

-- ListAPIKeys, CountAPIKeys.
CREATE INDEX api_keys_active ON api_keys (id) WHERE revoked_at IS NULL;

CREATE TABLE idempotency (
    key_id       TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status_code  INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    body         BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (key_id, key)
) STRICT;

-- DeleteIdempotencyBefore.
CREATE INDEX idempotency_created ON idempotency (created_at);

CREATE TABLE deployments (
    id             TEXT PRIMARY KEY,
    customer_id    TEXT NOT NULL,
    name           TEXT NOT NULL,
    runtime        TEXT NOT NULL,
    model          TEXT NOT NULL,
    system_prompt  TEXT NOT NULL,
    status         TEXT NOT NULL,
    sandbox        TEXT NOT NULL,        -- JSON herm.Sandbox
    mcp_servers    TEXT NOT NULL,        -- JSON []herm.MCPServer
    skills         TEXT NOT NULL,        -- JSON []herm.Skill
    secrets        TEXT NOT NULL,        -- JSON map
    features       TEXT NOT NULL,        -- JSON herm.Features
    tools          TEXT NOT NULL,        -- JSON map
    metadata       TEXT NOT NULL,        -- JSON map
    thread_id      TEXT NOT NULL,        -- the default thread
    config_version INTEGER NOT NULL,
    error          TEXT,                 -- JSON herm.ErrorInfo
    event_seq      INTEGER NOT NULL DEFAULT 0, -- last assigned event sequence
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
) STRICT;

-- ListDeployments by customer, ListDeployments/ListDeploymentIDsByStatus by status.
CREATE INDEX deployments_customer ON deployments (customer_id, id);
CREATE INDEX deployments_status ON deployments (status, id);

-- Every configuration a deployment has had (DeploymentVersion).
CREATE TABLE deployment_versions (
    deployment_id TEXT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    version       INTEGER NOT NULL,
    config        TEXT NOT NULL,         -- JSON of the configuration fields
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (deployment_id, version)
) STRICT, WITHOUT ROWID;

CREATE TABLE threads (
    id               TEXT PRIMARY KEY,
    deployment_id    TEXT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    title            TEXT NOT NULL,
    is_default       INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    last_activity_at INTEGER NOT NULL
) STRICT;

-- ListThreads; the ON DELETE CASCADE from deployments.
CREATE INDEX threads_deployment ON threads (deployment_id, id);

CREATE TABLE messages (
    id            TEXT PRIMARY KEY,
    deployment_id TEXT NOT NULL,
    thread_id     TEXT NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    run_id        TEXT NOT NULL,         -- '' when the message belongs to no run
    role          TEXT NOT NULL,
    content       TEXT NOT NULL,
    attachments   TEXT NOT NULL,         -- JSON []herm.Attachment
    pending       INTEGER NOT NULL,
    created_at    INTEGER NOT NULL
) STRICT;

-- ListMessages, the derived message count, the ON DELETE CASCADE from threads.
CREATE INDEX messages_thread ON messages (thread_id, pending, created_at, id);
-- PendingMessages.
CREATE INDEX messages_pending ON messages (run_id, created_at, id) WHERE pending = 1;

CREATE TABLE runs (
    id               TEXT PRIMARY KEY,
    deployment_id    TEXT NOT NULL,
    thread_id        TEXT NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    status           TEXT NOT NULL,
    trigger_info     TEXT NOT NULL,      -- JSON herm.Trigger
    automation_id    TEXT NOT NULL,      -- trigger_info's automation_id, for ListRuns
    config_version   INTEGER NOT NULL,
    model            TEXT NOT NULL,
    usage            TEXT NOT NULL,      -- JSON herm.Usage
    error            TEXT,               -- JSON herm.ErrorInfo
    stop_reason      TEXT NOT NULL,
    cancel_requested INTEGER NOT NULL,
    lease_owner      TEXT NOT NULL,
    lease_expires_at INTEGER NOT NULL,   -- 0 when never leased
    created_at       INTEGER NOT NULL,
    started_at       INTEGER,
    completed_at     INTEGER
) STRICT;

-- ActiveRuns, ListRuns by thread, the derived thread status, ClaimRun's
-- per-thread checks, the ON DELETE CASCADE from threads.
CREATE INDEX runs_thread ON runs (thread_id, status, created_at, id);
-- ListRuns by deployment.
CREATE INDEX runs_deployment ON runs (deployment_id, id);
-- ListRuns by automation.
CREATE INDEX runs_automation ON runs (automation_id, id) WHERE automation_id <> '';
-- ClaimRun's queue scan, CountRunsByStatus.
CREATE INDEX runs_status ON runs (status, created_at, id);
-- ClaimRun's expired leases, ReleaseRunsOf.
CREATE INDEX runs_lease ON runs (lease_expires_at) WHERE status = 'running';

CREATE TABLE run_steps (
    run_id     TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    idx        INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    data       TEXT,                     -- JSON
    created_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, idx)
) STRICT;

-- The event log. No foreign key: events outlive their thread and run, and
-- DeleteDeployment removes a deployment's events itself (which also spares
-- the hot insert path a parent lookup per row).
CREATE TABLE events (
    deployment_id TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    thread_id     TEXT NOT NULL,         -- '' for deployment-level events
    run_id        TEXT NOT NULL,         -- '' outside a run
    type          TEXT NOT NULL,
    data          TEXT,                  -- JSON object
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (deployment_id, seq)
) STRICT, WITHOUT ROWID;

-- DeleteEventsBefore (retention).
CREATE INDEX events_created ON events (created_at);
-- ListEvents filtered by thread.
CREATE INDEX events_thread ON events (thread_id, seq) WHERE thread_id <> '';
