// The pg-boss side of benches/queue.sh: JOBS no-op jobs run by one process with CONCURRENCY
// workers (`localConcurrency`), on the PostgreSQL schema named by SCHEMA. Each worker fetches
// BATCH jobs at a time and keeps fetching while batches come back full (`burstWhenBatchFull`),
// pg-boss's documented way to drain a backlog fast. Jobs are queued before the clock starts;
// the clock stops when the database shows every job completed. Prints one JSON line.
import { PgBoss } from "pg-boss";

const connectionString = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const jobs = Number(process.env.JOBS ?? 10000);
const concurrency = Number(process.env.CONCURRENCY ?? 4);
const batchSize = Number(process.env.BATCH ?? 100);
const schema = process.env.SCHEMA ?? "pgboss_bench";

const boss = new PgBoss({ connectionString, schema, supervise: false, schedule: false });
boss.on("error", (e) => console.error(e));
await boss.start();
await boss.createQueue("noop");
for (let i = 0; i < jobs; i += 1000) {
  const n = Math.min(1000, jobs - i);
  await boss.insert("noop", Array.from({ length: n }, () => ({ data: {} })));
}

// Counted again sooner the fewer jobs are left: 20 µs a job, between 1 and 50 ms (as the other
// queues' scripts), so the clock stops within about a millisecond of the last job.
const nextPoll = (left) => Math.min(50, Math.max(1, left * 0.02));

const start = process.hrtime.bigint();
await boss.work(
  "noop",
  { batchSize, localConcurrency: concurrency, burstWhenBatchFull: true, pollingIntervalSeconds: 0.5 },
  async () => {},
);
for (;;) {
  const { rows } = await boss.getDb().executeSql(
    `select count(*)::int as n from ${schema}.job where name = 'noop' and state <> 'completed'`,
  );
  if (rows[0].n === 0) break;
  await new Promise((r) => setTimeout(r, nextPoll(rows[0].n)));
}
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
await boss.stop({ graceful: false, wait: false });
console.log(
  JSON.stringify({ queue: "pg-boss", batch: batchSize, jobs, concurrency, seconds, jobs_per_second: jobs / seconds }),
);
