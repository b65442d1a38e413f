//! A connection's service origins (contract 0.3.0): the URLs, besides its base URL, that its
//! plugin's manifest declares by name (`[origins]`, e.g. Google's `sheets`), which a connection
//! may override (a proxy, a fake in tests). Requests under them carry the connection's
//! credential, so an override is held to the rules of the base URL: an http(s) URL on a host
//! the plugin declares, never link-local or a metadata service, https when a credential goes
//! there unless private networks are allowed, a private or loopback address only on a
//! connection an Administrator allowed them, set by an Administrator; and moving one needs the
//! credential again, as moving the base URL does.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult};
use super::extract::Checks;
use crate::auth::Principal;
use crate::plugins::egress::{base_url_refusal, ip_refusal};
use crate::plugins::package::Manifest;
use crate::plugins::EgressPolicy;
use crate::rbac::Role;
use crate::store::connections::Connection;

/// Most overrides one request may name (a manifest declares at most 16 origins).
const MAX_OVERRIDES: usize = 16;

/// One service origin of a connection, as the REST API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub(super) struct OriginView {
    /// The URL requests go to: the connection's override, else the manifest's.
    url: String,
    /// Whether `url` is the connection's override.
    overridden: bool,
}

/// The origins of `c` by name: each the manifest declares, at its effective URL; without the
/// manifest (the plugin was uninstalled), the overrides alone.
pub(super) fn view(manifest: Option<&Manifest>, c: &Connection) -> BTreeMap<String, OriginView> {
    let Some(manifest) = manifest else {
        return c
            .origins
            .iter()
            .map(|(name, url)| {
                let view = OriginView {
                    url: url.clone(),
                    overridden: true,
                };
                (name.clone(), view)
            })
            .collect();
    };
    crate::sync::effective_origins(manifest, c)
        .map(|(name, url)| {
            let view = OriginView {
                url: url.to_owned(),
                overridden: c.origins.contains_key(name),
            };
            (name.to_owned(), view)
        })
        .collect()
}

/// The overrides after a change: `changes` sets a name's URL, or removes its override (`None`).
pub(super) fn merged(
    current: &BTreeMap<String, String>,
    changes: &BTreeMap<String, Option<String>>,
) -> BTreeMap<String, String> {
    let mut out = current.clone();
    for (name, url) in changes {
        match url {
            Some(url) => out.insert(name.clone(), url.clone()),
            None => out.remove(name),
        };
    }
    out
}

/// Bounds of the overrides a request names, before anything else is looked at.
pub(super) fn shape(overrides: &BTreeMap<String, Option<String>>, c: &mut Checks) {
    if overrides.len() > MAX_OVERRIDES {
        c.push("origins", format!("at most {MAX_OVERRIDES} origins"));
    }
    for (name, url) in overrides {
        c.line(&format!("origins.{name}"), name, 1, 64);
        if let Some(url) = url {
            c.line(&format!("origins.{name}"), url, 1, 2000);
        }
    }
}

/// What a connection's overrides are checked with.
pub(super) struct Rules<'a> {
    /// Who sets them.
    pub who: &'a Principal,
    /// The plugin's manifest.
    pub manifest: &'a Manifest,
    /// The connection's base URL (after the change).
    pub base_url: &'a str,
    /// Whether the connection allows private networks (after the change).
    pub allow_private: bool,
    /// Its credential kind (after the change).
    pub credential_kind: &'a str,
}

/// Checks `overrides` against `rules`: every name declared, every URL acceptable where the
/// connection's credential goes. Pointing an override (one that differs from `previous`) at a
/// private or loopback address is an Administrator's decision: anyone else gets 403; the rest
/// are field errors (422).
pub(super) fn admit(
    rules: &Rules<'_>,
    overrides: &BTreeMap<String, String>,
    previous: &BTreeMap<String, String>,
) -> ApiResult<()> {
    let manifest = rules.manifest;
    let mut c = Checks::default();
    for (name, url) in overrides {
        let field = format!("origins.{name}");
        if !manifest.origins.contains_key(name) {
            let declared: Vec<&str> = manifest.origins.keys().map(String::as_str).collect();
            let declared = match declared.is_empty() {
                true => "none".to_owned(),
                false => declared.join(", "),
            };
            c.push(
                &field,
                format!(
                    "plugin {} declares no origin {name} (it declares: {declared})",
                    manifest.id
                ),
            );
            continue;
        }
        let policy = EgressPolicy::new(&manifest.allowed_hosts, rules.base_url)
            .and_then(|p| p.origin(name, url));
        if let Err(e) = policy {
            c.push(&field, e.to_string());
            continue;
        }
        if let Some(why) = base_url_refusal(url) {
            c.push(&field, why);
            continue;
        }
        if let Some(address) = private_address(url) {
            let changed = previous.get(name) != Some(url);
            if changed && rules.who.user.role != Role::Administrator {
                return Err(ApiError::Forbidden(format!(
                    "only an Administrator may point a connection's origin at a private or \
                     loopback address ({name} at {address})"
                )));
            }
            if !rules.allow_private {
                c.push(
                    &field,
                    format!(
                        "{address} is a private or loopback address, and the connection does \
                         not allow private networks"
                    ),
                );
                continue;
            }
        }
        if rules.credential_kind != "anonymous"
            && !rules.allow_private
            && !url.starts_with("https://")
        {
            c.push(
                &field,
                "a connection with a credential must use https (credentials are never sent in \
                 clear text)",
            );
        }
    }
    c.finish().map_err(ApiError::Validation)
}

/// The host of `url` when it is a private or loopback address (an IP literal the egress rules
/// refuse without `allow_private_network`, or `localhost`).
fn private_address(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    match parsed.host()? {
        url::Host::Ipv4(v4) => ip_refusal(IpAddr::V4(v4), false).map(|_| v4.to_string()),
        url::Host::Ipv6(v6) => ip_refusal(IpAddr::V6(v6), false).map(|_| v6.to_string()),
        url::Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            (name == "localhost" || name.ends_with(".localhost")).then_some(name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_are_told_apart() {
        assert_eq!(
            private_address("http://127.0.0.1:8080/").as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(
            private_address("http://10.1.2.3/").as_deref(),
            Some("10.1.2.3")
        );
        assert_eq!(
            private_address("http://LocalHost/x").as_deref(),
            Some("localhost")
        );
        assert_eq!(private_address("https://sheets.googleapis.com/"), None);
        assert_eq!(private_address("https://8.8.8.8/"), None);
    }

    #[test]
    fn changes_set_and_remove_overrides() {
        let current = BTreeMap::from([("docs".to_owned(), "https://a/".to_owned())]);
        let changes = BTreeMap::from([
            ("docs".to_owned(), None),
            ("sheets".to_owned(), Some("https://b/".to_owned())),
        ]);
        let after = merged(&current, &changes);
        assert_eq!(
            after,
            BTreeMap::from([("sheets".to_owned(), "https://b/".to_owned())])
        );
    }
}
