-- 0010_customer_keys: an API key may be limited to one customer's
-- deployments ('' = not limited).
ALTER TABLE api_keys ADD COLUMN customer_id TEXT COLLATE "C" NOT NULL DEFAULT '';
