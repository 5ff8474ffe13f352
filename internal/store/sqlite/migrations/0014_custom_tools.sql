-- 0014_custom_tools: the tools a deployment's client implements (a JSON
-- array of {name, description, input_schema}). Configuration versions keep
-- them in their config JSON.

ALTER TABLE deployments ADD COLUMN custom_tools TEXT NOT NULL DEFAULT '[]';
