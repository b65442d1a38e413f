//! Starting the host: storage, migrations, keys, the first administrator, the listener and a
//! graceful shutdown on Ctrl-C / SIGTERM.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;

use crate::api::{self, AppState};
use crate::auth::tokens::TokenKeys;
use crate::auth::{password, Auth};
use crate::cache::Cache;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::jobs::{JobHandler, Worker, WorkerOptions};
use crate::rbac::Role;
use crate::store::users::{NewUser, UserKind};
use crate::store::{Store, StoreError};
use crate::telemetry;

/// Connects to the database (creating the SQLite data directory, 0700, if needed), migrates
/// it, and puts the configured cache in front of it (with Redis, the CLI's writes invalidate
/// running hosts too). Refuses a SQLite database that was lost beside a surviving vault key
/// ([`crate::data_dir::refuse_lost_database`]).
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    if config.database_url.is_none() {
        crate::data_dir::create(&config.data_dir)?;
    }
    crate::data_dir::refuse_lost_database(config)?;
    let url = config.database_url();
    let store = Store::connect(&url)
        .await
        .with_context(|| format!("connecting to {}", crate::telemetry::redact_url(&url)))?;
    store.migrate().await.context("applying migrations")?;
    let cache = Cache::from_config(&config.cache).context("setting up the cache")?;
    Ok(store
        .with_cache(cache)
        .with_durable_outcomes(config.jobs.durable_outcomes))
}

/// Builds the shared application state on an open store; opens the vault, which refuses to
/// start with a missing or wrong key.
pub async fn state(
    config: Config,
    store: Store,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<AppState> {
    let vault = crate::vault::Vault::open(store.clone(), config.vault_key_source())
        .await
        .context("opening the credential vault")?;
    let keys = TokenKeys::load_or_generate(&config.signing_key_dir(), &config.auth)
        .context("loading JWT signing keys")?;
    let auth = Auth::new(store.clone(), keys, clock.clone(), config.auth.clone());
    let plugins = Arc::new(
        crate::plugins::registry::Registry::new(
            store.clone(),
            clock.clone(),
            config.plugins.limits(),
            Some(config.plugin_cache_dir()),
        )
        .reserve_agent_ids(crate::agents::KINDS.iter().map(|k| k.name)),
    );
    let vault = Arc::new(vault);
    let sessions =
        crate::vault::sessions::Sessions::new(vault.clone(), store.clone(), clock.clone())
            .map_err(|e| anyhow::anyhow!("building the credential session client: {e}"))?;
    let blobs =
        crate::documents::blobs::Blobs::new(&config.documents, config.blob_dir(), store.clone());
    let usage = Arc::new(crate::analytics::usage::UsageRecorder::new(clock.clone()));
    let agent_components = Arc::new(crate::agents::components::Components::new(
        config.agents.component_dir.clone(),
        plugins.clone(),
    ));
    Ok(AppState {
        agent_components,
        blobs,
        usage,
        store,
        auth,
        clock,
        plugins,
        vault,
        sessions: Arc::new(sessions),
        config: Arc::new(config),
        metrics: telemetry::metrics_handle(),
    })
}

/// A worker for the job kinds this host knows (syncs, web-task runs, agent deploys, stops and runs,
/// and `noop` for benchmarks and checks), sized by `jobs.concurrency`.
pub fn worker(state: &AppState) -> Arc<Worker> {
    worker_with(state, state.config.jobs.concurrency)
}

fn worker_with(state: &AppState, concurrency: usize) -> Arc<Worker> {
    let mut handlers: Vec<Arc<dyn JobHandler>> = vec![
        Arc::new(
            crate::sync::SyncHandler::new(
                state.store.clone(),
                state.plugins.clone(),
                state.sessions.clone(),
                state.clock.clone(),
            )
            .with_limits(state.config.sync)
            .with_listener(Arc::new(crate::agents::triggers::Triggers::new(
                state.store.clone(),
                state.clock.clone(),
                state.config.agents.event_delay_secs,
            ))),
        ),
        Arc::new(crate::agents::DeployHandler::new(
            state.store.clone(),
            state.clock.clone(),
            state.agent_components.clone(),
        )),
        Arc::new(crate::agents::run::RunHandler::new(
            crate::agents::platform::Services::of(state),
            state.agent_components.clone(),
            state.config.agents.clone(),
        )),
        Arc::new(crate::agents::StopHandler::new(
            state.store.clone(),
            state.clock.clone(),
        )),
        Arc::new(crate::jobs::Noop),
        Arc::new(crate::backup::run::BackupHandler::new(
            state.store.clone(),
            state.clock.clone(),
            state.config.backup.clone(),
            state.config.blob_dir(),
            state.config.data_dir.clone(),
        )),
    ];
    match crate::web_tasks::WebTaskHandler::new(
        state.store.clone(),
        state.blobs.clone(),
        state.clock.clone(),
        crate::web_tasks::WebLimits::default(),
    ) {
        Ok(handler) => handlers.push(Arc::new(handler)),
        Err(e) => tracing::error!("web-automation tasks cannot run on this worker: {e}"),
    }
    let options = WorkerOptions {
        concurrency,
        lease: Duration::from_secs(state.config.jobs.lease_secs.max(1)),
        claim_ahead: state.config.jobs.claim_ahead,
        ..WorkerOptions::default()
    };
    Arc::new(
        Worker::new(state.store.clone(), state.clock.clone(), handlers, options)
            .with_max_postponements(state.config.jobs.max_postponements),
    )
}

/// Makes the backup schedule agree with this host's `[backup]` section (`serve` and `worker`
/// do this as they start; other commands leave the schedule alone, since their configuration
/// may lack the section).
pub async fn apply_backup_schedule(state: &AppState) -> anyhow::Result<()> {
    let next = crate::backup::run::apply_schedule(&state.store, &state.config.backup, state.now())
        .await
        .context("applying backup.schedule")?;
    if let Some(next) = next {
        tracing::info!(next_run_at = next.as_ms(), "backups scheduled");
    }
    Ok(())
}

/// What start-up did about the first administrator.
#[derive(Debug)]
pub enum FirstAdmin {
    /// Users already exist; nothing done.
    Existing,
    /// Created with the configured password.
    Created {
        /// Its e-mail.
        email: String,
    },
    /// Created with a generated password, to be shown once.
    Generated {
        /// Its e-mail.
        email: String,
        /// The generated password.
        password: String,
    },
}

/// Creates the first Administrator when the database has no user at all.
pub async fn ensure_first_admin(state: &AppState) -> anyhow::Result<FirstAdmin> {
    if state.store.count_users().await? > 0 {
        return Ok(FirstAdmin::Existing);
    }
    let email = state
        .config
        .admin_email
        .clone()
        .unwrap_or_else(|| "admin@localhost".into())
        .trim()
        .to_lowercase();
    let (pw, generated) = match &state.config.admin_password {
        Some(pw) => {
            password::check_strength(pw, Some(&email))
                .map_err(|why| anyhow::anyhow!("AGENTIC_ADMIN_PASSWORD {why}"))?;
            (pw.clone(), false)
        }
        None => {
            let mut bytes = [0u8; 18];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            (URL_SAFE_NO_PAD.encode(bytes), true)
        }
    };
    let to_hash = pw.clone();
    let hash = tokio::task::spawn_blocking(move || password::hash(&to_hash))
        .await?
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))?;
    let new = NewUser {
        kind: UserKind::Human,
        email: Some(&email),
        display_name: "Administrator",
        password_hash: Some(&hash),
        role: Role::Administrator,
    };
    match state.store.create_user(new, state.now()).await {
        Ok(_) => {}
        // Another host of the cluster created it at the same moment.
        Err(StoreError::EmailTaken) => return Ok(FirstAdmin::Existing),
        Err(e) => return Err(e.into()),
    }
    Ok(if generated {
        FirstAdmin::Generated {
            email,
            password: pw,
        }
    } else {
        FirstAdmin::Created { email }
    })
}

/// `agentic serve`: runs the API until Ctrl-C or SIGTERM.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let listen = config.listen;
    let store = open_store(&config).await?;
    tracing::info!(backend = ?store.backend(), cache = store.cache().mode(), "database ready");
    let state = state(config, store.clone(), Arc::new(SystemClock)).await?;
    // Bind before creating the first administrator: a start that fails on a busy port must
    // not print (and so lose) the one-time password.
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    match ensure_first_admin(&state).await? {
        FirstAdmin::Existing => {}
        FirstAdmin::Created { email } => tracing::info!(%email, "first administrator created"),
        FirstAdmin::Generated { email, password } => {
            // Printed to the terminal once, never logged.
            eprintln!(
                "\n  First administrator created\n    e-mail:   {email}\n    password: {password}\n  \
                 It is shown only this once: log in and change it (POST /api/v1/auth/password).\n"
            );
        }
    }

    apply_backup_schedule(&state).await?;

    let auth = state.auth.clone();
    let housekeeping = tokio::spawn(async move {
        // Every ten minutes: cheap, and nothing here is urgent.
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tick.tick().await;
            match auth.housekeeping().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(sessions = n, "purged long-expired sessions"),
                Err(e) => tracing::warn!(error = %e, "session housekeeping failed"),
            }
        }
    });

    let usage = state.usage.clone();
    let usage_flusher = tokio::spawn(crate::analytics::usage::flush_periodically(
        usage.clone(),
        store.clone(),
        Duration::from_secs(60),
    ));

    let (stop_workers, workers_stopped) = tokio::sync::watch::channel(false);
    // Without Redis, other processes' cache invalidations arrive through the database.
    let invalidations = tokio::spawn(store.clone().follow_invalidations(workers_stopped.clone()));
    let workers = (state.config.jobs.workers > 0).then(|| {
        let worker = worker_with(&state, state.config.jobs.workers);
        tokio::spawn(worker.run(workers_stopped))
    });

    let shutdown = shutdown_signal()?;
    let local = listener.local_addr()?;
    tracing::info!(address = %local, docs = %format!("http://{local}/api/docs"), "agentic listening");
    let app = api::app(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    housekeeping.abort();
    invalidations.abort();
    usage_flusher.abort();
    // The last minute of API usage, counted since the previous flush.
    if let Err(e) = usage.flush(&store).await {
        tracing::warn!(error = %e, "API usage counters of the last minute not stored");
    }
    // Running jobs finish (or, past the process manager's patience, are retried elsewhere).
    let _ = stop_workers.send(true);
    if let Some(workers) = workers {
        let _ = workers.await;
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are registered when this is called, not when the
/// future is first polled, so a signal sent right after "listening" is not lost.
pub(crate) fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
            tracing::info!("shutting down");
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down");
        })
    }
}
