//! `agentic worker` (workers only, no HTTP), `agentic sync run` (a sync with a progress bar, see
//! [`super::progress`]) and `agentic report`.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Subcommand;

use super::progress::{finished, summary, StreamOutcome, SyncView};
use crate::clock::SystemClock;
use crate::config::Config;
use crate::server;
use crate::store::jobs::JobState;
use crate::sync::Mode;

/// `agentic sync …`.
#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// Syncs a connection now, in this process, showing progress; other workers may help.
    Run {
        /// The connection's id.
        connection: i64,
        /// One stream (default: every stream the connector discovers).
        #[arg(long)]
        stream: Option<String>,
        /// Read everything and detect deletions, instead of continuing from the last state.
        #[arg(long)]
        full: bool,
    },
}

/// `agentic report …`.
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Queue and sync performance over the last hours, across every host and worker.
    Performance {
        /// The window, in hours back from now.
        #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u32).range(1..=2160))]
        hours: u32,
    },
}

/// `agentic report performance`.
pub async fn report(config: Config, command: ReportCommand) -> anyhow::Result<()> {
    let ReportCommand::Performance { hours } = command;
    let store = server::open_store(&config).await?;
    let until = crate::clock::Clock::now_ms(&SystemClock);
    let report = crate::jobs::report::performance(
        &store,
        until - Duration::from_secs(u64::from(hours) * 3600),
        until,
    )
    .await?;
    store.close().await;
    write!(std::io::stdout(), "{report}")?;
    Ok(())
}

/// `agentic worker`: runs jobs until Ctrl-C or SIGTERM, then lets running jobs finish.
pub async fn worker(config: Config) -> anyhow::Result<()> {
    let store = server::open_store(&config).await?;
    let state = server::state(config, store.clone(), Arc::new(SystemClock)).await?;
    server::apply_backup_schedule(&state).await?;
    let worker = server::worker(&state);
    tracing::info!(owner = worker.owner(), "worker ready");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let signal = server::shutdown_signal()?;
    tokio::spawn(async move {
        signal.await;
        let _ = stop.send(true);
    });
    // Without Redis, other processes' cache invalidations arrive through the database.
    let invalidations = tokio::spawn(store.clone().follow_invalidations(stopped.clone()));
    worker.run(stopped).await;
    invalidations.abort();
    store.close().await;
    Ok(())
}

/// `agentic sync run`: enqueues the sync, runs a worker in this process until it ends, shows
/// its progress on `view` and prints the summary.
pub(super) async fn sync(
    config: Config,
    command: SyncCommand,
    mut view: SyncView,
) -> anyhow::Result<()> {
    let SyncCommand::Run {
        connection,
        stream,
        full,
    } = command;
    let started = Instant::now();
    let store = server::open_store(&config).await?;
    let state = server::state(config, store.clone(), Arc::new(SystemClock)).await?;
    let connection = store
        .connection_by_id(connection)
        .await
        .with_context(|| format!("connection {connection}"))?;
    let mode = if full { Mode::Full } else { Mode::Incremental };
    let job =
        crate::sync::request(&store, &connection, stream, mode, None, None, state.now()).await?;
    let worker = server::worker(&state);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(worker.clone().run(stopped));

    view.start();
    let outcome = loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        // The job, or the per-stream jobs it fans out to.
        let root = store.get_job(job.id).await?;
        let children: Vec<i64> = root
            .result
            .as_deref()
            .and_then(|r| serde_json::from_str::<serde_json::Value>(r).ok())
            .and_then(|r| r["jobs"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(serde_json::Value::as_i64)
            .collect();
        let mut watched = Vec::new();
        for id in &children {
            watched.push(store.get_job(*id).await?);
        }
        let root_done = finished(&root);
        if watched.is_empty() {
            watched.push(root);
        }
        view.show(&watched);
        if root_done && watched.iter().all(finished) {
            break watched;
        }
    };
    let warnings = view.finish();
    let _ = stop.send(true);
    let _ = running.await;
    store.close().await;
    let outcomes: Vec<StreamOutcome> = outcome.iter().map(StreamOutcome::of).collect();
    write!(
        std::io::stdout(),
        "{}",
        summary(connection.id, &outcomes, started.elapsed(), warnings)
    )?;
    let failed = outcomes
        .iter()
        .filter(|o| o.state != JobState::Succeeded)
        .count();
    if failed > 0 {
        anyhow::bail!("{failed} of {} sync jobs did not succeed", outcomes.len());
    }
    Ok(())
}
