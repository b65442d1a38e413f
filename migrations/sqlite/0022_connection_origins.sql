-- A connection's overrides of the service origins its plugin's manifest declares (`[origins]`,
-- contract 0.3.0): a JSON object of name to URL (a proxy, a fake in tests). Names absent here
-- use the manifest's URL; requests under either are let through with the connection's
-- credential.
ALTER TABLE connections ADD COLUMN origins TEXT NOT NULL DEFAULT '{}';
