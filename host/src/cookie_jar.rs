//! The cookie jar of one client session: a web-task run's requests, a form login's session.
//!
//! The RFC 6265 rules (a cookie goes back only to the host or domain that set it, under its
//! `Path`, over HTTPS when `Secure`, until `Expires`/`Max-Age`) are `cookie_store`'s; what is
//! ours is the bound: a site sets at most [`MAX_COOKIES`] cookies of at most
//! [`MAX_COOKIE_BYTES`] each, so a hostile site cannot grow a run's memory or a stored session.
//! There is no public-suffix list: every jar belongs to requests that egress rules already keep
//! to declared hosts, so a `Domain` attribute cannot carry a cookie anywhere new.

use cookie_store::CookieStore;

/// Cookies kept per jar; past it new names are ignored (values of kept ones still change).
pub const MAX_COOKIES: usize = 50;
/// The longest `Set-Cookie` value kept.
pub const MAX_COOKIE_BYTES: usize = 4096;

/// A bounded cookie jar.
#[derive(Debug, Default)]
pub struct Jar {
    store: CookieStore,
}

impl Jar {
    /// An empty jar.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps the cookies of every `Set-Cookie` in `headers` of a response from `url`; returns
    /// how many were kept or removed. Malformed ones, ones for a domain `url` is not in, and
    /// those past the bounds are ignored.
    pub fn store_response(&mut self, url: &url::Url, headers: &http::HeaderMap) -> usize {
        let mut changed = 0;
        for value in headers.get_all(http::header::SET_COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            if text.len() > MAX_COOKIE_BYTES {
                continue;
            }
            let Ok(cookie) = cookie_store::RawCookie::parse(text.to_owned()) else {
                continue;
            };
            let known = self.store.iter_any().any(|c| c.name() == cookie.name());
            if !known && self.store.iter_any().count() >= MAX_COOKIES {
                continue;
            }
            if self.store.insert_raw(&cookie, url).is_ok() {
                changed += 1;
            }
        }
        changed
    }

    /// The `Cookie` header value for a request to `url`, if any cookie applies.
    pub fn header_for(&self, url: &url::Url) -> Option<String> {
        let pairs: Vec<String> = self
            .store
            .get_request_values(url)
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }

    /// Whether no cookie would be sent anywhere.
    pub fn is_empty(&self) -> bool {
        self.store.iter_unexpired().next().is_none()
    }

    /// The jar as JSON (session cookies included), to be kept encrypted in the vault.
    pub fn to_json(&self) -> Option<String> {
        let mut out = Vec::new();
        cookie_store::serde::json::save_incl_expired_and_nonpersistent(&self.store, &mut out)
            .ok()?;
        String::from_utf8(out).ok()
    }

    /// A jar from [`Jar::to_json`]; expired cookies are dropped. `None` for anything else.
    pub fn from_json(text: &str) -> Option<Self> {
        let store = cookie_store::serde::json::load(text.as_bytes()).ok()?;
        Some(Self { store })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> url::Url {
        s.parse().expect("url")
    }

    fn set(jar: &mut Jar, at: &str, cookies: &[&str]) -> usize {
        let mut headers = http::HeaderMap::new();
        for c in cookies {
            headers.append(http::header::SET_COOKIE, c.parse().expect("header"));
        }
        jar.store_response(&url(at), &headers)
    }

    #[test]
    fn a_cookie_goes_back_only_under_its_path_and_host() {
        let mut jar = Jar::new();
        set(
            &mut jar,
            "https://site.test/login",
            &["a=1; Path=/", "admin=2; Path=/admin"],
        );
        assert_eq!(
            jar.header_for(&url("https://site.test/")).as_deref(),
            Some("a=1")
        );
        let admin = jar
            .header_for(&url("https://site.test/admin/x"))
            .expect("cookies");
        assert!(
            admin.contains("a=1") && admin.contains("admin=2"),
            "{admin}"
        );
        assert_eq!(jar.header_for(&url("https://other.test/")), None);
        assert_eq!(
            jar.header_for(&url("https://sub.site.test/")),
            None,
            "a host-only cookie does not go to subdomains"
        );
    }

    #[test]
    fn domain_secure_and_expiry_are_honoured() {
        let mut jar = Jar::new();
        set(
            &mut jar,
            "https://www.site.test/",
            &[
                "wide=1; Domain=site.test",
                "foreign=2; Domain=evil.test",
                "safe=3; Secure",
                "gone=4; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
            ],
        );
        let sub = jar
            .header_for(&url("https://api.site.test/"))
            .expect("wide");
        assert_eq!(
            sub, "wide=1",
            "Domain widens to subdomains, never to another domain"
        );
        let plain = jar.header_for(&url("http://www.site.test/")).expect("wide");
        assert!(
            !plain.contains("safe=3"),
            "Secure is not sent over http: {plain}"
        );
        let tls = jar
            .header_for(&url("https://www.site.test/"))
            .expect("cookies");
        assert!(tls.contains("safe=3") && !tls.contains("gone"), "{tls}");

        set(
            &mut jar,
            "https://www.site.test/",
            &["safe=3; Secure; Max-Age=0"],
        );
        let after = jar
            .header_for(&url("https://www.site.test/"))
            .expect("wide");
        assert!(!after.contains("safe"), "Max-Age=0 removes: {after}");
    }

    #[test]
    fn a_site_cannot_grow_the_jar_without_bound() {
        let mut jar = Jar::new();
        let many: Vec<String> = (0..MAX_COOKIES + 20).map(|i| format!("c{i}=v")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        set(&mut jar, "https://site.test/", &many);
        let header = jar.header_for(&url("https://site.test/")).expect("cookies");
        assert_eq!(header.split("; ").count(), MAX_COOKIES);
        let huge = format!("big={}", "x".repeat(MAX_COOKIE_BYTES));
        assert_eq!(set(&mut jar, "https://site.test/", &[&huge]), 0);
        // A kept cookie still changes at the bound.
        set(&mut jar, "https://site.test/", &["c0=new"]);
        let header = jar.header_for(&url("https://site.test/")).expect("cookies");
        assert!(header.contains("c0=new"), "{header}");
    }

    #[test]
    fn a_jar_survives_its_json_form_with_session_cookies() {
        let mut jar = Jar::new();
        set(
            &mut jar,
            "https://doors.test/rm/j_security_check",
            &[
                "JSESSIONID=abc; Path=/rm; HttpOnly; Secure",
                "LtpaToken2=t; Path=/",
            ],
        );
        let text = jar.to_json().expect("json");
        let back = Jar::from_json(&text).expect("jar");
        let header = back
            .header_for(&url("https://doors.test/rm/x"))
            .expect("cookies");
        assert!(header.contains("JSESSIONID=abc") && header.contains("LtpaToken2=t"));
        assert_eq!(
            back.header_for(&url("https://doors.test/other")).as_deref(),
            Some("LtpaToken2=t")
        );
        assert!(
            Jar::from_json("a=1; b=2").is_none(),
            "an old header string is no jar"
        );
    }
}
