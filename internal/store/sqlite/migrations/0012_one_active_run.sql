-- 0012_one_active_run: at most one running or waiting run per thread, held
-- by the database itself (ClaimRun's WHERE already keeps to it; this makes a
-- second one impossible, whatever writes the row). Should a database hold
-- more than one (no release wrote that), the later ones end in error so that
-- the index can be built.
UPDATE runs SET status = 'error', stop_reason = 'error',
    error = '{"code":"internal_error","message":"ended by an upgrade: another run of its thread was active"}',
    completed_at = CAST(strftime('%s', 'now') AS INTEGER) * 1000000, lease_owner = ''
WHERE status IN ('running', 'waiting_on_human') AND EXISTS (
    SELECT 1 FROM runs o WHERE o.thread_id = runs.thread_id AND o.status IN ('running', 'waiting_on_human') AND o.seq < runs.seq);
CREATE UNIQUE INDEX runs_one_active ON runs (thread_id) WHERE status IN ('running', 'waiting_on_human');
