-- 0017_agents: versioned agents and their sessions (the newer API
-- generation). An agent's every accepted definition is a row of
-- agent_versions; a session is a thread of a hidden deployment, the one of
-- its agent and user (deployments.agent_id and user_key, NULL for the
-- deployments of /v1/deployments), pinned to an agent version.

CREATE TABLE agents (
    id              TEXT COLLATE "C" PRIMARY KEY,
    name            TEXT COLLATE "C" NOT NULL,
    status          TEXT COLLATE "C" NOT NULL,          -- active | archived
    current_version BIGINT NOT NULL,
    metadata        TEXT COLLATE "C" NOT NULL,          -- JSON map
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    archived_at     BIGINT
);

-- ListAgents by status.
CREATE INDEX agents_status ON agents (status, id);

CREATE TABLE agent_versions (
    agent_id   TEXT COLLATE "C" NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    version    BIGINT NOT NULL,
    definition TEXT COLLATE "C" NOT NULL,               -- JSON, as accepted
    created_at BIGINT NOT NULL,
    PRIMARY KEY (agent_id, version)
);

ALTER TABLE deployments ADD COLUMN agent_id TEXT COLLATE "C" REFERENCES agents (id);
ALTER TABLE deployments ADD COLUMN user_key TEXT COLLATE "C";
-- One hidden deployment per agent and user (DeploymentForAgentUser).
CREATE UNIQUE INDEX deployments_agent_user ON deployments (agent_id, user_key) WHERE agent_id IS NOT NULL;

CREATE TABLE sessions (
    id            TEXT COLLATE "C" PRIMARY KEY,
    agent_id      TEXT COLLATE "C" NOT NULL,
    agent_version BIGINT NOT NULL,
    user_id       TEXT COLLATE "C",
    title         TEXT COLLATE "C" NOT NULL,
    metadata      TEXT COLLATE "C" NOT NULL,            -- JSON map
    archived_at   BIGINT,
    deployment_id TEXT COLLATE "C" NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    thread_id     TEXT COLLATE "C" NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    FOREIGN KEY (agent_id, agent_version) REFERENCES agent_versions (agent_id, version)
);

-- ListSessions by agent, by user; the ON DELETE CASCADEs.
CREATE INDEX sessions_agent ON sessions (agent_id, id);
CREATE INDEX sessions_user ON sessions (user_id, id) WHERE user_id IS NOT NULL;
CREATE INDEX sessions_deployment ON sessions (deployment_id);
CREATE UNIQUE INDEX sessions_thread ON sessions (thread_id);
