-- 0011_run_order: runs queue in the order the database took them in
-- (seq), not by created_at, which comes from whichever server's clock
-- made the run. Existing runs keep their created_at order.
ALTER TABLE runs ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
UPDATE runs SET seq = o.n FROM (SELECT id, row_number() OVER (ORDER BY created_at, id) AS n FROM runs) AS o WHERE runs.id = o.id;
CREATE INDEX runs_seq ON runs (seq);
CREATE INDEX runs_queue ON runs (status, seq);
