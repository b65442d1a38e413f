-- The invalidation bus through the database, for hosts that share a database without Redis:
-- every write of a cached object appends its keys here after committing, and every host reads
-- the new rows a few times a second and forgets those keys (see host/src/store/invalidations.rs).
CREATE TABLE cache_invalidations (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key TEXT   NOT NULL
);
