#!/usr/bin/env bash
# No-op jobs per second on PostgreSQL: our queue (`cargo bench --bench queue`), graphile-worker
# and pg-boss (benches/queue-peer, pinned in its package.json, installed here from npm) on the
# same database server, in ROUNDS alternating rounds (default 3), each queue in one process with
# the same concurrency; then ours on SQLite for reference. Prints every run as a JSON line and
# the median of each as a table with the ratios. Needs node/npm and PostgreSQL (DATABASE_URL).
#
#   JOBS=10000 CONCURRENCY=4 ROUNDS=3 [PROFILE=dev] bash benches/queue.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
export JOBS="${JOBS:-10000}" CONCURRENCY="${CONCURRENCY:-4}"
rounds="${ROUNDS:-3}"
# `PROFILE=dev` measures a debug build of ours (quicker to build; the queue is bound by round trips).
profile="${PROFILE:-bench}"
(cd benches/queue-peer && npm ci --no-audit --no-fund --silent)
cargo bench --profile "$profile" -p agentic-host --bench queue --no-run 2>/dev/null
results="$(mktemp)"
peer() { # name script [VAR=value…]
  local schema="peer_bench_$$_$RANDOM" script="$2"
  shift 2
  env SCHEMA="$schema" "$@" node "benches/queue-peer/$script" | tee -a "$results"
  psql "$DATABASE_URL" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1
}
ours() { # [VAR=value…]
  env AGENTIC_BENCH_POSTGRES_URL="$DATABASE_URL" DATABASES=postgres "$@" \
    cargo bench -q --profile "$profile" -p agentic-host --bench queue 2>/dev/null | tee -a "$results"
}
for round in $(seq "$rounds"); do
  echo "== round $round of $rounds" >&2
  peer graphile run.mjs LOCAL_QUEUE=$((CONCURRENCY + 1))
  peer graphile run.mjs LOCAL_QUEUE=500
  peer pg-boss pg-boss.mjs BATCH=100
  ours
  ours CLAIM_AHEAD=500
  ours DURABLE=0
done
env DATABASES=sqlite cargo bench -q --profile "$profile" -p agentic-host --bench queue 2>/dev/null | tee -a "$results"
python3 - "$results" <<'PY'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    if not line.startswith("{"):
        continue
    r = json.loads(line)
    if r["queue"] == "graphile-worker":
        name = f'graphile-worker 0.18.0, local queue {r["local_queue"]}, batched completions'
    elif r["queue"] == "pg-boss":
        name = f'pg-boss 12.38.0, batches of {r["batch"]}'
    else:
        durable = "durable outcomes" if r["durable_outcomes"] else "outcomes not waiting for the disk"
        ahead = r["claim_ahead"] or r["concurrency"]
        name = f'ours, {r["database"]}, claiming {ahead} ahead, {durable}'
    runs.setdefault(name, []).append(r["jobs_per_second"])
best_peer = max(statistics.median(v) for k, v in runs.items() if k.startswith("graphile"))
print(f"\n| queue | jobs/s, each run | median | / best graphile-worker |")
print("|---|---|---|---|")
for name, v in runs.items():
    m = statistics.median(v)
    print(f"| {name} | {' / '.join(f'{x:,.0f}' for x in v)} | {m:,.0f} | {m / best_peer:.2f} |")
PY
rm -f "$results"
