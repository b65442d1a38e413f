//! What a connection's plugin may request: [`EgressPolicy`] (declared hosts, the base URL,
//! paths) and the method allow list; the addresses a request may reach are judged in
//! [`super::addresses`].

use std::net::IpAddr;
use std::sync::Arc;

use super::addresses::ip_refusal;
use super::CredentialProvider;

/// What one call may reach: the plugin's declared hosts under the connection's base URL or one
/// of its named service origins (manifest `[origins]`, possibly overridden by the connection),
/// whether private addresses are allowed, and the credential to inject (on every request let
/// through, whichever of those it is under). An installed agent package has
/// no connection: its policy ([`EgressPolicy::hosts`]) is its declared hosts alone, on any
/// http(s) origin and path of those hosts, never with a credential.
#[derive(Debug, Clone)]
pub struct EgressPolicy {
    allowed_hosts: Vec<String>,
    /// `None`: no base URL, only the declared hosts ([`EgressPolicy::hosts`]).
    base: Option<url::Url>,
    /// The connection's effective service origins, by the manifest's names (`host.service-url`).
    origins: Vec<(String, url::Url)>,
    pub(super) allow_private: bool,
    pub(super) credential: Option<Arc<dyn CredentialProvider>>,
    /// The call's responses are redacted of the credential's secrets with one redactor, built
    /// once (shared by the policy's clones).
    pub(super) redactors: Arc<super::redact::RedactorCache>,
}

/// A policy that cannot be built.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(String);

impl EgressPolicy {
    /// A policy for a connection whose service lives at `base_url` (e.g.
    /// `https://acme.atlassian.net/`), for a plugin that declared `allowed_hosts`
    /// (`api.example.com`, `*.atlassian.net`, or `*` for any host).
    pub fn new(allowed_hosts: &[String], base_url: &str) -> Result<Self, PolicyError> {
        let base = service_url(allowed_hosts, "base URL", base_url)?;
        Ok(Self {
            allowed_hosts: allowed_hosts.to_vec(),
            base: Some(base),
            origins: Vec::new(),
            allow_private: false,
            credential: None,
            redactors: super::redact::RedactorCache::shared(),
        })
    }

    /// Adds the connection's service origin `name` at `url` (e.g. `sheets`,
    /// `https://sheets.googleapis.com/`): requests under it are let through as under the base
    /// URL, with the credential. Checked like the base URL.
    pub fn origin(mut self, name: &str, url: &str) -> Result<Self, PolicyError> {
        let what = format!("origin {name}");
        let url = service_url(&self.allowed_hosts, &what, url).map_err(|PolicyError(m)| {
            PolicyError(match m.starts_with(&what) {
                true => m,
                false => format!("{what}: {m}"),
            })
        })?;
        self.origins.retain(|(n, _)| n != name);
        self.origins.push((name.to_owned(), url));
        Ok(self)
    }

    /// The URL of the service origin named `name`, as parsed: what `host.service-url` gives
    /// the connector (`None` for a name the plugin did not declare).
    pub fn service_url(&self, name: &str) -> Option<&url::Url> {
        self.origins.iter().find(|(n, _)| n == name).map(|(_, u)| u)
    }

    /// A policy without a base URL: http(s) requests to the hosts `allowed_hosts` matches, on
    /// any port and path (an installed agent package's declared hosts; it has no connection).
    /// The address rules apply as to every policy; no credential is ever added.
    pub fn hosts(allowed_hosts: &[String]) -> Self {
        Self {
            allowed_hosts: allowed_hosts.to_vec(),
            base: None,
            origins: Vec::new(),
            allow_private: false,
            credential: None,
            redactors: super::redact::RedactorCache::shared(),
        }
    }

    /// The connection's base URL, as parsed: what `host.base-url` gives the connector (`None`
    /// for a policy of hosts alone).
    pub fn base_url(&self) -> Option<&url::Url> {
        self.base.as_ref()
    }

    /// Allows private and loopback addresses (on-premises servers, local fakes in tests).
    pub fn allow_private(mut self, allow: bool) -> Self {
        self.allow_private = allow;
        self
    }

    /// Adds the connection's credential to every request.
    pub fn credential(mut self, provider: Arc<dyn CredentialProvider>) -> Self {
        self.credential = Some(provider);
        self
    }

    /// Why `uri` may not be requested, if it may not. Web-automation tasks judge their
    /// requests by the same rules, with the request's own origin as the base.
    pub(crate) fn refusal(&self, uri: &http::Uri) -> Option<String> {
        let scheme = uri.scheme_str().unwrap_or_default();
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            // The client would turn user:password@ into an Authorization header of the guest's.
            return Some("credentials in the URL are not allowed".into());
        }
        let Some(host) = uri.host() else {
            return Some("request has no host".into());
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if !self.allowed_hosts.iter().any(|p| host_matches(p, host)) {
            return Some(format!("host {host} is not declared by the plugin"));
        }
        let path = uri.path();
        match &self.base {
            Some(base) => {
                let under_base = outside(base, ("base URL", "base"), scheme, host, uri);
                if let Some(why) = under_base {
                    // Under one of the connection's service origins is as good.
                    let origins = || self.origins.iter();
                    let under_origin = origins().any(|(_, url)| {
                        outside(url, ("origin", "origin"), scheme, host, uri).is_none()
                    });
                    if !under_origin {
                        if self.origins.is_empty() {
                            return Some(why);
                        }
                        let names: Vec<String> = origins()
                            .map(|(name, url)| format!("{name} {url}"))
                            .collect();
                        return Some(format!(
                            "{why}, and outside its service origins ({})",
                            names.join(", ")
                        ));
                    }
                }
            }
            None => {
                if !matches!(scheme, "http" | "https") {
                    return Some(format!("scheme {scheme} is not http or https"));
                }
                if let Some(why) = path_refusal(path) {
                    return Some(why.into());
                }
            }
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            if let Some(why) = ip_refusal(ip, self.allow_private) {
                return Some(format!("address {ip} is {why}"));
            }
        }
        None
    }
}

/// Checks a base URL or origin `url` of a connection: http(s), a host, no credentials, and a
/// host the plugin declared.
fn service_url(allowed_hosts: &[String], what: &str, url: &str) -> Result<url::Url, PolicyError> {
    let parsed = url::Url::parse(url).map_err(|e| PolicyError(format!("{what} {url:?}: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(PolicyError(format!("{what} must be http or https")));
    }
    let Some(host) = parsed.host_str() else {
        return Err(PolicyError(format!("{what} has no host")));
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(PolicyError(format!(
            "{what} may not carry credentials; store them as the connection's credential"
        )));
    }
    if !allowed_hosts.iter().any(|p| host_matches(p, host)) {
        return Err(PolicyError(format!(
            "host {host} is not among the plugin's allowed hosts ({})",
            allowed_hosts.join(", ")
        )));
    }
    Ok(parsed)
}

/// Why `uri` is not under `url` (the connection's base URL or an origin, named by `what` and,
/// for its path, `path_of`): another scheme, host or port, a path outside its path, or a path
/// the rules refuse anywhere.
fn outside(
    url: &url::Url,
    (what, path_of): (&str, &str),
    scheme: &str,
    host: &str,
    uri: &http::Uri,
) -> Option<String> {
    let path = uri.path();
    let url_host = url.host_str().unwrap_or_default();
    let url_host = url_host.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port_u16().or(default_port(scheme));
    if scheme != url.scheme()
        || !host.eq_ignore_ascii_case(url_host)
        || port != url.port_or_known_default()
    {
        return Some(format!(
            "{scheme}://{host} is outside the connection's {what} {url}"
        ));
    }
    if let Some(why) = path_refusal(path) {
        return Some(why.into());
    }
    let prefix = url.path().trim_end_matches('/');
    if !(path == prefix || path.starts_with(&format!("{prefix}/"))) {
        return Some(format!(
            "path {path} is outside the {path_of} path {prefix}/"
        ));
    }
    None
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// `*` matches every host, `*.example.com` every subdomain of example.com, anything else itself
/// (case-insensitively).
pub fn host_matches(pattern: &str, host: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match pattern.strip_prefix("*.") {
        Some(domain) => {
            host.len() > domain.len() + 1
                && host[host.len() - domain.len()..].eq_ignore_ascii_case(domain)
                && host.as_bytes()[host.len() - domain.len() - 1] == b'.'
        }
        None => pattern.eq_ignore_ascii_case(host),
    }
}

/// How many layers of percent-encoding a path is unwrapped through before it is refused as
/// too deep to judge.
const MAX_DECODE_ROUNDS: usize = 4;

/// Why a request path may not be sent, if it may not: a `.` or `..` segment, plain or
/// percent-encoded, at any depth of encoding a server or proxy downstream might undo; or a dot,
/// slash or backslash encoded more than once (`%252e`, `%252f`, `%255c`), which no service needs
/// and which would climb out of the base path at the second decoding. A slash encoded once is
/// allowed: GitLab names projects `group%2Fproject`.
fn path_refusal(path: &str) -> Option<&'static str> {
    let mut current = std::borrow::Cow::Borrowed(path);
    for round in 0..=MAX_DECODE_ROUNDS {
        if has_dot_segment(&current) {
            return Some("path has dot segments");
        }
        if round > 0 && has_encoded_separator(&current) {
            return Some("path has a dot or slash percent-encoded more than once");
        }
        let decoded = percent_encoding::percent_decode_str(&current).decode_utf8_lossy();
        if decoded == current {
            return None;
        }
        current = std::borrow::Cow::Owned(decoded.into_owned());
    }
    Some("path is percent-encoded too many times over")
}

/// `%2e`, `%2f` or `%5c` in any case.
fn has_encoded_separator(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    ["%2e", "%2f", "%5c"].iter().any(|e| lower.contains(e))
}

/// `.` or `..` path segments, plain or percent-encoded once, which could climb out of the base
/// path. Encoded slashes count as separators here (a server may decode them).
fn has_dot_segment(path: &str) -> bool {
    let lower = path
        .to_ascii_lowercase()
        .replace("%2e", ".")
        .replace("%2f", "/")
        .replace("%5c", "/");
    lower
        .split(['/', '\\'])
        // `..;/` is `../` to Tomcat and Spring, which drop path parameters.
        .map(|segment| segment.split(';').next().unwrap_or_default())
        .any(|segment| segment == "." || segment == "..")
}

/// The methods a plugin may use, exactly as spelled here: HTTP methods are case-sensitive
/// (RFC 9110 §9.1), so `get` is not `GET`, and servers that upper-case what they receive would
/// turn `trace` into `TRACE`, which echoes the request with its injected credential.
pub const ALLOWED_METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// Why a plugin may not use `method`, if it may not.
pub fn method_refusal(method: &http::Method) -> Option<String> {
    if ALLOWED_METHODS.contains(&method.as_str()) {
        return None;
    }
    let shown: String = method.as_str().chars().take(32).collect();
    Some(format!(
        "method {shown:?} is not allowed (only {})",
        ALLOWED_METHODS.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_let_requests_through_beside_the_base_url_and_refusals_name_them() {
        let hosts = ["*.googleapis.com".to_owned()];
        let policy = EgressPolicy::new(&hosts, "https://www.googleapis.com/")
            .and_then(|p| p.origin("sheets", "https://sheets.googleapis.com/v4/"))
            .expect("policy");
        let why = |u: &str| policy.refusal(&u.parse().expect("uri"));
        assert_eq!(why("https://www.googleapis.com/drive/v3/files"), None);
        assert_eq!(why("https://sheets.googleapis.com/v4/spreadsheets/x"), None);
        assert_eq!(
            why("https://docs.googleapis.com/v1/documents/x").as_deref(),
            Some(
                "https://docs.googleapis.com is outside the connection's base URL \
                 https://www.googleapis.com/, and outside its service origins (sheets \
                 https://sheets.googleapis.com/v4/)"
            )
        );
        assert!(
            why("https://sheets.googleapis.com/v3/x").is_some(),
            "outside its path"
        );
        assert_eq!(
            policy.service_url("sheets").map(url::Url::as_str),
            Some("https://sheets.googleapis.com/v4/")
        );
        assert_eq!(policy.service_url("docs"), None);
        let e = EgressPolicy::new(&hosts, "https://www.googleapis.com/")
            .and_then(|p| p.origin("docs", "https://evil.example/"))
            .expect_err("undeclared host");
        assert!(
            e.to_string().starts_with("origin docs: host evil.example"),
            "{e}"
        );
    }

    #[test]
    fn host_patterns() {
        assert!(host_matches("*", "anything.example"));
        assert!(host_matches("*.atlassian.net", "acme.atlassian.net"));
        assert!(host_matches("*.atlassian.net", "ACME.Atlassian.NET"));
        assert!(!host_matches("*.atlassian.net", "atlassian.net"));
        assert!(!host_matches("*.atlassian.net", "evilatlassian.net"));
        assert!(!host_matches("*.atlassian.net", "atlassian.net.evil.com"));
        assert!(host_matches("api.github.com", "API.github.com"));
        assert!(!host_matches("api.github.com", "api.github.com.evil.com"));
    }

    #[test]
    fn a_policy_of_hosts_alone_allows_those_hosts_on_any_origin_and_nothing_else() {
        let policy = EgressPolicy::hosts(&["status.example.com".into(), "127.0.0.1".into()]);
        let ok = |uri: &str| policy.refusal(&uri.parse().expect("uri"));
        assert_eq!(ok("https://status.example.com/anything?x=1"), None);
        assert_eq!(ok("http://status.example.com:8080/health"), None);
        assert!(
            ok("https://other.example.com/").is_some(),
            "undeclared host"
        );
        assert!(ok("https://status.example.com/a/../b").is_some(), "dots");
        assert!(
            ok("http://127.0.0.1:9/x").is_some(),
            "loopback without allow_private"
        );
        let private = EgressPolicy::hosts(&["127.0.0.1".into()]).allow_private(true);
        assert_eq!(
            private.refusal(&"http://127.0.0.1:9/x".parse().expect("uri")),
            None
        );
        assert!(policy.base_url().is_none());
    }

    #[test]
    fn requests_stay_under_the_base_url() {
        let policy = EgressPolicy::new(&["*.example.com".into()], "https://acme.example.com/jira/")
            .expect("policy");
        let ok = |uri: &str| policy.refusal(&uri.parse().expect("uri"));
        assert_eq!(ok("https://acme.example.com/jira/rest/api/2/issue"), None);
        assert_eq!(ok("https://acme.example.com:443/jira"), None);
        assert!(ok("http://acme.example.com/jira/x").is_some(), "scheme");
        assert!(ok("https://acme.example.com:8443/jira/x").is_some(), "port");
        assert!(ok("https://other.example.com/jira/x").is_some(), "host");
        assert!(ok("https://acme.example.com/jira2/x").is_some(), "prefix");
        assert!(
            ok("https://acme.example.com/jira/../admin").is_some(),
            "dots"
        );
        assert!(
            ok("https://acme.example.com/jira/%2E%2E/admin").is_some(),
            "encoded dots"
        );
        assert!(
            ok("https://acme.example.com/jira/..%2fadmin").is_some(),
            "encoded slash"
        );
        assert!(
            ok("https://acme.example.com/jira/..;/admin").is_some(),
            "path parameter"
        );
        assert!(
            ok("https://acme.example.com/jira%2F..%2Fadmin").is_some(),
            "encoded slash before the base path"
        );
        assert_eq!(
            ok("https://acme.example.com/jira/api/v4/projects/group%2Fproject/issues"),
            None,
            "GitLab's encoded project paths"
        );
        assert!(
            ok("https://u:p@acme.example.com/jira/x").is_some(),
            "userinfo"
        );
        for double in [
            "https://acme.example.com/jira/%252e%252e/admin",
            "https://acme.example.com/jira/%252E%252E%252Fadmin",
            "https://acme.example.com/jira/..%252fadmin",
            "https://acme.example.com/jira/x%255c..%255cadmin",
            "https://acme.example.com/jira/%25252e%25252e/admin",
            "https://acme.example.com/jira/%2525252525252e/admin",
            "https://acme.example.com/jira/..%253b/admin",
        ] {
            assert!(
                ok(double).is_some(),
                "{double}: dots encoded more than once"
            );
        }
        assert_eq!(
            ok("https://acme.example.com/jira/search?q=%252e%252e"),
            None,
            "the query is not a path"
        );
        assert_eq!(
            ok("https://acme.example.com/jira/100%25/x"),
            None,
            "a literal %"
        );
        assert!(EgressPolicy::new(&["api.github.com".into()], "https://evil.com/").is_err());
        assert!(EgressPolicy::new(&["*".into()], "https://u:p@evil.com/").is_err());
        assert!(EgressPolicy::new(&["*".into()], "ftp://evil.com/").is_err());
    }

    #[test]
    fn methods_are_an_exact_allow_list() {
        for allowed in ALLOWED_METHODS {
            let method = http::Method::from_bytes(allowed.as_bytes()).expect("method");
            assert_eq!(method_refusal(&method), None, "{allowed}");
        }
        for refused in [
            "TRACE", "trace", "TRACK", "CONNECT", "get", "Post", "PROPFIND", "DEBUG",
        ] {
            let method = http::Method::from_bytes(refused.as_bytes()).expect("method");
            assert!(method_refusal(&method).is_some(), "{refused}");
        }
    }
}
