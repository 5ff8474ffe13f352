-- 0001_init: the whole schema of store.Store (PostgreSQL; the same schema
-- as the sqlite store's migrations 0001-0010, one file each).
--
-- Text columns sort and compare bytewise (COLLATE "C"), as in SQLite, so that
-- IDs order by creation whatever the database's locale. Flags are BIGINT 0/1
-- and JSON is TEXT (kept byte for byte), as in SQLite.
-- Times are BIGINT unix microseconds UTC (NULL for an unset optional time).
-- JSON columns hold the encoding/json form of the domain field ("null" for a
-- nil slice or map, so that nil and empty survive a round trip).

CREATE TABLE api_keys (
    id           TEXT COLLATE "C" PRIMARY KEY,
    name         TEXT COLLATE "C" NOT NULL,
    scopes       TEXT COLLATE "C" NOT NULL,          -- JSON array
    hash         TEXT COLLATE "C" NOT NULL UNIQUE,
    prefix       TEXT COLLATE "C" NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);

-- ListAPIKeys, CountAPIKeys.
CREATE INDEX api_keys_active ON api_keys (id) WHERE revoked_at IS NULL;

CREATE TABLE idempotency (
    key_id       TEXT COLLATE "C" NOT NULL,
    key          TEXT COLLATE "C" NOT NULL,
    request_hash TEXT COLLATE "C" NOT NULL,
    status_code  BIGINT NOT NULL,
    content_type TEXT COLLATE "C" NOT NULL,
    body         BYTEA NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (key_id, key)
);

-- DeleteIdempotencyBefore.
CREATE INDEX idempotency_created ON idempotency (created_at);

CREATE TABLE deployments (
    id             TEXT COLLATE "C" PRIMARY KEY,
    customer_id    TEXT COLLATE "C" NOT NULL,
    name           TEXT COLLATE "C" NOT NULL,
    runtime        TEXT COLLATE "C" NOT NULL,
    model          TEXT COLLATE "C" NOT NULL,
    system_prompt  TEXT COLLATE "C" NOT NULL,
    status         TEXT COLLATE "C" NOT NULL,
    sandbox        TEXT COLLATE "C" NOT NULL,        -- JSON herm.Sandbox
    mcp_servers    TEXT COLLATE "C" NOT NULL,        -- JSON []herm.MCPServer
    skills         TEXT COLLATE "C" NOT NULL,        -- JSON []herm.Skill
    secrets        TEXT COLLATE "C" NOT NULL,        -- JSON map
    features       TEXT COLLATE "C" NOT NULL,        -- JSON herm.Features
    tools          TEXT COLLATE "C" NOT NULL,        -- JSON map
    metadata       TEXT COLLATE "C" NOT NULL,        -- JSON map
    thread_id      TEXT COLLATE "C" NOT NULL,        -- the default thread
    config_version BIGINT NOT NULL,
    error          TEXT COLLATE "C",                 -- JSON herm.ErrorInfo
    event_seq      BIGINT NOT NULL DEFAULT 0, -- last assigned event sequence
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

-- ListDeployments by customer, ListDeployments/ListDeploymentIDsByStatus by status.
CREATE INDEX deployments_customer ON deployments (customer_id, id);
CREATE INDEX deployments_status ON deployments (status, id);

-- Every configuration a deployment has had (DeploymentVersion).
CREATE TABLE deployment_versions (
    deployment_id TEXT COLLATE "C" NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    version       BIGINT NOT NULL,
    config        TEXT COLLATE "C" NOT NULL,         -- JSON of the configuration fields
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (deployment_id, version)
);

CREATE TABLE threads (
    id               TEXT COLLATE "C" PRIMARY KEY,
    deployment_id    TEXT COLLATE "C" NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    title            TEXT COLLATE "C" NOT NULL,
    is_default       BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    last_activity_at BIGINT NOT NULL
);

-- ListThreads; the ON DELETE CASCADE from deployments.
CREATE INDEX threads_deployment ON threads (deployment_id, id);

CREATE TABLE messages (
    id            TEXT COLLATE "C" PRIMARY KEY,
    deployment_id TEXT COLLATE "C" NOT NULL,
    thread_id     TEXT COLLATE "C" NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    run_id        TEXT COLLATE "C" NOT NULL,         -- '' when the message belongs to no run
    role          TEXT COLLATE "C" NOT NULL,
    content       TEXT COLLATE "C" NOT NULL,
    attachments   TEXT COLLATE "C" NOT NULL,         -- JSON []herm.Attachment
    pending       BIGINT NOT NULL,
    created_at    BIGINT NOT NULL
);

-- ListMessages, the derived message count, the ON DELETE CASCADE from threads.
CREATE INDEX messages_thread ON messages (thread_id, pending, created_at, id);
-- PendingMessages.
CREATE INDEX messages_pending ON messages (run_id, created_at, id) WHERE pending = 1;

CREATE TABLE runs (
    id               TEXT COLLATE "C" PRIMARY KEY,
    deployment_id    TEXT COLLATE "C" NOT NULL,
    thread_id        TEXT COLLATE "C" NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    status           TEXT COLLATE "C" NOT NULL,
    trigger_info     TEXT COLLATE "C" NOT NULL,      -- JSON herm.Trigger
    automation_id    TEXT COLLATE "C" NOT NULL,      -- trigger_info's automation_id, for ListRuns
    config_version   BIGINT NOT NULL,
    model            TEXT COLLATE "C" NOT NULL,
    usage            TEXT COLLATE "C" NOT NULL,      -- JSON herm.Usage
    error            TEXT COLLATE "C",               -- JSON herm.ErrorInfo
    stop_reason      TEXT COLLATE "C" NOT NULL,
    cancel_requested BIGINT NOT NULL,
    lease_owner      TEXT COLLATE "C" NOT NULL,
    lease_expires_at BIGINT NOT NULL,   -- 0 when never leased
    created_at       BIGINT NOT NULL,
    started_at       BIGINT,
    completed_at     BIGINT
);

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
    run_id     TEXT COLLATE "C" NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    idx        BIGINT NOT NULL,
    kind       TEXT COLLATE "C" NOT NULL,
    data       TEXT COLLATE "C",                     -- JSON
    created_at BIGINT NOT NULL,
    PRIMARY KEY (run_id, idx)
);

-- The event log. No foreign key: events outlive their thread and run, and
-- DeleteDeployment removes a deployment's events itself (which also spares
-- the hot insert path a parent lookup per row).
CREATE TABLE events (
    deployment_id TEXT COLLATE "C" NOT NULL,
    seq           BIGINT NOT NULL,
    thread_id     TEXT COLLATE "C" NOT NULL,         -- '' for deployment-level events
    run_id        TEXT COLLATE "C" NOT NULL,         -- '' outside a run
    type          TEXT COLLATE "C" NOT NULL,
    data          TEXT COLLATE "C",                  -- JSON object
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (deployment_id, seq)
);

-- DeleteEventsBefore (retention).
CREATE INDEX events_created ON events (created_at);
-- ListEvents filtered by thread.
CREATE INDEX events_thread ON events (thread_id, seq) WHERE thread_id <> '';
