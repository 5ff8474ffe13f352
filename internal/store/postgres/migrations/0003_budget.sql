-- 0003_budget: a deployment's spending cap (USD; NULL = none).

ALTER TABLE deployments ADD COLUMN budget_usd DOUBLE PRECISION;
