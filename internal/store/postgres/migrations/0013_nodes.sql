-- 0013_nodes: the nodes of a cluster and what each owns. A node registers
-- (JoinNode) and keeps its row alive (HeartbeatNode); a deployment's owner
-- is the node that runs its sandbox and claims its runs, alive while its
-- row has not expired. Automations carry a version, so that a firing or a
-- change is stored only over the state it was made from.
CREATE TABLE nodes (
    id          TEXT COLLATE "C" PRIMARY KEY,
    incarnation TEXT COLLATE "C" NOT NULL,
    started_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
ALTER TABLE deployments ADD COLUMN owner TEXT COLLATE "C";
CREATE INDEX deployments_owner ON deployments (owner);
ALTER TABLE automations ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
