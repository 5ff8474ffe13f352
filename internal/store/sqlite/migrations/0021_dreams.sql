-- 0021_dreams: dreaming. A dream is one consolidation of a deployment's
-- memories while it was idle, with the changes it proposed (JSON list of
-- {op, memory_id, before, after, reason}); deployments.dreamed_at (micros,
-- 0: never) is the claim the dreaming worker takes, one guarded UPDATE, so
-- that two nodes never dream one deployment at once.

CREATE TABLE dreams (
    id            TEXT PRIMARY KEY,
    deployment_id TEXT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    run_id        TEXT NOT NULL,
    status        TEXT NOT NULL,          -- proposed | applied | discarded | failed
    changes       TEXT NOT NULL,          -- JSON list
    error         TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    resolved_at   INTEGER
) STRICT;

CREATE INDEX dreams_deployment ON dreams (deployment_id, id);

ALTER TABLE deployments ADD COLUMN dreamed_at INTEGER NOT NULL DEFAULT 0;
