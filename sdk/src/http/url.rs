//! Just enough URL handling for the client: splitting an absolute URL into what `wasi:http`
//! wants, and percent-encoding. A full URL parser (and its IDNA tables) would weigh more than the
//! rest of a connector.

use crate::error::Error;

/// An absolute URL split for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parts<'a> {
    /// `http` or `https`.
    pub scheme: &'a str,
    /// `host` or `host:port`.
    pub authority: &'a str,
    /// From the first `/` on, fragment removed; starts with `/` even when the URL has no path.
    pub path_and_query: String,
}

/// Splits an `http://` or `https://` URL. Anything else — including user info, which would
/// carry a credential the host is meant to add — is [`Error::Config`], as URLs usually come from
/// the connection's configuration.
pub(crate) fn split(url: &str) -> Result<Parts<'_>, Error> {
    let bad = |why: &str| Error::Config(format!("URL {url:?}: {why}"));
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("not an absolute http(s) URL"))?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(bad("only http and https are supported"));
    }
    let rest = rest.split('#').next().unwrap_or_default();
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path_and_query) = rest.split_at(end);
    if authority.is_empty() {
        return Err(bad("no host"));
    }
    if authority.contains('@') {
        return Err(bad(
            "user info in URLs is not allowed: the host adds the credential",
        ));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("contains spaces or control characters"));
    }
    let path_and_query = if path_and_query.starts_with('/') {
        path_and_query.to_owned()
    } else {
        format!("/{path_and_query}")
    };
    Ok(Parts {
        scheme,
        authority,
        path_and_query,
    })
}

/// Percent-encodes everything but the unreserved characters (`A-Z a-z 0-9 - . _ ~`), for a
/// path segment or a query value built from data (ids, cursors, JQL).
pub fn encode(component: &str) -> String {
    let mut out = String::with_capacity(component.len());
    for byte in component.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes and `+` (as a space), as query strings use them. Invalid escapes are
/// kept as they are. Used by the native fake server.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.extend(u8::try_from(hi * 16 + lo));
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The absolute URL a `Location` header points to from `base`: absolute, scheme-relative
/// (`//host/…`), absolute-path (`/…`) or relative to `base`'s directory.
pub(crate) fn resolve(base: &str, location: &str) -> Option<String> {
    let location = location.trim();
    if location.contains("://") {
        return Some(location.to_owned());
    }
    let parts = split(base).ok()?;
    if let Some(rest) = location.strip_prefix("//") {
        return Some(format!("{}://{rest}", parts.scheme));
    }
    let origin = format!("{}://{}", parts.scheme, parts.authority);
    if location.starts_with('/') {
        return Some(format!("{origin}{location}"));
    }
    let path = parts.path_and_query.split('?').next().unwrap_or("/");
    let directory = &path[..path.rfind('/').map_or(0, |i| i + 1)];
    Some(format!("{origin}{directory}{location}"))
}

/// Whether two URLs have the same scheme, host and port.
pub(crate) fn same_origin(a: &str, b: &str) -> bool {
    match (split(a), split(b)) {
        (Ok(a), Ok(b)) => {
            a.scheme.eq_ignore_ascii_case(b.scheme) && a.authority.eq_ignore_ascii_case(b.authority)
        }
        _ => false,
    }
}

/// `url` with `name=value` appended to its query (before any fragment).
pub(crate) fn with_query(url: &str, name: &str, value: &str) -> String {
    let (base, fragment) = match url.split_once('#') {
        Some((base, fragment)) => (base, Some(fragment)),
        None => (url, None),
    };
    let separator = if !base.contains('?') {
        "?"
    } else if base.ends_with('?') || base.ends_with('&') {
        ""
    } else {
        "&"
    };
    let mut out = format!("{base}{separator}{}={}", encode(name), encode(value));
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_scheme_authority_and_path() {
        let p = split("https://api.example.com:8443/v1/items?after=3#top").expect("valid");
        assert_eq!(
            p,
            Parts {
                scheme: "https",
                authority: "api.example.com:8443",
                path_and_query: "/v1/items?after=3".into()
            }
        );
        assert_eq!(split("http://h").expect("valid").path_and_query, "/");
        assert_eq!(
            split("http://h?x=1").expect("valid").path_and_query,
            "/?x=1"
        );
    }

    #[test]
    fn unusable_urls_are_config_errors() {
        for bad in [
            "ftp://h/",
            "h/path",
            "http:///x",
            "https://user:pw@h/",
            "http://h/a b",
        ] {
            assert!(matches!(split(bad), Err(Error::Config(_))), "{bad}");
        }
    }

    #[test]
    fn encoding_round_trips_through_decoding() {
        let raw = "a b/c?d=é&100%";
        let encoded = encode(raw);
        assert_eq!(encoded, "a%20b%2Fc%3Fd%3D%C3%A9%26100%25");
        assert_eq!(decode(&encoded), raw);
        assert_eq!(decode("x+y%2"), "x y%2");
    }

    #[test]
    fn locations_resolve_against_the_request_url() {
        let base = "https://h:8443/api/v1/items?page=2";
        assert_eq!(
            resolve(base, "/login").as_deref(),
            Some("https://h:8443/login")
        );
        assert_eq!(
            resolve(base, "other?x=1").as_deref(),
            Some("https://h:8443/api/v1/other?x=1")
        );
        assert_eq!(resolve(base, "//cdn/x").as_deref(), Some("https://cdn/x"));
        assert_eq!(resolve(base, "http://e/x").as_deref(), Some("http://e/x"));
        assert!(same_origin(base, "HTTPS://H:8443/x"));
        assert!(!same_origin(base, "https://h/x"));
        assert!(!same_origin(base, "http://h:8443/x"));
    }

    #[test]
    fn query_parameters_are_appended_before_the_fragment() {
        assert_eq!(with_query("http://h/p", "a", "1"), "http://h/p?a=1");
        assert_eq!(with_query("http://h/p?a=1", "b", ""), "http://h/p?a=1&b=");
        assert_eq!(with_query("http://h/p?#f", "a", "1"), "http://h/p?a=1#f");
    }
}
