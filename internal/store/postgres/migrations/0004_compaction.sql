-- 0004_compaction: LatestCompaction finds a thread's newest compaction step.

CREATE INDEX run_steps_compaction ON run_steps (run_id, created_at) WHERE kind = 'compaction';
