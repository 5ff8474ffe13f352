-- 0021_dreams: dreaming. A dream is one consolidation of a deployment's
-- memories while it was idle, with the changes it proposed (JSON list of
-- {op, memory_id, before, after, reason}); deployments.dreamed_at (micros,
-- 0: never) is the claim the dreaming worker takes, one guarded UPDATE, so
-- that two nodes never dream one deployment at once.

CREATE TABLE dreams (
    id            TEXT COLLATE "C" PRIMARY KEY,
    deployment_id TEXT COLLATE "C" NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    run_id        TEXT COLLATE "C" NOT NULL,
    status        TEXT COLLATE "C" NOT NULL,          -- proposed | applied | discarded | failed
    changes       TEXT COLLATE "C" NOT NULL,          -- JSON list
    error         TEXT COLLATE "C" NOT NULL,
    created_at    BIGINT NOT NULL,
    resolved_at   BIGINT
);

CREATE INDEX dreams_deployment ON dreams (deployment_id, id);

ALTER TABLE deployments ADD COLUMN dreamed_at BIGINT NOT NULL DEFAULT 0;
