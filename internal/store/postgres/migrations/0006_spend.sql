-- 0006_spend: the cost of a deployment's deleted threads' runs, so that
-- deleting a thread does not give its budget back.

ALTER TABLE deployments ADD COLUMN spent_deleted_usd DOUBLE PRECISION NOT NULL DEFAULT 0;
