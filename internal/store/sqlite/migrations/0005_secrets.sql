-- 0005_secrets: the vault. Values are encrypted by the server before they
-- reach the store.

CREATE TABLE secrets (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    customer_id   TEXT NOT NULL,      -- '' = any customer
    allowed_hosts TEXT NOT NULL,      -- JSON array
    ciphertext    BLOB NOT NULL,
    created_at    INTEGER NOT NULL,
    rotated_at    INTEGER
) STRICT;
