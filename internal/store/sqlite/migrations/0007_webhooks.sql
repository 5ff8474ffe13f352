-- 0007_webhooks: outbound webhooks and their deliveries. A delivery is
-- written in the transaction that appends its event, so none is lost when
-- the server stops; the dispatcher then sends it until it succeeds or its
-- attempts run out.

CREATE TABLE webhooks (
    id            TEXT PRIMARY KEY,
    url           TEXT NOT NULL,
    events        TEXT NOT NULL,      -- JSON array of event types
    deployment_id TEXT NOT NULL,      -- '' = every deployment
    secret        BLOB NOT NULL,      -- the signing secret, encrypted by the server
    created_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id      TEXT NOT NULL,
    deployment_id   TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    event_type      TEXT NOT NULL,
    status          TEXT NOT NULL,    -- pending, succeeded, failed
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL, -- when pending: not before (also a claim's lease)
    response_status INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER
) STRICT;

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries (webhook_id, id);
