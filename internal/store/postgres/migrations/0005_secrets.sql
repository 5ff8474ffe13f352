-- 0005_secrets: the vault. Values are encrypted by the server before they
-- reach the store.

CREATE TABLE secrets (
    id            TEXT COLLATE "C" PRIMARY KEY,
    name          TEXT COLLATE "C" NOT NULL,
    customer_id   TEXT COLLATE "C" NOT NULL,      -- '' = any customer
    allowed_hosts TEXT COLLATE "C" NOT NULL,      -- JSON array
    ciphertext    BYTEA NOT NULL,
    created_at    BIGINT NOT NULL,
    rotated_at    BIGINT
);
