-- 0017_agents: versioned agents and their sessions (the newer API
-- generation). An agent's every accepted definition is a row of
-- agent_versions; a session is a thread of a hidden deployment, the one of
-- its agent and user (deployments.agent_id and user_key, NULL for the
-- deployments of /v1/deployments), pinned to an agent version.

CREATE TABLE agents (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    status          TEXT NOT NULL,          -- active | archived
    current_version INTEGER NOT NULL,
    metadata        TEXT NOT NULL,          -- JSON map
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    archived_at     INTEGER
) STRICT;

-- ListAgents by status.
CREATE INDEX agents_status ON agents (status, id);

CREATE TABLE agent_versions (
    agent_id   TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    version    INTEGER NOT NULL,
    definition TEXT NOT NULL,               -- JSON, as accepted
    created_at INTEGER NOT NULL,
    PRIMARY KEY (agent_id, version)
) STRICT, WITHOUT ROWID;

ALTER TABLE deployments ADD COLUMN agent_id TEXT REFERENCES agents (id);
ALTER TABLE deployments ADD COLUMN user_key TEXT;
-- One hidden deployment per agent and user (DeploymentForAgentUser).
CREATE UNIQUE INDEX deployments_agent_user ON deployments (agent_id, user_key) WHERE agent_id IS NOT NULL;

CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    agent_id      TEXT NOT NULL,
    agent_version INTEGER NOT NULL,
    user_id       TEXT,
    title         TEXT NOT NULL,
    metadata      TEXT NOT NULL,            -- JSON map
    archived_at   INTEGER,
    deployment_id TEXT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    thread_id     TEXT NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    FOREIGN KEY (agent_id, agent_version) REFERENCES agent_versions (agent_id, version)
) STRICT;

-- ListSessions by agent, by user; the ON DELETE CASCADEs.
CREATE INDEX sessions_agent ON sessions (agent_id, id);
CREATE INDEX sessions_user ON sessions (user_id, id) WHERE user_id IS NOT NULL;
CREATE INDEX sessions_deployment ON sessions (deployment_id);
CREATE UNIQUE INDEX sessions_thread ON sessions (thread_id);
