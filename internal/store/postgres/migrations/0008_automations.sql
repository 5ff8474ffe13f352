-- 0008_automations: scheduled runs. The scheduler asks for the enabled
-- ones that are due (due_at: the next firing or retry) or whose last run it
-- is still watching.

CREATE TABLE automations (
    id            TEXT COLLATE "C" PRIMARY KEY,
    deployment_id TEXT COLLATE "C" NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    data          TEXT COLLATE "C" NOT NULL,      -- JSON: the automation's definition and state
    enabled       BIGINT NOT NULL,
    due_at        BIGINT,            -- next firing or retry (NULL: none)
    watching      BIGINT NOT NULL,   -- 1 while its last run has not ended
    created_at    BIGINT NOT NULL
);

CREATE INDEX automations_deployment ON automations (deployment_id, id);
CREATE INDEX automations_due ON automations (enabled, due_at);
