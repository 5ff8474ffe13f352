-- 0020_observed: whether the memory observer has taken an ended run (1) or
-- not yet (0). Runs that ended before the observer existed are not
-- observed.

ALTER TABLE runs ADD COLUMN observed INTEGER NOT NULL DEFAULT 0;
UPDATE runs SET observed = 1 WHERE status IN ('completed', 'error', 'cancelled');
CREATE INDEX runs_unobserved ON runs (seq) WHERE observed = 0;
