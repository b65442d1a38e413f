//! The connection's configuration (its JSON Schema is `[config_schema]` in `plugin.toml`), and
//! what follows from it and from the connection's base URL: where the REST API lives, which API
//! version, where links to issues point, the JQL scope.

use agentic_sdk::Error;
use serde::Deserialize;

/// Issues per page when the configuration names none.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Minutes re-read before the last change seen, when the configuration names none.
pub const DEFAULT_OVERLAP_MINUTES: u32 = 5;
/// The gateway Atlassian's OAuth 2.0 (3LO) tokens are valid for: such a connection's base URL
/// is `{OAUTH_GATEWAY}/{cloud id}`.
pub const OAUTH_GATEWAY: &str = "https://api.atlassian.com/ex/jira";

/// Which JIRA the connection talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Deployment {
    /// Jira Cloud: REST API v3, ADF text, accounts by `accountId`.
    Cloud,
    /// Jira Data Center (or Server): REST API v2, wiki-markup text, users by key and name.
    DataCenter,
}

/// The connection's configuration, with the connection's base URL once [`Config::connected`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Cloud or Data Center.
    pub deployment: Deployment,
    /// OAuth 2.0 (3LO) connections only, whose base URL is Atlassian's gateway: the site,
    /// e.g. `https://acme.atlassian.net`, which links to issues point into.
    #[serde(default)]
    pub site_url: Option<String>,
    /// Project keys to sync (all visible projects when empty).
    #[serde(default)]
    pub projects: Vec<String>,
    /// More JQL, ANDed with the project filter (no `ORDER BY`: the connector orders).
    #[serde(default)]
    pub jql: Option<String>,
    /// Issues, users or projects per page.
    #[serde(default)]
    pub page_size: Option<u32>,
    /// Minutes before the last change seen that an incremental sync reads again, for changes
    /// JIRA's search index shows late.
    #[serde(default)]
    pub overlap_minutes: Option<u32>,
    /// Custom fields (`customfield_10010`, …) to keep in work items' attributes.
    #[serde(default)]
    pub custom_fields: Vec<String>,
    /// Data Center: the custom field holding an issue's epic (e.g. `customfield_10008`).
    #[serde(default)]
    pub epic_link_field: Option<String>,
    /// The connection's base URL without a trailing slash: the site
    /// (`https://acme.atlassian.net`, `https://jira.acme.internal/jira`) or, for OAuth 2.0
    /// (3LO), Atlassian's gateway with the site's cloud id. Not configuration: the host gives
    /// it ([`Config::connected`]).
    #[serde(skip)]
    base_url: String,
}

impl Config {
    /// This configuration on the connection the call is for: with the connection's base URL
    /// from the host, and checked ([`Config::validate`]).
    pub fn connected(&self) -> Result<Config, Error> {
        let base_url = agentic_sdk::base_url().ok_or_else(|| {
            Error::Config(
                "this call has no connection, so no JIRA to call (create a connection with the \
                 site as its base URL)"
                    .into(),
            )
        })?;
        self.on(&base_url)
    }

    /// This configuration with `base_url` as the connection's base URL, checked.
    pub fn on(&self, base_url: &str) -> Result<Config, Error> {
        let mut config = self.clone();
        config.base_url = base_url.trim().trim_end_matches('/').to_owned();
        config.validate()?;
        Ok(config)
    }

    /// Checks what the schema cannot: the base URL's shape (a site, or the OAuth gateway with a
    /// cloud id on Cloud, then with `site_url`), and [`Config::validate_settings`].
    pub fn validate(&self) -> Result<(), Error> {
        self.validate_site()?;
        self.validate_settings()
    }

    fn validate_site(&self) -> Result<(), Error> {
        let base = &self.base_url;
        site_shape(base).map_err(|why| {
            Error::Config(format!(
                "the connection's base URL {base:?} {why}: use the site, like \
                 https://acme.atlassian.net or https://jira.acme.internal/jira"
            ))
        })?;
        match self.cloud_id() {
            Some(id) => {
                if self.deployment != Deployment::Cloud {
                    return Err(Error::Config(
                        "deployment: only Jira Cloud is reached through Atlassian's gateway; \
                         use cloud, or the Data Center server as the base URL"
                            .into(),
                    ));
                }
                if !is_cloud_id(id) {
                    return Err(Error::Config(format!(
                        "the connection's base URL {base:?}: {OAUTH_GATEWAY}/ must be followed \
                         by the site's cloud id (a UUID from \
                         https://api.atlassian.com/oauth/token/accessible-resources)"
                    )));
                }
                let Some(site) = &self.site_url else {
                    return Err(Error::Config(
                        "site_url: required when the connection's base URL is Atlassian's \
                         OAuth gateway: the site (https://acme.atlassian.net), for links to \
                         issues"
                            .into(),
                    ));
                };
                site_shape(site.trim()).map_err(|why| {
                    Error::Config(format!(
                        "site_url: {site:?} {why}: use the site, like https://acme.atlassian.net"
                    ))
                })?;
            }
            None if self.site_url.is_some() => {
                return Err(Error::Config(
                    "site_url: only for OAuth 2.0 connections through Atlassian's gateway; \
                     otherwise links point into the connection's base URL"
                        .into(),
                ))
            }
            None => {}
        }
        Ok(())
    }

    /// Checks the settings that do not depend on the connection: project keys, JQL without
    /// ordering, field ids.
    pub fn validate_settings(&self) -> Result<(), Error> {
        if let Some(key) = self.projects.iter().find(|k| !is_project_key(k)) {
            return Err(Error::Config(format!(
                "projects: {key:?} is not a project key (capital letters, digits, _)"
            )));
        }
        if let Some(jql) = &self.jql {
            if jql.to_ascii_lowercase().contains("order by") {
                return Err(Error::Config(
                    "jql: leave out ORDER BY; the connector orders by update time".into(),
                ));
            }
        }
        let fields = self.custom_fields.iter().chain(&self.epic_link_field);
        if let Some(field) = fields.into_iter().find(|f| !is_custom_field(f)) {
            return Err(Error::Config(format!(
                "custom_fields: {field:?} is not a custom field id like customfield_10010"
            )));
        }
        Ok(())
    }

    /// The cloud id, when the base URL is Atlassian's OAuth gateway (`{OAUTH_GATEWAY}/{id}`).
    pub fn cloud_id(&self) -> Option<&str> {
        let rest = self.base_url.strip_prefix(OAUTH_GATEWAY)?;
        Some(rest.strip_prefix('/').unwrap_or(rest))
    }

    /// The REST API's root: the connection's base URL (the site, or the gateway for the cloud
    /// id).
    pub fn api_root(&self) -> String {
        self.base_url.clone()
    }

    /// `{api_root}/rest/api/{3 or 2}/{path}`.
    pub fn api(&self, path: &str) -> String {
        let version = match self.deployment {
            Deployment::Cloud => 3,
            Deployment::DataCenter => 2,
        };
        format!("{}/rest/api/{version}/{path}", self.api_root())
    }

    /// The site URL without a trailing slash: `site_url` behind the OAuth gateway, else the
    /// connection's base URL.
    pub fn site(&self) -> String {
        match &self.site_url {
            Some(site) if self.cloud_id().is_some() => site.trim().trim_end_matches('/').to_owned(),
            _ => self.base_url.clone(),
        }
    }

    /// The page of an issue in JIRA.
    pub fn browse_url(&self, key: &str) -> String {
        format!("{}/browse/{key}", self.site())
    }

    /// Items per page, 1 to 100.
    pub fn page_size(&self) -> u32 {
        self.page_size.unwrap_or(DEFAULT_PAGE_SIZE).clamp(1, 100)
    }

    /// The overlap window in milliseconds.
    pub fn overlap_ms(&self) -> i64 {
        i64::from(
            self.overlap_minutes
                .unwrap_or(DEFAULT_OVERLAP_MINUTES)
                .min(24 * 60),
        ) * 60_000
    }

    /// Whether this is Jira Cloud.
    pub fn is_cloud(&self) -> bool {
        self.deployment == Deployment::Cloud
    }

    /// The scope of every search: the project filter and the configured JQL, ANDed (`None`
    /// when neither is set).
    pub fn scope(&self) -> Option<String> {
        let mut clauses = Vec::new();
        if !self.projects.is_empty() {
            let keys: Vec<String> = self.projects.iter().map(|k| jql_string(k)).collect();
            clauses.push(format!("project in ({})", keys.join(", ")));
        }
        if let Some(jql) = self.jql.as_deref().map(str::trim).filter(|j| !j.is_empty()) {
            clauses.push(format!("({jql})"));
        }
        (!clauses.is_empty()).then(|| clauses.join(" AND "))
    }
}

/// Why `url` is not a site URL (`http(s)://host[/path]`, no query or fragment), if it is not.
fn site_shape(url: &str) -> Result<(), &'static str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or("must start with https:// or http://")?;
    if rest.is_empty() || rest.starts_with('/') || url.contains(['?', '#', ' ']) {
        return Err("is not a site URL");
    }
    Ok(())
}

fn is_cloud_id(id: &str) -> bool {
    id.len() == 36
        && id.chars().enumerate().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// A JQL string literal.
pub fn jql_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

fn is_project_key(key: &str) -> bool {
    key.len() <= 255
        && key.starts_with(|c: char| c.is_ascii_uppercase())
        && key
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

fn is_custom_field(field: &str) -> bool {
    field
        .strip_prefix("customfield_")
        .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: serde_json::Value, base_url: &str) -> Result<Config, Error> {
        serde_json::from_value::<Config>(json)
            .expect("parses")
            .on(base_url)
    }

    const CLOUD_ID: &str = "11223344-a1b2-3b33-c444-def123456789";

    #[test]
    fn cloud_data_center_and_oauth_roots() {
        let cloud = config(
            serde_json::json!({"deployment": "cloud"}),
            "https://acme.atlassian.net/",
        )
        .expect("valid");
        assert_eq!(
            cloud.api("search/jql"),
            "https://acme.atlassian.net/rest/api/3/search/jql"
        );
        assert_eq!(
            cloud.browse_url("ED-1"),
            "https://acme.atlassian.net/browse/ED-1"
        );
        let oauth = config(
            serde_json::json!({"deployment": "cloud", "site_url": "https://acme.atlassian.net"}),
            &format!("{OAUTH_GATEWAY}/{CLOUD_ID}"),
        )
        .expect("valid");
        assert_eq!(oauth.cloud_id(), Some(CLOUD_ID));
        assert_eq!(
            oauth.api("myself"),
            format!("https://api.atlassian.com/ex/jira/{CLOUD_ID}/rest/api/3/myself")
        );
        assert_eq!(
            oauth.browse_url("ED-1"),
            "https://acme.atlassian.net/browse/ED-1"
        );
        let dc = config(
            serde_json::json!({"deployment": "data-center"}),
            "https://jira.acme.internal/jira",
        )
        .expect("valid");
        assert_eq!(
            dc.api("search"),
            "https://jira.acme.internal/jira/rest/api/2/search"
        );
        assert_eq!(dc.cloud_id(), None);
        assert_eq!((dc.page_size(), dc.overlap_ms()), (50, 300_000));
    }

    #[test]
    fn what_the_schema_cannot_check_is_refused_with_the_field_named() {
        let gateway = format!("{OAUTH_GATEWAY}/{CLOUD_ID}");
        for (json, base, said) in [
            (
                serde_json::json!({"deployment": "cloud"}),
                "ftp://x",
                "the connection's base URL",
            ),
            (
                serde_json::json!({"deployment": "cloud"}),
                "https://",
                "the connection's base URL",
            ),
            (
                serde_json::json!({"deployment": "data-center", "site_url": "https://j"}),
                gateway.as_str(),
                "deployment",
            ),
            (
                serde_json::json!({"deployment": "cloud", "site_url": "https://j"}),
                "https://api.atlassian.com/ex/jira/acme",
                "the connection's base URL",
            ),
            (
                serde_json::json!({"deployment": "cloud"}),
                gateway.as_str(),
                "site_url",
            ),
            (
                serde_json::json!({"deployment": "cloud", "site_url": "acme.atlassian.net"}),
                gateway.as_str(),
                "site_url",
            ),
            (
                serde_json::json!({"deployment": "cloud", "site_url": "https://j"}),
                "https://j",
                "site_url",
            ),
            (
                serde_json::json!({"deployment": "cloud", "projects": ["ok", "A"]}),
                "https://j",
                "projects",
            ),
            (
                serde_json::json!({"deployment": "cloud", "jql": "a = b order by c"}),
                "https://j",
                "jql",
            ),
            (
                serde_json::json!({"deployment": "cloud", "custom_fields": ["summary"]}),
                "https://j",
                "custom_fields",
            ),
        ] {
            match config(json.clone(), base) {
                Err(Error::Config(m)) => assert!(m.starts_with(said), "{json} on {base}: {m}"),
                other => panic!("{json} on {base}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_scope_quotes_keys_and_brackets_the_jql() {
        let c = config(
            serde_json::json!({
            "deployment": "cloud",
            "projects": ["ED", "PR"], "jql": "labels = x OR labels = y"}),
            "https://j",
        )
        .expect("valid");
        assert_eq!(
            c.scope().as_deref(),
            Some("project in (\"ED\", \"PR\") AND (labels = x OR labels = y)")
        );
        assert_eq!(jql_string("a\"b\\"), "\"a\\\"b\\\\\"");
    }
}
