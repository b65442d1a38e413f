#!/usr/bin/env bash
# No-op jobs per second on PostgreSQL: our queue (`cargo bench --bench queue`) and graphile-worker
# (benches/queue-peer, from npm) on the same database server, one after the other, each in one
# process with the same concurrency. Needs node/npm and PostgreSQL (DATABASE_URL).
set -euo pipefail
cd "$(dirname "$0")/.."
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
export JOBS="${JOBS:-10000}" CONCURRENCY="${CONCURRENCY:-4}"
(cd benches/queue-peer && npm install --no-audit --no-fund --silent)
schema="graphile_bench_$$"
SCHEMA="$schema" node benches/queue-peer/run.mjs
psql "$DATABASE_URL" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null
AGENTIC_BENCH_POSTGRES_URL="$DATABASE_URL" cargo bench -p agentic-host --bench queue
