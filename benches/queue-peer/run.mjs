// The peer side of benches/queue.sh: graphile-worker running JOBS no-op jobs with CONCURRENCY
// workers in one process, on the PostgreSQL schema named by SCHEMA. Jobs are queued before the
// clock starts; the clock stops when the last job completes. Prints one JSON line.
import { Logger, makeWorkerUtils, run } from "graphile-worker";

// Silent: printing a line per job would slow the peer down, not measure it.
const logger = new Logger(() => () => {});

const connectionString = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const jobs = Number(process.env.JOBS ?? 10000);
const concurrency = Number(process.env.CONCURRENCY ?? 4);
const schema = process.env.SCHEMA ?? "graphile_bench";

const utils = await makeWorkerUtils({ connectionString, schema, logger });
await utils.migrate();
// One statement enqueues them all, through graphile-worker's own add_job.
await utils.withPgClient((client) =>
  client.query(`select ${schema}.add_job('noop', '{}'::json) from generate_series(1, $1)`, [jobs]),
);
await utils.release();

let done = 0;
let resolveAll;
const all = new Promise((r) => (resolveAll = r));
const start = process.hrtime.bigint();
const runner = await run({
  connectionString,
  schema,
  concurrency,
  logger,
  noHandleSignals: true,
  pollInterval: 1000,
  taskList: {
    noop: async () => {
      done += 1;
      if (done === jobs) resolveAll();
    },
  },
});
await all;
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
await runner.stop();
console.log(JSON.stringify({ queue: "graphile-worker", jobs, concurrency, seconds, jobs_per_second: jobs / seconds }));
