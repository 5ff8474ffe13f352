-- 0007_webhooks: outbound webhooks and their deliveries. A delivery is
-- written in the transaction that appends its event, so none is lost when
-- the server stops; the dispatcher then sends it until it succeeds or its
-- attempts run out.

CREATE TABLE webhooks (
    id            TEXT COLLATE "C" PRIMARY KEY,
    url           TEXT COLLATE "C" NOT NULL,
    events        TEXT COLLATE "C" NOT NULL,      -- JSON array of event types
    deployment_id TEXT COLLATE "C" NOT NULL,      -- '' = every deployment
    secret        BYTEA NOT NULL,      -- the signing secret, encrypted by the server
    created_at    BIGINT NOT NULL
);

CREATE TABLE webhook_deliveries (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id      TEXT COLLATE "C" NOT NULL,
    deployment_id   TEXT COLLATE "C" NOT NULL,
    seq             BIGINT NOT NULL,
    event_type      TEXT COLLATE "C" NOT NULL,
    status          TEXT COLLATE "C" NOT NULL,    -- pending, succeeded, failed
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL, -- when pending: not before (also a claim's lease)
    response_status BIGINT,
    last_error      TEXT COLLATE "C",
    created_at      BIGINT NOT NULL,
    delivered_at    BIGINT
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries (webhook_id, id);
