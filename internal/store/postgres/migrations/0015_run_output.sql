-- 0015_run_output: typed results. A run may carry an output schema (JSON
-- Schema, from its message or automation) and, once it completed with an
-- answer valid against it, that answer as JSON.
ALTER TABLE runs ADD COLUMN output_schema TEXT;
ALTER TABLE runs ADD COLUMN output TEXT;
