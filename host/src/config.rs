//! Typed configuration.
//!
//! Sources, later ones winning: built-in defaults, a TOML file (`--config FILE` or
//! `AGENTIC_CONFIG`), then `AGENTIC_*` environment variables, where `__` separates nested keys
//! (`AGENTIC_AUTH__IDLE_TIMEOUT_SECS=600`). Unknown keys in the file are errors, so a typo never
//! silently falls back to a default. [`OPTIONS_HELP`] documents every option; it is printed by
//! `agentic serve --help` and copied in the README.
//!
//! Each capability owns its section: the type, its defaults and its checks live beside the code
//! they configure (`auth::config`, `cache::config`, `documents::config`, `plugins::config`,
//! `jobs::config`, `agents::config`, `sync::SyncLimits`, `backup::BackupConfig`). This module
//! only composes them, loads the sources and holds the paths derived from `data_dir`, so it
//! imports those modules and none of them imports it.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use crate::agents::config::AgentsConfig;
use crate::auth::config::AuthConfig;
use crate::cache::config::CacheConfig;
use crate::documents::config::DocumentsConfig;
use crate::jobs::config::JobsConfig;
use crate::plugins::config::PluginsConfig;
use crate::telemetry::{redact_url, LogFormat};

/// Every option, as shown by `agentic serve --help`.
pub const OPTIONS_HELP: &str = "\
Configuration (TOML file keys; environment variables override them):
  listen                     AGENTIC_LISTEN                     address to serve on [127.0.0.1:8080]
  public_url                 AGENTIC_PUBLIC_URL                 URL browsers reach the host at; OAuth redirect URIs
                                                                are <public_url>/api/v1/oauth/callback [http://<listen>]
  data_dir                   AGENTIC_DATA_DIR                   local state: SQLite file, keys [./data]
  database_url               AGENTIC_DATABASE_URL               sqlite://FILE or postgres://USER@HOST/DB
                                                                [sqlite://<data_dir>/agentic.db]
  log_format                 AGENTIC_LOG_FORMAT                 text | json [text]
  log                        AGENTIC_LOG                        tracing filter, e.g. info,agentic_host=debug [info]
  admin_email                AGENTIC_ADMIN_EMAIL                first administrator, created when no user exists
  admin_password             AGENTIC_ADMIN_PASSWORD             its password (else one is generated and printed once)
  auth.access_token_ttl_secs AGENTIC_AUTH__ACCESS_TOKEN_TTL_SECS JWT access token lifetime [900]
  auth.idle_timeout_secs     AGENTIC_AUTH__IDLE_TIMEOUT_SECS     session ends after this long unused [1800]
  auth.absolute_timeout_secs AGENTIC_AUTH__ABSOLUTE_TIMEOUT_SECS session ends this long after login [43200]
  auth.issuer                AGENTIC_AUTH__ISSUER                JWT `iss` [agentic]
  auth.audience              AGENTIC_AUTH__AUDIENCE              JWT `aud` [agentic-api]
  auth.signing_key_dir       AGENTIC_AUTH__SIGNING_KEY_DIR       Ed25519 JWT keys; newest signs, all verify
                                                                [<data_dir>/jwt-keys]
  auth.login_per_account_per_minute AGENTIC_AUTH__LOGIN_PER_ACCOUNT_PER_MINUTE  login attempts [10]
  auth.login_per_ip_per_minute      AGENTIC_AUTH__LOGIN_PER_IP_PER_MINUTE       login attempts; SSO sign-in
                                                                starts are counted apart, with the same limit [60]
  auth.oidc.frontend_url     AGENTIC_AUTH__OIDC__FRONTEND_URL     where the browser lands after SSO, with #oidc_code=…
  auth.oidc.providers.NAME.* AGENTIC_AUTH__OIDC__PROVIDERS__NAME__* identity providers: issuer, client_id, client_secret,
                                                                client_secret_file or client_secret_vault, scopes, algorithms,
                                                                role_rules, default_role, allowed_email_domains, allowed_tenants,
                                                                link_verified_email, scim_link_claim, role_source, graph_url,
                                                                post_logout_redirect_url (docs/IDENTITY.md) [none]
  auth.scim.role_rules_from  AGENTIC_AUTH__SCIM__ROLE_RULES_FROM  the SSO provider whose role_rules give SCIM-provisioned
                                                                people their role from their groups [none]
  auth.scim.default_role     AGENTIC_AUTH__SCIM__DEFAULT_ROLE     role of a provisioned person no rule matches
                                                                [support_engineer]
  http.max_body_bytes        AGENTIC_HTTP__MAX_BODY_BYTES        largest accepted request body [1048576]
  http.request_timeout_secs  AGENTIC_HTTP__REQUEST_TIMEOUT_SECS  per-request deadline [30]
  http.trust_forwarded_for   AGENTIC_HTTP__TRUST_FORWARDED_FOR   take client IP from X-Forwarded-For [false]
  http.cors_allowed_origins  AGENTIC_HTTP__CORS_ALLOWED_ORIGINS  browser origins allowed to call the API,
                                                                e.g. '[\"https://app.example.com\"]' [none]
  vault_key_file             AGENTIC_VAULT_KEY_FILE             age identity encrypting stored credentials; generated
                                                                while no secret exists [<data_dir>/vault.key]
  vault_key                  AGENTIC_VAULT_KEY                  the identity itself (AGE-SECRET-KEY-1…), instead of a file
  plugins.call_timeout_secs  AGENTIC_PLUGINS__CALL_TIMEOUT_SECS  wall-clock budget of one plugin call [30]
  plugins.memory_mib         AGENTIC_PLUGINS__MEMORY_MIB         linear memory cap of a plugin instance [64]
  plugins.http_requests_per_call AGENTIC_PLUGINS__HTTP_REQUESTS_PER_CALL  outbound requests per call [1000]
  plugins.http_response_mib  AGENTIC_PLUGINS__HTTP_RESPONSE_MIB  largest response body a plugin reads, MiB [32]
  plugins.cache_dir          AGENTIC_PLUGINS__CACHE_DIR          compiled-plugin cache [<data_dir>/plugin-cache]
  plugins.threads            AGENTIC_PLUGINS__THREADS            threads plugin calls run on, apart from the API's
                                                                [number of cores]
  plugins.instances          AGENTIC_PLUGINS__INSTANCES          plugin instances alive at once, in all [64]
  plugins.instances_per_plugin AGENTIC_PLUGINS__INSTANCES_PER_PLUGIN  ... of one plugin; more calls wait [16]
  plugins.instances_per_connection AGENTIC_PLUGINS__INSTANCES_PER_CONNECTION  ... of one connection [4]
  sync.max_pages_per_run     AGENTIC_SYNC__MAX_PAGES_PER_RUN     pages one sync run of a stream may read [100000]
  sync.max_records_per_run   AGENTIC_SYNC__MAX_RECORDS_PER_RUN   records one run may store [10000000]
  sync.max_run_secs          AGENTIC_SYNC__MAX_RUN_SECS          seconds one run may take [21600]
  jobs.workers               AGENTIC_JOBS__WORKERS               jobs `serve` runs at once in-process; 0: none [2]
                                                                (`agentic worker` runs jobs only)
  jobs.concurrency           AGENTIC_JOBS__CONCURRENCY           jobs `agentic worker` runs at once [4]
  jobs.lease_secs            AGENTIC_JOBS__LEASE_SECS            a dead worker's jobs are retried after this [30]
  jobs.max_postponements     AGENTIC_JOBS__MAX_POSTPONEMENTS     rate limits in a row without progress before a job is dead [50]
  jobs.claim_ahead           AGENTIC_JOBS__CLAIM_AHEAD           jobs a worker claims ahead of free slots; 0: its concurrency [0]
  jobs.durable_outcomes      AGENTIC_JOBS__DURABLE_OUTCOMES      outcomes on disk before a job counts as finished; false: a
                                                                database crash may run finished jobs again [true]
  documents.max_upload_bytes AGENTIC_DOCUMENTS__MAX_UPLOAD_BYTES largest document file accepted [26214400]
  documents.allowed_content_types AGENTIC_DOCUMENTS__ALLOWED_CONTENT_TYPES  media types accepted, `type/*`
                                                                allowed, e.g. '[\"text/*\", \"application/pdf\"]'
                                                                [text, PDF, office documents, images]
  documents.blob_store       AGENTIC_DOCUMENTS__BLOB_STORE       where document bytes live: database | filesystem
                                                                [database]
  documents.blob_dir         AGENTIC_DOCUMENTS__BLOB_DIR         directory of the filesystem store [<data_dir>/blobs]
  cache.enabled              AGENTIC_CACHE__ENABLED              cache projects, memberships and plugin lookups [true]
  cache.ttl_secs             AGENTIC_CACHE__TTL_SECS             longest an entry is kept; other processes' changes arrive
                                                                through Redis at once, else the database within 0.2 s [10]
  cache.max_entries          AGENTIC_CACHE__MAX_ENTRIES          in-process entries; 0 = none (Redis only) [100000]
  cache.redis_url            AGENTIC_REDIS_URL                  redis://HOST:PORT/DB shared by every host of a cluster:
                                                                cache and invalidations [none: in-process only]
  cache.redis_prefix         AGENTIC_CACHE__REDIS_PREFIX         key and channel prefix, one per deployment [agentic:]
  cache.redis_timeout_ms     AGENTIC_CACHE__REDIS_TIMEOUT_MS     longest wait for one Redis call [50]
  cache.redis_retry_ms       AGENTIC_CACHE__REDIS_RETRY_MS       after a failure Redis is left alone this long [1000]
  agents.heartbeat_timeout_secs AGENTIC_AGENTS__HEARTBEAT_TIMEOUT_SECS  a running agent silent this long is
                                                                unhealthy [90]
  agents.metrics_retention_secs AGENTIC_AGENTS__METRICS_RETENTION_SECS  metrics samples kept this long [604800]
  agents.metrics_max_samples AGENTIC_AGENTS__METRICS_MAX_SAMPLES metrics samples kept per agent [10000]
  agents.component_dir      AGENTIC_AGENTS__COMPONENT_DIR      built-in agent components (agent_*.wasm; `cargo xtask
                                                                serve` sets it) [none: only `external` agents]
  agents.event_delay_secs   AGENTIC_AGENTS__EVENT_DELAY_SECS   a sync event an agent runs on makes its next run due
                                                                this much later, gathering a sync's streams [10]
  backup.destination         AGENTIC_BACKUP__DESTINATION         where scheduled and API backups go: a directory
                                                                (another disk or volume) or s3://bucket/prefix [none]
  backup.s3.endpoint         AGENTIC_BACKUP__S3__ENDPOINT        S3-compatible service URL (not AWS) [AWS_ENDPOINT]
  backup.s3.region           AGENTIC_BACKUP__S3__REGION          its region [AWS_REGION, else us-east-1]
  backup.s3.access_key_id    AGENTIC_BACKUP__S3__ACCESS_KEY_ID   access key id [AWS_ACCESS_KEY_ID]
  backup.s3.secret_access_key_file AGENTIC_BACKUP__S3__SECRET_ACCESS_KEY_FILE  file holding the secret key
                                                                [AWS_SECRET_ACCESS_KEY]
  backup.recipients          AGENTIC_BACKUP__RECIPIENTS          age public keys (age1…) backups are encrypted to,
                                                                e.g. '[\"age1…\"]' [none]
  backup.schedule            AGENTIC_BACKUP__SCHEDULE            cron expression (UTC) of scheduled backups,
                                                                e.g. '0 3 * * *' [none: not scheduled]
  backup.keep_last           AGENTIC_BACKUP__KEEP_LAST           after each backup keep the newest N ... [0]
  backup.keep_daily          AGENTIC_BACKUP__KEEP_DAILY          ... and the newest of N days [0]
  backup.keep_weekly         AGENTIC_BACKUP__KEEP_WEEKLY         ... of N ISO weeks [0]
  backup.keep_monthly        AGENTIC_BACKUP__KEEP_MONTHLY        ... of N months [0]; all 0: keep everything
";

/// The whole configuration of one host process.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP API listens on.
    pub listen: SocketAddr,
    /// The URL browsers reach the host at (behind a proxy: the proxy's). OAuth providers
    /// redirect to `<public_url>/api/v1/oauth/callback`.
    pub public_url: Option<String>,
    /// Directory for the embedded database, generated keys and other local state.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; `None` means the SQLite file in `data_dir`.
    pub database_url: Option<String>,
    /// Log line format.
    pub log_format: LogFormat,
    /// `tracing` filter directive.
    pub log: String,
    /// E-mail of the first administrator, created only while no user exists.
    pub admin_email: Option<String>,
    /// Password of the first administrator; generated and printed once when absent.
    pub admin_password: Option<String>,
    /// The vault's key file (`None`: `<data_dir>/vault.key`).
    pub vault_key_file: Option<PathBuf>,
    /// The vault's identity itself, instead of a file (rotation then needs a file).
    pub vault_key: Option<String>,
    /// Identity and session settings.
    pub auth: AuthConfig,
    /// HTTP server limits.
    pub http: HttpConfig,
    /// Plugin sandbox limits.
    pub plugins: PluginsConfig,
    /// The job queue's workers.
    pub jobs: JobsConfig,
    /// Document uploads and storage.
    pub documents: DocumentsConfig,
    /// The read-through cache.
    pub cache: CacheConfig,
    /// Agent heartbeats and metrics.
    pub agents: AgentsConfig,
    /// Bounds of each sync run.
    pub sync: crate::sync::SyncLimits,
    /// Scheduled and API-started backups.
    pub backup: crate::backup::BackupConfig,
}

/// HTTP server limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Deadline for handling one request.
    pub request_timeout_secs: u64,
    /// Take the client IP (rate limits, audit, sessions) from `X-Forwarded-For`. Only behind a
    /// proxy that sets it; otherwise clients could pick their own IP.
    pub trust_forwarded_for: bool,
    /// Origins (`https://app.example.com`) whose browser pages may call the API. Empty: no
    /// cross-origin access. Credentials travel in `Authorization`, never cookies, so CORS here
    /// only decides which pages may read responses.
    pub cors_allowed_origins: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            data_dir: PathBuf::from("data"),
            database_url: None,
            log_format: LogFormat::Text,
            log: "info".into(),
            admin_email: None,
            admin_password: None,
            vault_key_file: None,
            vault_key: None,
            auth: AuthConfig::default(),
            http: HttpConfig::default(),
            plugins: PluginsConfig::default(),
            jobs: JobsConfig::default(),
            documents: DocumentsConfig::default(),
            cache: CacheConfig::default(),
            agents: AgentsConfig::default(),
            sync: crate::sync::SyncLimits::default(),
            backup: crate::backup::BackupConfig::default(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            request_timeout_secs: 30,
            trust_forwarded_for: false,
            cors_allowed_origins: Vec::new(),
        }
    }
}

impl HttpConfig {
    /// Why these values cannot run, if they cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_body_bytes < 1024 {
            return Err("http.max_body_bytes must be at least 1024".into());
        }
        for origin in &self.cors_allowed_origins {
            let ok = (origin.starts_with("https://") || origin.starts_with("http://"))
                && !origin.ends_with('/')
                && origin.parse::<axum::http::HeaderValue>().is_ok();
            if !ok {
                return Err(format!(
                    "http.cors_allowed_origins: `{origin}` is not an origin like https://app.example.com"
                ));
            }
        }
        Ok(())
    }
}

/// Top-level keys taken from `AGENTIC_*` variables; other `AGENTIC_*` variables (for tests or
/// tools) are not configuration and are left alone.
const ENV_KEYS: &[&str] = &[
    "listen",
    "public_url",
    "data_dir",
    "database_url",
    "log_format",
    "log",
    "admin_email",
    "admin_password",
    "vault_key_file",
    "vault_key",
    "auth",
    "http",
    "plugins",
    "jobs",
    "documents",
    "cache",
    "agents",
    "sync",
    "backup",
];

/// Configuration errors, reported before anything starts.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A source could not be read or a value has the wrong type.
    #[error("invalid configuration: {0}")]
    Invalid(#[from] Box<figment::Error>),
    /// Values that parse but make no sense together.
    #[error("invalid configuration: {0}")]
    Inconsistent(String),
}

impl Config {
    /// Loads defaults, then the TOML file (if any), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError::Inconsistent(format!(
                    "config file {} does not exist",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file(file));
        }
        // `AGENTIC_REDIS_URL` is the documented name of `cache.redis_url`.
        let env = Env::prefixed("AGENTIC_")
            .map(|key| {
                if key == "redis_url" {
                    "cache.redis_url".into()
                } else {
                    key.into()
                }
            })
            .split("__")
            .filter(|key| {
                let top = key
                    .as_str()
                    .split('.')
                    .next()
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                ENV_KEYS.contains(&top.as_str())
            });
        let config: Config = figment.merge(env).extract().map_err(Box::new)?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let sections = [
            self.auth.validate(),
            self.http.validate(),
            self.plugins.validate(),
            self.sync.validate(),
            self.documents.validate(),
            self.cache.validate(),
            self.agents.validate(),
            self.backup.problem().map_or(Ok(()), Err),
        ];
        match sections.into_iter().find_map(Result::err) {
            Some(problem) => Err(ConfigError::Inconsistent(problem)),
            None => Ok(()),
        }
    }

    /// Where OAuth providers send the browser back to: `<public_url>/api/v1/oauth/callback`.
    pub fn oauth_redirect_uri(&self) -> String {
        let base = self
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen));
        format!("{}/api/v1/oauth/callback", base.trim_end_matches('/'))
    }

    /// The database URL in force: the configured one or the SQLite file in `data_dir`.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("agentic.db").display()
            ),
        }
    }

    /// Where the JWT signing keys live.
    pub fn signing_key_dir(&self) -> PathBuf {
        self.auth
            .signing_key_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("jwt-keys"))
    }

    /// Where the vault's identity comes from.
    pub fn vault_key_source(&self) -> crate::vault::KeySource {
        match &self.vault_key {
            Some(key) => crate::vault::KeySource::Env(key.clone()),
            None => crate::vault::KeySource::File(
                self.vault_key_file
                    .clone()
                    .unwrap_or_else(|| self.data_dir.join("vault.key")),
            ),
        }
    }

    /// Where the filesystem blob store keeps document bytes.
    pub fn blob_dir(&self) -> PathBuf {
        self.documents
            .blob_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("blobs"))
    }

    /// Where uploads are spooled while they are read (on disk, never in memory).
    pub fn spool_dir(&self) -> PathBuf {
        self.data_dir.join("spool")
    }

    /// Where compiled plugins are cached.
    pub fn plugin_cache_dir(&self) -> PathBuf {
        self.plugins
            .cache_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("plugin-cache"))
    }
}

/// Secrets (the admin password, credentials inside the database URL) never reach logs.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .field("log_format", &self.log_format)
            .field("log", &self.log)
            .field("admin_email", &self.admin_email)
            .field(
                "admin_password",
                &self.admin_password.as_ref().map(|_| "<redacted>"),
            )
            .field("vault_key_file", &self.vault_key_file)
            .field("vault_key", &self.vault_key.as_ref().map(|_| "<redacted>"))
            .field("auth", &self.auth)
            .field("http", &self.http)
            .field("plugins", &self.plugins)
            .field("public_url", &self.public_url)
            .field("jobs", &self.jobs)
            .field("documents", &self.documents)
            .field("cache", &self.cache)
            .field("backup", &self.backup)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readme_documents_every_option() {
        let readme = include_str!("../../README.md");
        assert!(
            readme.contains(OPTIONS_HELP),
            "README's configuration table differs from OPTIONS_HELP"
        );
    }

    #[test]
    fn redis_url_comes_from_agentic_redis_url() {
        // The only test in this crate that reads configuration from the environment.
        std::env::set_var("AGENTIC_REDIS_URL", "redis://cache.internal:6379/2");
        std::env::set_var("AGENTIC_CACHE__TTL_SECS", "30");
        let loaded = Config::load(None);
        std::env::remove_var("AGENTIC_REDIS_URL");
        std::env::remove_var("AGENTIC_CACHE__TTL_SECS");
        let config = loaded.expect("config");
        assert_eq!(
            config.cache.redis_url.as_deref(),
            Some("redis://cache.internal:6379/2")
        );
        assert_eq!(config.cache.ttl_secs, 30);
        assert!(config.cache.enabled);
    }

    #[test]
    fn debug_redacts_secrets() {
        let mut config = Config {
            database_url: Some("postgres://agentic:hunter2@db/agentic".into()),
            admin_password: Some("correct horse battery".into()),
            ..Config::default()
        };
        config.cache.redis_url = Some("redis://:hunter2@cache/0".into());
        let text = format!("{config:?}");
        assert!(
            !text.contains("hunter2") && !text.contains("correct horse"),
            "{text}"
        );
        assert!(text.contains("postgres://agentic:<redacted>@db/agentic"));
    }
}
