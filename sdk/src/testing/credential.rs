//! The host's credential injection, played natively.
//!
//! In the component a connector never sees its connection's secret: the SDK drops any
//! `Authorization`, `Cookie` or `Proxy-*` header the connector sets, and the host adds the
//! connection's credential to each request on the way out, asks for an uncompressed answer
//! (`Accept-Encoding: identity`) and replaces the secret with `[REDACTED]` wherever the service
//! echoes it back. A [`Credential`] given to [`super::Harness::with_credential`] (or
//! [`super::Acceptance::credential`]) makes the native transport do the same, so a fake service
//! can assert the header it gets exactly as the real service would get it from the host.
//!
//! What the native play leaves out: the host also redacts encoded forms of a secret (Base64,
//! percent- and JSON-escaped), renews session kinds (OAuth 2.0, form login) after a `401` and
//! sends only to the connection's allowed hosts. Tests of those belong to the host's stories.

use base64::Engine as _;

/// What the native transport puts on each request, as the host would for a connection with this
/// credential kind. Never printed: its `Debug` shows the kind only.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// `bearer`: `Authorization: Bearer <token>`.
    Bearer(String),
    /// `basic`: `Authorization: Basic base64(username:password)`.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
    /// `api-token`: e-mail and token as HTTP Basic (JIRA Cloud).
    ApiToken {
        /// Account e-mail.
        email: String,
        /// The API token.
        token: String,
    },
    /// What a session kind adds once the host holds the session: `Authorization: Bearer
    /// <access token>` for the OAuth 2.0 kinds and `google-service-account`, a `Cookie` for
    /// `form-login`.
    Headers(Vec<(String, String)>),
}

impl Credential {
    /// The headers the host adds to each request.
    pub fn headers(&self) -> Vec<(String, String)> {
        let basic = |user: &str, password: &str| {
            let pair =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            vec![("Authorization".to_owned(), format!("Basic {pair}"))]
        };
        match self {
            Credential::Bearer(token) => {
                vec![("Authorization".to_owned(), format!("Bearer {token}"))]
            }
            Credential::Basic { username, password } => basic(username, password),
            Credential::ApiToken { email, token } => basic(email, token),
            Credential::Headers(headers) => headers.clone(),
        }
    }

    /// The kind's name, as in the connection's `credential.kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Credential::Bearer(_) => "bearer",
            Credential::Basic { .. } => "basic",
            Credential::ApiToken { .. } => "api-token",
            Credential::Headers(_) => "session",
        }
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credential({}, <redacted>)", self.kind())
    }
}

/// What the host replaces a secret with in what the connector reads back.
pub const REDACTED: &str = "[REDACTED]";

/// The secrets of `headers` as the host looks for them in answers: each whole value, the part
/// after the scheme (`Bearer <token>`), for `Basic` the decoded pair and the password alone, and
/// each cookie's value. Shorter than 4 bytes: not looked for (the host's rule too).
pub(crate) fn secrets(headers: &[(String, String)]) -> Vec<String> {
    let mut found = Vec::new();
    for (name, value) in headers {
        found.push(value.clone());
        if name.eq_ignore_ascii_case("authorization") {
            if let Some((scheme, rest)) = value.split_once(' ') {
                found.push(rest.to_owned());
                if scheme.eq_ignore_ascii_case("basic") {
                    let decoded = base64::engine::general_purpose::STANDARD
                        .decode(rest.trim())
                        .ok()
                        .and_then(|bytes| String::from_utf8(bytes).ok());
                    if let Some(pair) = decoded {
                        if let Some((_, password)) = pair.split_once(':') {
                            found.push(password.to_owned());
                        }
                        found.push(pair);
                    }
                }
            }
        } else if name.eq_ignore_ascii_case("cookie") {
            found.extend(
                value
                    .split(';')
                    .filter_map(|c| c.split_once('='))
                    .map(|(_, v)| v.trim().to_owned()),
            );
        }
    }
    found.retain(|s| s.len() >= 4);
    // Longest first, so a pair is replaced whole before the password inside it.
    found.sort_by_key(|s| std::cmp::Reverse(s.len()));
    found.dedup();
    found
}

/// `bytes` with every occurrence of each secret replaced by [`REDACTED`].
pub(crate) fn redact(bytes: &[u8], secrets: &[String]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for secret in secrets {
        out = replace(&out, secret.as_bytes(), REDACTED.as_bytes());
    }
    out
}

fn replace(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return haystack.to_vec();
    }
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_make_the_hosts_headers() {
        assert_eq!(
            Credential::Bearer("tok-1".into()).headers(),
            vec![("Authorization".to_owned(), "Bearer tok-1".to_owned())]
        );
        // RFC 7617's example pair.
        let basic = Credential::Basic {
            username: "Aladdin".into(),
            password: "open sesame".into(),
        };
        assert_eq!(basic.headers()[0].1, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        let token = Credential::ApiToken {
            email: "Aladdin".into(),
            token: "open sesame".into(),
        };
        assert_eq!(token.headers(), basic.headers());
        assert_eq!(format!("{basic:?}"), "Credential(basic, <redacted>)");
    }

    #[test]
    fn echoed_secrets_are_redacted_in_each_form() {
        let headers = Credential::Basic {
            username: "Aladdin".into(),
            password: "open sesame".into(),
        }
        .headers();
        let found = secrets(&headers);
        let echo =
            b"auth=Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ== pair=Aladdin:open sesame pw=open sesame";
        assert_eq!(
            String::from_utf8(redact(echo, &found)).expect("utf-8"),
            "auth=[REDACTED] pair=[REDACTED] pw=[REDACTED]"
        );
        let cookie = vec![(
            "Cookie".to_owned(),
            "JSESSIONID=abc123xyz; lang=en".to_owned(),
        )];
        assert!(secrets(&cookie).contains(&"abc123xyz".to_owned()));
        assert!(
            !secrets(&cookie).contains(&"en".to_owned()),
            "too short to look for"
        );
    }
}
