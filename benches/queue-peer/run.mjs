// The graphile-worker side of benches/queue.sh: JOBS no-op jobs run by one process with
// CONCURRENCY workers, on the PostgreSQL schema named by SCHEMA, with the batching
// graphile-worker documents for throughput (its "Performance" page: a local queue that fetches
// jobs in batches, and completions written in batches, `completeJobBatchDelay: 0`);
// LOCAL_QUEUE sets the local queue's size (the release notes recommend concurrency + 1, the
// performance page uses 500). Jobs are queued before the clock starts; the clock stops when the
// last job completes and the completion batches are written. Prints one JSON line.
import { Logger, makeWorkerUtils, run } from "graphile-worker";

// Silent: printing a line per job would slow the peer down, not measure it.
const logger = new Logger(() => () => {});

const connectionString = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const jobs = Number(process.env.JOBS ?? 10000);
const concurrency = Number(process.env.CONCURRENCY ?? 4);
const localQueue = Number(process.env.LOCAL_QUEUE ?? 500);
const schema = process.env.SCHEMA ?? "graphile_bench";

const utils = await makeWorkerUtils({ connectionString, schema, logger });
await utils.migrate();
// One statement enqueues them all, through graphile-worker's own add_job.
await utils.withPgClient((client) =>
  client.query(`select ${schema}.add_job('noop', '{}'::json) from generate_series(1, $1)`, [jobs]),
);

// Counted again sooner the fewer jobs are left: 20 µs a job, between 1 and 50 ms (as the other
// queues' scripts), so the clock stops within about a millisecond of the last job.
const nextPoll = (left) => Math.min(50, Math.max(1, left * 0.02));

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
  preset: {
    worker: {
      localQueue: { size: localQueue },
      completeJobBatchDelay: 0,
      failJobBatchDelay: 0,
    },
  },
  taskList: {
    noop: async () => {
      done += 1;
      if (done === jobs) resolveAll();
    },
  },
});
await all;
// Completions are batched: the last handler returning is not yet the last job done. Wait until
// the database holds no job (graphile-worker deletes a job when it completes).
for (;;) {
  const { rows } = await utils.withPgClient((client) =>
    client.query(`select count(*)::int as n from ${schema}._private_jobs`),
  );
  if (rows[0].n === 0) break;
  await new Promise((r) => setTimeout(r, nextPoll(rows[0].n)));
}
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
await runner.stop();
await utils.release();
console.log(
  JSON.stringify({ queue: "graphile-worker", local_queue: localQueue, jobs, concurrency, seconds, jobs_per_second: jobs / seconds }),
);
