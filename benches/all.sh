#!/usr/bin/env bash
# The benchmarks behind docs/PERFORMANCE.md's summary table, one after the other, release
# (bench profile), each one's output in $OUT/<name>.log (default /tmp/agentic-benches).
# Needs the components built (`cargo xtask test`, or AGENTIC_PLUGIN_DIR pointing at them),
# PostgreSQL (AGENTIC_TEST_POSTGRES_URL), Redis (AGENTIC_TEST_REDIS_URL) and node/npm (the
# queue's peers). Run it on a machine with nothing else running: the figures are latencies and
# rates of a 2-core machine, and other work changes them (docs/PERFORMANCE.md says how).
#
#   bash benches/all.sh
set -u
cd "$(dirname "$0")/.."
out="${OUT:-/tmp/agentic-benches}"
export AGENTIC_TEST_POSTGRES_URL="${AGENTIC_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
export AGENTIC_TEST_REDIS_URL="${AGENTIC_TEST_REDIS_URL:-redis://127.0.0.1:6379}"
mkdir -p "$out"
cargo bench --locked --no-run -p agentic-host --bench plugins --bench sync --bench throughput --bench queue
cargo bench --locked --no-run -p agentic-tests --bench jira_sync --bench git_sync
run() { # name command…
  local name=$1
  shift
  echo "== $name $(date +%T), load $(cut -d' ' -f1-3 /proc/loadavg)"
  "$@" > "$out/$name.log" 2> "$out/$name.err" || echo "   $name failed: see $out/$name.err"
  cat "$out/$name.log"
}
run plugins cargo bench --locked -q -p agentic-host --bench plugins
run sync env AGENTIC_BENCH_POSTGRES_URL="$AGENTIC_TEST_POSTGRES_URL" \
  cargo bench --locked -q -p agentic-host --bench sync
run jira_sync env AGENTIC_BENCH_POSTGRES=1 cargo bench --locked -q -p agentic-tests --bench jira_sync
run git_sync cargo bench --locked -q -p agentic-tests --bench git_sync
run queue bash benches/queue.sh
run throughput cargo bench --locked -q -p agentic-host --bench throughput
