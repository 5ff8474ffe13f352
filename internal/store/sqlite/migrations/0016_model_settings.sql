-- 0016_model_settings: a deployment's model settings (JSON herm.ModelSettings).

ALTER TABLE deployments ADD COLUMN model_settings TEXT NOT NULL DEFAULT '{}';
