//! The connection's configuration (its JSON Schema is `[config_schema]` in `plugin.toml`), and
//! what follows from it: where the REST API lives, which API version, the JQL scope.

use agentic_sdk::Error;
use serde::Deserialize;

/// Issues per page when the configuration names none.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Minutes re-read before the last change seen, when the configuration names none.
pub const DEFAULT_OVERLAP_MINUTES: u32 = 5;
/// The gateway Atlassian's OAuth 2.0 (3LO) tokens are valid for.
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

/// The connection's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Cloud or Data Center.
    pub deployment: Deployment,
    /// The site, e.g. `https://acme.atlassian.net` or `https://jira.acme.internal/jira`: API calls
    /// go under it (unless `cloud_id` is set) and links to issues point into it.
    pub base_url: String,
    /// Jira Cloud with OAuth 2.0 (3LO): the site's cloud id; API calls then go to
    /// `https://api.atlassian.com/ex/jira/{cloud_id}`.
    #[serde(default)]
    pub cloud_id: Option<String>,
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
}

impl Config {
    /// Checks what the schema cannot: URL shape, cloud id on Cloud only, JQL without ordering,
    /// field ids.
    pub fn validate(&self) -> Result<(), Error> {
        let base = self.base_url.trim();
        let rest = base
            .strip_prefix("https://")
            .or_else(|| base.strip_prefix("http://"))
            .ok_or_else(|| Error::Config("base_url: must start with https:// or http://".into()))?;
        if rest.is_empty() || rest.starts_with('/') || base.contains(['?', '#', ' ']) {
            return Err(Error::Config(format!(
                "base_url: {base:?} is not a site URL like https://acme.atlassian.net"
            )));
        }
        if let Some(id) = &self.cloud_id {
            if self.deployment != Deployment::Cloud {
                return Err(Error::Config(
                    "cloud_id: only Jira Cloud has one; remove it for data-center".into(),
                ));
            }
            let uuid_like = id.len() == 36
                && id.chars().enumerate().all(|(i, c)| {
                    if [8, 13, 18, 23].contains(&i) {
                        c == '-'
                    } else {
                        c.is_ascii_hexdigit()
                    }
                });
            if !uuid_like {
                return Err(Error::Config(format!(
                    "cloud_id: {id:?} is not a cloud id (a UUID from \
                     https://api.atlassian.com/oauth/token/accessible-resources)"
                )));
            }
        }
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

    /// The REST API's root: the site, or Atlassian's OAuth gateway for the cloud id.
    pub fn api_root(&self) -> String {
        match &self.cloud_id {
            Some(id) if self.deployment == Deployment::Cloud => format!("{OAUTH_GATEWAY}/{id}"),
            _ => self.site(),
        }
    }

    /// `{api_root}/rest/api/{3 or 2}/{path}`.
    pub fn api(&self, path: &str) -> String {
        let version = match self.deployment {
            Deployment::Cloud => 3,
            Deployment::DataCenter => 2,
        };
        format!("{}/rest/api/{version}/{path}", self.api_root())
    }

    /// The site URL without a trailing slash.
    pub fn site(&self) -> String {
        self.base_url.trim().trim_end_matches('/').to_owned()
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

    fn config(json: serde_json::Value) -> Config {
        serde_json::from_value(json).expect("parses")
    }

    #[test]
    fn cloud_data_center_and_oauth_roots() {
        let cloud = config(
            serde_json::json!({"deployment": "cloud", "base_url": "https://acme.atlassian.net/"}),
        );
        assert_eq!(
            cloud.api("search/jql"),
            "https://acme.atlassian.net/rest/api/3/search/jql"
        );
        assert_eq!(
            cloud.browse_url("ED-1"),
            "https://acme.atlassian.net/browse/ED-1"
        );
        let oauth = config(serde_json::json!({
            "deployment": "cloud", "base_url": "https://acme.atlassian.net",
            "cloud_id": "11223344-a1b2-3b33-c444-def123456789"}));
        assert_eq!(oauth.validate(), Ok(()));
        assert_eq!(
            oauth.api("myself"),
            "https://api.atlassian.com/ex/jira/11223344-a1b2-3b33-c444-def123456789/rest/api/3/myself"
        );
        assert_eq!(
            oauth.browse_url("ED-1"),
            "https://acme.atlassian.net/browse/ED-1"
        );
        let dc = config(
            serde_json::json!({"deployment": "data-center", "base_url": "https://jira.acme.internal/jira"}),
        );
        assert_eq!(
            dc.api("search"),
            "https://jira.acme.internal/jira/rest/api/2/search"
        );
        assert_eq!((dc.page_size(), dc.overlap_ms()), (50, 300_000));
    }

    #[test]
    fn what_the_schema_cannot_check_is_refused_with_the_field_named() {
        for (json, field) in [
            (
                serde_json::json!({"deployment": "cloud", "base_url": "ftp://x"}),
                "base_url",
            ),
            (
                serde_json::json!({"deployment": "cloud", "base_url": "https://"}),
                "base_url",
            ),
            (
                serde_json::json!({"deployment": "data-center", "base_url": "https://j", "cloud_id": "11223344-a1b2-3b33-c444-def123456789"}),
                "cloud_id",
            ),
            (
                serde_json::json!({"deployment": "cloud", "base_url": "https://j", "cloud_id": "acme"}),
                "cloud_id",
            ),
            (
                serde_json::json!({"deployment": "cloud", "base_url": "https://j", "projects": ["ok", "A"]}),
                "projects",
            ),
            (
                serde_json::json!({"deployment": "cloud", "base_url": "https://j", "jql": "a = b order by c"}),
                "jql",
            ),
            (
                serde_json::json!({"deployment": "cloud", "base_url": "https://j", "custom_fields": ["summary"]}),
                "custom_fields",
            ),
        ] {
            match config(json.clone()).validate() {
                Err(Error::Config(m)) => assert!(m.starts_with(field), "{json}: {m}"),
                other => panic!("{json}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_scope_quotes_keys_and_brackets_the_jql() {
        let c = config(serde_json::json!({
            "deployment": "cloud", "base_url": "https://j",
            "projects": ["ED", "PR"], "jql": "labels = x OR labels = y"}));
        assert_eq!(
            c.scope().as_deref(),
            Some("project in (\"ED\", \"PR\") AND (labels = x OR labels = y)")
        );
        assert_eq!(jql_string("a\"b\\"), "\"a\\\"b\\\\\"");
    }
}
