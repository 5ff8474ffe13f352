-- 0019_timezone: a deployment's time zone (an IANA name; '' is UTC), in
-- which its agent is told the current date and time at the start of each
-- run. Part of the configuration (versions record it in their JSON too).

ALTER TABLE deployments ADD COLUMN timezone TEXT COLLATE "C" NOT NULL DEFAULT '';
