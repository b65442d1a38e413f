//! The SQL behind the analytics reports, and the API usage counters.
//!
//! Every aggregate is computed by the database, on both dialects: rows are grouped by a bucket
//! expression over an epoch-millisecond column ([`bucket_sql`]) — integer arithmetic for hours,
//! days and weeks, each dialect's date functions for calendar months. The same statement with
//! no bucket gives the totals over the whole window, so counts of distinct things (agents
//! reporting) and maxima are right in the totals too, not sums of per-bucket values.
//!
//! Results come back as [`Cell`]s (bucket start, name, value); `crate::analytics` lays them out
//! as a dense series. Every statement is bounded: series by the number of buckets the API
//! allows times a small set of names, with [`MAX_ROWS`] as a backstop.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{Backend, Result, Store};
use crate::analytics::range::Bucket;
use crate::clock::Millis;

/// One aggregate: the start of its bucket (the window's start for totals), a name, a value.
pub type Cell = (Millis, String, i64);

/// What a report covers: one project or all, and the half-open window `[from, to)`.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// One project; `None`: every project (and, for API usage, requests outside projects).
    pub project: Option<i64>,
    /// Start, inclusive.
    pub from: Millis,
    /// End, exclusive.
    pub to: Millis,
}

/// Rows a series statement may return at most (buckets × names stay far below).
const MAX_ROWS: i64 = 100_000;

/// One week, and how far the epoch (a Thursday) is from the Monday before it.
const WEEK_MS: i64 = 7 * 86_400_000;
const WEEK_SHIFT_MS: i64 = 3 * 86_400_000;

/// The SQL expression of the start of the bucket holding `column`; `None`: one bucket for the
/// whole window (a constant).
///
/// Weeks start on Monday 00:00 UTC: shifting by three days makes the epoch's week start at
/// 0, so integer division works (the API refuses times before 1970, so nothing is negative).
/// Months are calendar months in UTC, by `strftime` on SQLite and `date_trunc` on PostgreSQL.
fn bucket_sql(backend: Backend, bucket: Option<Bucket>, column: &str) -> String {
    match bucket {
        None => "CAST(0 AS BIGINT)".to_owned(),
        Some(Bucket::Hour) => format!("((({column}) / 3600000) * 3600000)"),
        Some(Bucket::Day) => format!("((({column}) / 86400000) * 86400000)"),
        Some(Bucket::Week) => {
            format!("(((({column}) + {WEEK_SHIFT_MS}) / {WEEK_MS}) * {WEEK_MS} - {WEEK_SHIFT_MS})")
        }
        Some(Bucket::Month) => match backend {
            Backend::Sqlite => format!(
                "(CAST(strftime('%s', ({column}) / 1000, 'unixepoch', 'start of month') \
                 AS BIGINT) * 1000)"
            ),
            Backend::Postgres => format!(
                "(CAST(EXTRACT(EPOCH FROM date_trunc('month', \
                 to_timestamp(({column}) / 1000) AT TIME ZONE 'UTC')) AS BIGINT) * 1000)"
            ),
        },
    }
}

/// `GROUP BY` the bucket (column 1) and `extra` columns; without a bucket only `extra`.
fn group_by(bucket: Option<Bucket>, extra: &str) -> String {
    match (bucket.is_some(), extra.is_empty()) {
        (true, true) => "GROUP BY 1".to_owned(),
        (true, false) => format!("GROUP BY 1, {extra}"),
        (false, true) => String::new(),
        (false, false) => format!("GROUP BY {extra}"),
    }
}

/// Cells of a row with the bucket in column `bucket` and one value per name in `names`.
fn wide(rows: &[AnyRow], names: &[(&str, &str)]) -> Result<Vec<Cell>> {
    let mut cells = Vec::with_capacity(rows.len() * names.len());
    for row in rows {
        let start: Millis = row.try_get("bucket")?;
        for (column, name) in names {
            let value: Option<i64> = row.try_get(*column)?;
            cells.push((start, (*name).to_owned(), value.unwrap_or(0)));
        }
    }
    Ok(cells)
}

/// Cells of rows `(bucket, k, v)`.
fn long(rows: &[AnyRow]) -> Result<Vec<Cell>> {
    rows.iter()
        .map(|row| {
            let value: Option<i64> = row.try_get("v")?;
            Ok((
                row.try_get("bucket")?,
                row.try_get("k")?,
                value.unwrap_or(0),
            ))
        })
        .collect()
}

/// `(name, count)` rows `(k, v)`.
fn counts(rows: &[AnyRow]) -> Result<Vec<(String, i64)>> {
    rows.iter()
        .map(|row| Ok((row.try_get("k")?, row.try_get("v")?)))
        .collect()
}

/// One counter of API usage to add (see `crate::analytics::usage`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    /// Start of the hour.
    pub bucket_start: Millis,
    /// The project the request addressed; 0: none.
    pub project_id: i64,
    /// The route template (`/api/v1/projects/{id}/documents`), never the raw path.
    pub route: String,
    /// The HTTP method.
    pub method: String,
    /// `2xx`, `3xx`, `4xx` or `5xx`.
    pub status_class: String,
    /// Requests counted.
    pub requests: i64,
    /// Their summed duration.
    pub duration_ms: i64,
}

/// The most requested routes of a window.
#[derive(Debug, Clone)]
pub struct RouteCount {
    /// HTTP method.
    pub method: String,
    /// Route template.
    pub route: String,
    /// Requests.
    pub requests: i64,
    /// Of which answered 4xx or 5xx.
    pub errors: i64,
}

/// Usage rows per statement: 7 parameters each.
const USAGE_ROWS_PER_STATEMENT: usize = 200;

impl Store {
    async fn cells_long(&self, sql: &str, w: &Window) -> Result<Vec<Cell>> {
        let rows = sqlx::query(sql)
            .bind(w.project)
            .bind(w.from)
            .bind(w.to)
            .bind(MAX_ROWS)
            .fetch_all(&self.pool)
            .await?;
        long(&rows)
    }

    async fn cells_wide(&self, sql: &str, w: &Window, names: &[(&str, &str)]) -> Result<Vec<Cell>> {
        let rows = sqlx::query(sql)
            .bind(w.project)
            .bind(w.from)
            .bind(w.to)
            .bind(MAX_ROWS)
            .fetch_all(&self.pool)
            .await?;
        wide(&rows, names)
    }

    /// Work items (not deleted at the source) by status now.
    pub async fn work_item_counts(&self, project: Option<i64>) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT COALESCE(status, 'none') AS k, COUNT(*) AS v FROM records \
             WHERE ($1 IS NULL OR project_id = $1) AND kind = 'work_item' AND deleted = 0 \
             GROUP BY 1 ORDER BY 2 DESC LIMIT 100",
        )
        .bind(project)
        .fetch_all(&self.pool)
        .await?;
        counts(&rows)
    }

    /// Work items last changed in each bucket (at the source, else when synced), by their
    /// current status.
    pub async fn work_item_series(&self, w: &Window, bucket: Option<Bucket>) -> Result<Vec<Cell>> {
        let at = "COALESCE(source_updated_at, synced_at)";
        let sql = format!(
            "SELECT {b} AS bucket, COALESCE(status, 'none') AS k, COUNT(*) AS v FROM records \
             WHERE ($1 IS NULL OR project_id = $1) AND kind = 'work_item' AND deleted = 0 \
             AND {at} >= $2 AND {at} < $3 {g} LIMIT $4",
            b = bucket_sql(self.backend, bucket, at),
            g = group_by(bucket, "2"),
        );
        self.cells_long(&sql, w).await
    }

    /// Documents now: how many, how many synced from a connection, versions and their bytes.
    pub async fn document_counts(&self, project: Option<i64>) -> Result<Vec<(String, i64)>> {
        let row = sqlx::query(
            "SELECT \
               (SELECT COUNT(*) FROM documents WHERE $1 IS NULL OR project_id = $1) AS documents, \
               (SELECT COUNT(*) FROM documents WHERE ($1 IS NULL OR project_id = $1) \
                  AND source_connection_id IS NOT NULL) AS synced, \
               (SELECT COUNT(*) FROM document_versions v JOIN documents d ON d.id = v.document_id \
                  WHERE $1 IS NULL OR d.project_id = $1) AS versions, \
               (SELECT CAST(COALESCE(SUM(v.size), 0) AS BIGINT) FROM document_versions v \
                  JOIN documents d ON d.id = v.document_id WHERE $1 IS NULL OR d.project_id = $1) \
                  AS bytes",
        )
        .bind(project)
        .fetch_one(&self.pool)
        .await?;
        ["documents", "synced", "versions", "bytes"]
            .into_iter()
            .map(|k| Ok((k.to_owned(), row.try_get(k)?)))
            .collect()
    }

    /// Documents created, versions uploaded (the first included) and their bytes, per bucket.
    pub async fn document_series(&self, w: &Window, bucket: Option<Bucket>) -> Result<Vec<Cell>> {
        let docs = bucket_sql(self.backend, bucket, "d.created_at");
        let versions = bucket_sql(self.backend, bucket, "v.created_at");
        let g = group_by(bucket, "");
        let joined = "FROM document_versions v JOIN documents d ON d.id = v.document_id \
                      WHERE ($1 IS NULL OR d.project_id = $1) \
                      AND v.created_at >= $2 AND v.created_at < $3";
        let sql = format!(
            "SELECT {docs} AS bucket, 'created' AS k, COUNT(*) AS v FROM documents d \
               WHERE ($1 IS NULL OR d.project_id = $1) AND d.created_at >= $2 \
               AND d.created_at < $3 {g} \
             UNION ALL SELECT {versions}, 'versions', COUNT(*) {joined} {g} \
             UNION ALL SELECT {versions}, 'bytes', CAST(COALESCE(SUM(v.size), 0) AS BIGINT) \
               {joined} {g} LIMIT $4"
        );
        self.cells_long(&sql, w).await
    }

    /// Jobs of `kind` (all kinds: `None`) by state now.
    pub async fn job_state_counts(
        &self,
        project: Option<i64>,
        kind: Option<&str>,
    ) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT state AS k, COUNT(*) AS v FROM jobs \
             WHERE ($1 IS NULL OR project_id = $1) AND ($2 IS NULL OR kind = $2) GROUP BY state",
        )
        .bind(project)
        .bind(kind)
        .fetch_all(&self.pool)
        .await?;
        counts(&rows)
    }

    /// Jobs enqueued per bucket (`created`) and finished per bucket by final state.
    pub async fn job_series(&self, w: &Window, bucket: Option<Bucket>) -> Result<Vec<Cell>> {
        let sql = format!(
            "SELECT {created} AS bucket, 'created' AS k, COUNT(*) AS v FROM jobs \
               WHERE ($1 IS NULL OR project_id = $1) AND created_at >= $2 AND created_at < $3 {g} \
             UNION ALL SELECT {finished}, state, COUNT(*) FROM jobs \
               WHERE ($1 IS NULL OR project_id = $1) AND finished_at >= $2 AND finished_at < $3 \
               {gs} LIMIT $4",
            created = bucket_sql(self.backend, bucket, "created_at"),
            finished = bucket_sql(self.backend, bucket, "finished_at"),
            g = group_by(bucket, ""),
            gs = group_by(bucket, "state"),
        );
        self.cells_long(&sql, w).await
    }

    /// Sync jobs finished per bucket: runs by outcome, retries, records stored, run time.
    /// `duration_ms` and `timed` (runs that started) are sums, `duration_ms_max` a maximum.
    pub async fn sync_series(&self, w: &Window, bucket: Option<Bucket>) -> Result<Vec<Cell>> {
        let records = match self.backend {
            Backend::Sqlite => "CAST(json_extract(result, '$.records') AS BIGINT)",
            Backend::Postgres => "CAST(CAST(result AS jsonb) ->> 'records' AS BIGINT)",
        };
        let run = "CASE WHEN started_at IS NOT NULL THEN finished_at - started_at END";
        let sql = format!(
            "SELECT {b} AS bucket, COUNT(*) AS runs, \
               CAST(COALESCE(SUM(CASE WHEN state = 'succeeded' THEN 1 ELSE 0 END), 0) AS BIGINT) AS succeeded, \
               CAST(COALESCE(SUM(CASE WHEN state = 'dead' THEN 1 ELSE 0 END), 0) AS BIGINT) AS failed, \
               CAST(COALESCE(SUM(CASE WHEN state = 'cancelled' THEN 1 ELSE 0 END), 0) AS BIGINT) AS cancelled, \
               CAST(COALESCE(SUM(CASE WHEN attempts > 1 THEN attempts - 1 ELSE 0 END), 0) AS BIGINT) AS retries, \
               CAST(COALESCE(SUM(CASE WHEN state = 'succeeded' AND result IS NOT NULL \
                 THEN COALESCE({records}, 0) ELSE 0 END), 0) AS BIGINT) AS records, \
               CAST(COALESCE(SUM({run}), 0) AS BIGINT) AS duration_ms, \
               CAST(COALESCE(SUM(CASE WHEN started_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS BIGINT) AS timed, \
               CAST(COALESCE(MAX({run}), 0) AS BIGINT) AS duration_ms_max \
             FROM jobs WHERE kind = 'sync' AND ($1 IS NULL OR project_id = $1) \
             AND finished_at >= $2 AND finished_at < $3 {g} LIMIT $4",
            b = bucket_sql(self.backend, bucket, "finished_at"),
            g = group_by(bucket, ""),
        );
        let names = [
            "runs",
            "succeeded",
            "failed",
            "cancelled",
            "retries",
            "records",
            "duration_ms",
            "timed",
            "duration_ms_max",
        ];
        let names: Vec<(&str, &str)> = names.iter().map(|n| (*n, *n)).collect();
        self.cells_wide(&sql, w, &names).await
    }

    /// Agents by lifecycle state now, and running agents by health (`healthy`, `unhealthy`)
    /// judged against `cutoff` (now minus the heartbeat timeout), by the agent list's rules.
    pub async fn agent_counts(
        &self,
        project: Option<i64>,
        cutoff: Millis,
    ) -> Result<Vec<(String, i64)>> {
        let sql = format!(
            "SELECT state AS k, COUNT(*) AS v FROM agents WHERE ($1 IS NULL OR project_id = $1) \
               GROUP BY state \
             UNION ALL SELECT 'healthy', COUNT(*) FROM agents \
               WHERE ($1 IS NULL OR project_id = $1) AND {healthy} \
             UNION ALL SELECT 'unhealthy', COUNT(*) FROM agents \
               WHERE ($1 IS NULL OR project_id = $1) AND {unhealthy}",
            healthy = super::agents::HEALTHY,
            unhealthy = super::agents::UNHEALTHY,
        );
        let rows = sqlx::query(&sql)
            .bind(project)
            .bind(cutoff)
            .fetch_all(&self.pool)
            .await?;
        counts(&rows)
    }

    /// Agent metrics samples received per bucket, and how many agents sent them.
    pub async fn agent_series(&self, w: &Window, bucket: Option<Bucket>) -> Result<Vec<Cell>> {
        let sql = format!(
            "SELECT {b} AS bucket, COUNT(*) AS samples, COUNT(DISTINCT m.agent_id) AS reporting \
             FROM agent_metrics m JOIN agents a ON a.id = m.agent_id \
             WHERE ($1 IS NULL OR a.project_id = $1) AND m.at >= $2 AND m.at < $3 {g} LIMIT $4",
            b = bucket_sql(self.backend, bucket, "m.at"),
            g = group_by(bucket, ""),
        );
        self.cells_wide(
            &sql,
            w,
            &[("samples", "samples"), ("reporting", "reporting")],
        )
        .await
    }

    /// API requests per bucket, by status class, and their summed duration.
    pub async fn usage_series(&self, w: &Window, bucket: Option<Bucket>) -> Result<Vec<Cell>> {
        let class = |c: &str| {
            format!(
                "CAST(COALESCE(SUM(CASE WHEN status_class = '{c}' THEN requests ELSE 0 END), 0) \
                 AS BIGINT) AS s{c}"
            )
        };
        let sql = format!(
            "SELECT {b} AS bucket, CAST(COALESCE(SUM(requests), 0) AS BIGINT) AS requests, \
               {c2}, {c3}, {c4}, {c5}, \
               CAST(COALESCE(SUM(duration_ms), 0) AS BIGINT) AS duration_ms \
             FROM api_usage WHERE ($1 IS NULL OR project_id = $1) \
             AND bucket_start >= $2 AND bucket_start < $3 {g} LIMIT $4",
            b = bucket_sql(self.backend, bucket, "bucket_start"),
            c2 = class("2xx"),
            c3 = class("3xx"),
            c4 = class("4xx"),
            c5 = class("5xx"),
            g = group_by(bucket, ""),
        );
        let names = [
            ("requests", "requests"),
            ("s2xx", "2xx"),
            ("s3xx", "3xx"),
            ("s4xx", "4xx"),
            ("s5xx", "5xx"),
            ("duration_ms", "duration_ms"),
        ];
        self.cells_wide(&sql, w, &names).await
    }

    /// The `limit` most requested routes of the window.
    pub async fn usage_top_routes(&self, w: &Window, limit: i64) -> Result<Vec<RouteCount>> {
        let rows = sqlx::query(
            "SELECT method, route, CAST(SUM(requests) AS BIGINT) AS requests, \
               CAST(SUM(CASE WHEN status_class IN ('4xx', '5xx') THEN requests ELSE 0 END) \
                 AS BIGINT) AS errors \
             FROM api_usage WHERE ($1 IS NULL OR project_id = $1) \
             AND bucket_start >= $2 AND bucket_start < $3 \
             GROUP BY method, route ORDER BY 3 DESC, route, method LIMIT $4",
        )
        .bind(w.project)
        .bind(w.from)
        .bind(w.to)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(RouteCount {
                    method: row.try_get("method")?,
                    route: row.try_get("route")?,
                    requests: row.try_get("requests")?,
                    errors: row.try_get("errors")?,
                })
            })
            .collect()
    }

    /// Adds counters to `api_usage` in one transaction (rows of one call must have distinct
    /// keys: one statement may not touch a row twice on PostgreSQL).
    pub async fn add_api_usage(&self, rows: &[UsageRow]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for chunk in rows.chunks(USAGE_ROWS_PER_STATEMENT) {
            let mut sql = String::from(
                "INSERT INTO api_usage (bucket_start, project_id, route, method, status_class, \
                 requests, duration_ms) VALUES ",
            );
            for i in 0..chunk.len() {
                let b = i * 7;
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!(
                    "(${}, ${}, ${}, ${}, ${}, ${}, ${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6,
                    b + 7
                ));
            }
            sql.push_str(
                " ON CONFLICT (bucket_start, project_id, route, method, status_class) DO UPDATE \
                 SET requests = api_usage.requests + excluded.requests, \
                 duration_ms = api_usage.duration_ms + excluded.duration_ms",
            );
            let mut q = sqlx::query(&sql);
            for r in chunk {
                q = q
                    .bind(r.bucket_start)
                    .bind(r.project_id)
                    .bind(&r.route)
                    .bind(&r.method)
                    .bind(&r.status_class)
                    .bind(r.requests)
                    .bind(r.duration_ms);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_group_only_by_their_names() {
        assert_eq!(group_by(None, ""), "");
        assert_eq!(group_by(None, "state"), "GROUP BY state");
        assert_eq!(group_by(Some(Bucket::Day), ""), "GROUP BY 1");
        assert_eq!(group_by(Some(Bucket::Day), "2"), "GROUP BY 1, 2");
        assert_eq!(bucket_sql(Backend::Sqlite, None, "t"), "CAST(0 AS BIGINT)");
    }
}
