-- 0011_run_order: runs queue in the order the database took them in
-- (seq, from a sequence), not by created_at, which comes from whichever
-- server's clock made the run. Existing runs keep their created_at order.
ALTER TABLE runs ADD COLUMN seq BIGINT;
UPDATE runs SET seq = o.n FROM (SELECT id, row_number() OVER (ORDER BY created_at, id) AS n FROM runs) AS o WHERE runs.id = o.id;
CREATE SEQUENCE runs_seq_seq OWNED BY runs.seq;
SELECT setval('runs_seq_seq', COALESCE((SELECT MAX(seq) FROM runs), 0) + 1, false);
ALTER TABLE runs ALTER COLUMN seq SET DEFAULT nextval('runs_seq_seq'), ALTER COLUMN seq SET NOT NULL;
CREATE INDEX runs_queue ON runs (status, seq);
