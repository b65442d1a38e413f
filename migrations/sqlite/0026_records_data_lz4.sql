-- PostgreSQL only: `records.data` compressed with lz4 where the server has it (see the
-- PostgreSQL migration of the same name). SQLite does not compress rows; nothing changes here.
SELECT 1;
