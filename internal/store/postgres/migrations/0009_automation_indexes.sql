-- 0009_automation_indexes: The scheduler asks for enabled automations that are due and, separately,
-- those watching a run: one partial index for each side of its UNION.
DROP INDEX automations_due;
CREATE INDEX automations_due ON automations (due_at) WHERE enabled = 1;
CREATE INDEX automations_watching ON automations (id) WHERE watching = 1;
