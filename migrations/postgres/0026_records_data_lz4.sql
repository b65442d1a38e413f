-- A record's `data` (the connector's JSON: 0.6 KB on average for JIRA issues, up to several KB)
-- is compressed with lz4 rather than PostgreSQL's default pglz, where the server has lz4
-- (PostgreSQL 14 and later built with it, as Debian's packages are). PostgreSQL compresses a
-- value when its row passes about 2 KB; pglz was about a tenth of the server's CPU for a synced
-- page of JIRA issues, and lz4 compresses and decompresses several times faster for a slightly
-- larger result (docs/PERFORMANCE.md, JIRA, "sixth sitting"). Only values written from now on
-- use it; the stored ones keep pglz until they are rewritten (a sync's upsert rewrites them).
--
-- Through EXECUTE, so that a server without lz4 ("compression method lz4 not supported") or
-- older than 14 (no SET COMPRESSION) keeps its default and migrates on, with a notice.
DO $$
BEGIN
    EXECUTE 'ALTER TABLE records ALTER COLUMN data SET COMPRESSION lz4';
EXCEPTION WHEN feature_not_supported OR syntax_error THEN
    RAISE NOTICE 'records.data keeps the server''s default compression: %', SQLERRM;
END
$$;
