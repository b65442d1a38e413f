//! Typed configuration.
//!
//! Sources, later ones winning: built-in defaults, a TOML file (`--config FILE` or
//! `AGENTIC_CONFIG`), then `AGENTIC_*` environment variables, where `__` separates nested keys
//! (`AGENTIC_AUTH__IDLE_TIMEOUT_SECS=600`). Unknown keys in the file are errors, so a typo never
//! silently falls back to a default. [`OPTIONS_HELP`] documents every option; it is printed by
//! `agentic serve --help` and copied in the README.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// Every option, as shown by `agentic serve --help`.
pub const OPTIONS_HELP: &str = "\
Configuration (TOML file keys; environment variables override them):
  listen                     AGENTIC_LISTEN                     address to serve on [127.0.0.1:8080]
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
  auth.login_per_ip_per_minute      AGENTIC_AUTH__LOGIN_PER_IP_PER_MINUTE       login attempts [60]
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
  plugins.cache_dir          AGENTIC_PLUGINS__CACHE_DIR          compiled-plugin cache [<data_dir>/plugin-cache]
";

/// The whole configuration of one host process.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP API listens on.
    pub listen: SocketAddr,
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
}

/// Plugin sandbox limits (the rest of [`crate::plugins::Limits`] keeps its defaults).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PluginsConfig {
    /// Wall-clock budget of one plugin call.
    pub call_timeout_secs: u64,
    /// Linear memory a plugin instance may grow to, in MiB.
    pub memory_mib: usize,
    /// Outbound HTTP requests one call may send.
    pub http_requests_per_call: u32,
    /// Where compiled components are cached; `None` means `<data_dir>/plugin-cache`.
    pub cache_dir: Option<PathBuf>,
}

impl Default for PluginsConfig {
    fn default() -> Self {
        Self {
            call_timeout_secs: 30,
            memory_mib: 64,
            http_requests_per_call: 1_000,
            cache_dir: None,
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Identity and session settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Lifetime of a JWT access token. Short, because a token cannot be recalled once issued;
    /// the session check on every request still stops a revoked session at once.
    pub access_token_ttl_secs: u64,
    /// A session unused for this long is over.
    pub idle_timeout_secs: u64,
    /// A session this old is over, however active.
    pub absolute_timeout_secs: u64,
    /// JWT `iss` claim written and required.
    pub issuer: String,
    /// JWT `aud` claim written and required.
    pub audience: String,
    /// Directory of Ed25519 signing keys (PKCS#8 PEM). Share it between hosts of one cluster.
    pub signing_key_dir: Option<PathBuf>,
    /// Login attempts allowed per account per minute.
    pub login_per_account_per_minute: u32,
    /// Login attempts allowed per client IP per minute.
    pub login_per_ip_per_minute: u32,
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
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            access_token_ttl_secs: 15 * 60,
            idle_timeout_secs: 30 * 60,
            absolute_timeout_secs: 12 * 60 * 60,
            issuer: "agentic".into(),
            audience: "agentic-api".into(),
            signing_key_dir: None,
            login_per_account_per_minute: 10,
            login_per_ip_per_minute: 60,
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

/// Top-level keys taken from `AGENTIC_*` variables; other `AGENTIC_*` variables (for tests or
/// tools) are not configuration and are left alone.
const ENV_KEYS: &[&str] = &[
    "listen",
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
        let env = Env::prefixed("AGENTIC_").split("__").filter(|key| {
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
        let a = &self.auth;
        let bad = |m: &str| Err(ConfigError::Inconsistent(m.to_owned()));
        if a.access_token_ttl_secs == 0 || a.idle_timeout_secs == 0 || a.absolute_timeout_secs == 0
        {
            return bad("auth timeouts must be greater than zero");
        }
        if a.idle_timeout_secs > a.absolute_timeout_secs {
            return bad("auth.idle_timeout_secs may not exceed auth.absolute_timeout_secs");
        }
        if a.login_per_account_per_minute == 0 || a.login_per_ip_per_minute == 0 {
            return bad("login rate limits must be greater than zero");
        }
        if self.http.max_body_bytes < 1024 {
            return bad("http.max_body_bytes must be at least 1024");
        }
        let p = &self.plugins;
        if !(1..=3600).contains(&p.call_timeout_secs) {
            return bad("plugins.call_timeout_secs must be between 1 and 3600");
        }
        if !(1..=4096).contains(&p.memory_mib) {
            return bad("plugins.memory_mib must be between 1 and 4096");
        }
        if p.http_requests_per_call == 0 {
            return bad("plugins.http_requests_per_call must be greater than zero");
        }
        for origin in &self.http.cors_allowed_origins {
            let ok = (origin.starts_with("https://") || origin.starts_with("http://"))
                && !origin.ends_with('/')
                && origin.parse::<axum::http::HeaderValue>().is_ok();
            if !ok {
                return bad(&format!(
                    "http.cors_allowed_origins: `{origin}` is not an origin like https://app.example.com"
                ));
            }
        }
        Ok(())
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

    /// Where compiled plugins are cached.
    pub fn plugin_cache_dir(&self) -> PathBuf {
        self.plugins
            .cache_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("plugin-cache"))
    }

    /// The plugin sandbox limits in force.
    pub fn plugin_limits(&self) -> crate::plugins::Limits {
        let mut limits = crate::plugins::Limits {
            call_timeout: std::time::Duration::from_secs(self.plugins.call_timeout_secs),
            memory_bytes: self.plugins.memory_mib << 20,
            ..crate::plugins::Limits::default()
        };
        limits.egress.max_requests_per_call = self.plugins.http_requests_per_call;
        limits
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
            .finish()
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:<redacted>@host/db`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:<redacted>@{host}"),
        None => url.to_owned(),
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
    fn debug_redacts_secrets() {
        let config = Config {
            database_url: Some("postgres://agentic:hunter2@db/agentic".into()),
            admin_password: Some("correct horse battery".into()),
            ..Config::default()
        };
        let text = format!("{config:?}");
        assert!(
            !text.contains("hunter2") && !text.contains("correct horse"),
            "{text}"
        );
        assert!(text.contains("postgres://agentic:<redacted>@db/agentic"));
    }
}
