//! `agentic worker` (workers only, no HTTP) and `agentic sync run` (a sync with a progress bar).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;

use crate::clock::SystemClock;
use crate::config::Config;
use crate::server;
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
    let report =
        crate::jobs::report::performance(&store, until - i64::from(hours) * 3_600_000, until)
            .await?;
    store.close().await;
    use std::io::Write;
    write!(std::io::stdout(), "{report}")?;
    Ok(())
}

/// `agentic worker`: runs jobs until Ctrl-C or SIGTERM, then lets running jobs finish.
pub async fn worker(config: Config) -> anyhow::Result<()> {
    let store = server::open_store(&config).await?;
    let state = server::state(config, store.clone(), Arc::new(SystemClock)).await?;
    let worker = server::worker(&state);
    tracing::info!(owner = worker.owner(), "worker ready");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let signal = server::shutdown_signal()?;
    tokio::spawn(async move {
        signal.await;
        let _ = stop.send(true);
    });
    worker.run(stopped).await;
    store.close().await;
    Ok(())
}

/// `agentic sync run`.
pub async fn sync(config: Config, command: SyncCommand) -> anyhow::Result<()> {
    let SyncCommand::Run {
        connection,
        stream,
        full,
    } = command;
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

    let bar = indicatif::ProgressBar::new_spinner();
    // A spinner counting records until every stream's connector reports a total; then a bar
    // of the connectors' own units (the message keeps the records stored).
    let spinner = indicatif::ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {pos} records  {msg}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
    let full_bar = indicatif::ProgressStyle::with_template(
        "[{elapsed_precise}] {wide_bar} {pos}/{len}  {msg}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(spinner);
    bar.enable_steady_tick(Duration::from_millis(120));
    // The job, or the per-stream jobs it fans out to.
    let finished = |j: &crate::store::jobs::Job| {
        matches!(j.state.as_str(), "succeeded" | "dead" | "cancelled")
    };
    let outcome = loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
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
        let done: i64 = watched.iter().map(|j| j.progress_done).sum();
        let total: Option<i64> = watched.iter().map(|j| j.progress_total).sum();
        if let Some(total) = total.filter(|t| *t > 0) {
            if bar.length() != Some(u64::try_from(total).unwrap_or_default()) {
                bar.set_style(full_bar.clone());
                bar.set_length(u64::try_from(total).unwrap_or_default());
            }
        }
        bar.set_position(u64::try_from(done).unwrap_or_default());
        if let Some(j) = watched.iter().find(|j| j.state == "running") {
            bar.set_message(j.progress_message.clone());
        } else if let Some(j) = watched
            .iter()
            .find(|j| j.state == "queued" && j.last_error.is_some())
        {
            bar.set_message(format!(
                "retrying: {}",
                j.last_error.clone().unwrap_or_default()
            ));
        }
        if root_done && watched.iter().all(finished) {
            break watched;
        }
    };
    bar.finish_and_clear();
    let _ = stop.send(true);
    let _ = running.await;
    let mut failed = 0;
    for job in &outcome {
        match job.state.as_str() {
            "succeeded" => eprintln!("job {}: {}", job.id, job.result.clone().unwrap_or_default()),
            state => {
                failed += 1;
                eprintln!(
                    "job {} {state}: {}",
                    job.id,
                    job.last_error.clone().unwrap_or_default()
                );
            }
        }
    }
    store.close().await;
    if failed > 0 {
        anyhow::bail!("{failed} of {} sync jobs did not succeed", outcome.len());
    }
    Ok(())
}
