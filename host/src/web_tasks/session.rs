//! One run's HTTP session. Every request — and every hop of a redirect — is judged by the
//! plugin egress rules ([`EgressPolicy`] with the request's own origin as base, so the host
//! must match the task's declared patterns and IP literals the address rules), sent by the
//! egress [`Clients`] (no automatic redirects, the guarded resolver for names), and read
//! through a size cap. Cookies the sites set are kept for this run only, in a bounded
//! [`Jar`] that follows their `Domain`, `Path`, `Secure` and expiry.

use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION};
use reqwest::{Method, StatusCode};

use super::WebLimits;
use crate::cookie_jar::Jar;
use crate::plugins::egress::{is_prohibited, Clients};
use crate::plugins::EgressPolicy;

/// A page as fetched.
#[derive(Debug, Clone)]
pub struct Page {
    /// Where it came from, after redirects.
    pub url: url::Url,
    /// Its status.
    pub status: u16,
    /// Its body, decoded as UTF-8 (lossy).
    pub body: String,
}

/// The requests of one run.
#[derive(Debug)]
pub struct Session {
    client: reqwest::Client,
    allowed_hosts: Vec<String>,
    allow_private: bool,
    limits: WebLimits,
    /// The cookies the sites set during this run.
    cookies: Jar,
    sent: u32,
}

impl Session {
    /// A session reaching `allowed_hosts`, private addresses only when `allow_private`.
    pub fn new(
        clients: &Clients,
        allowed_hosts: Vec<String>,
        allow_private: bool,
        limits: WebLimits,
    ) -> Self {
        Self {
            client: clients.for_network(allow_private).clone(),
            allowed_hosts,
            allow_private,
            limits,
            cookies: Jar::new(),
            sent: 0,
        }
    }

    /// Requests sent so far.
    pub fn sent(&self) -> u32 {
        self.sent
    }

    /// Why `url` may not be requested, if it may not: the plugin egress rules.
    fn refusal(&self, url: &url::Url) -> Option<String> {
        if !matches!(url.scheme(), "http" | "https") {
            return Some(format!("{} URLs are not allowed", url.scheme()));
        }
        let origin = format!("{}/", url.origin().ascii_serialization());
        let policy = match EgressPolicy::new(&self.allowed_hosts, &origin) {
            Ok(p) => p.allow_private(self.allow_private),
            Err(e) => return Some(e.to_string().replace("the plugin's", "the task's")),
        };
        let uri: http::Uri = match url.as_str().parse() {
            Ok(uri) => uri,
            Err(e) => return Some(format!("bad URL: {e}")),
        };
        policy
            .refusal(&uri)
            .map(|why| why.replace("the connection", "the task"))
    }

    /// Sends a request (a URL-encoded `form` body for POSTs), following same-origin redirects;
    /// returns the final page. Errors are for people: they end up in the step's result.
    pub async fn request(
        &mut self,
        method: Method,
        url: url::Url,
        form: Option<String>,
    ) -> Result<Page, String> {
        let (mut method, mut url, mut form) = (method, url, form);
        for _hop in 0..=self.limits.max_redirects {
            if let Some(why) = self.refusal(&url) {
                return Err(format!("refused: {why}"));
            }
            if self.sent >= self.limits.max_requests {
                return Err(format!(
                    "refused: more than {} requests in one run",
                    self.limits.max_requests
                ));
            }
            self.sent += 1;
            let mut request = self
                .client
                .request(method.clone(), url.clone())
                .timeout(self.limits.request_timeout);
            if let Some(cookie) = self.cookies.header_for(&url) {
                request = request.header(COOKIE, cookie);
            }
            if let Some(body) = &form {
                request = request
                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(body.clone());
            } else if method == Method::POST {
                request = request.body(Vec::new());
            }
            let mut response = request.send().await.map_err(|e| describe(&e, &url))?;
            self.cookies.store_response(&url, response.headers());
            let status = response.status();
            if status.is_redirection() {
                if let Some(location) = response.headers().get(LOCATION) {
                    let target = location
                        .to_str()
                        .ok()
                        .and_then(|l| url.join(l).ok())
                        .ok_or("the redirect's Location is not a URL")?;
                    if target.origin() != url.origin() {
                        return Err(format!(
                            "refused: redirect from {} to another origin ({}) is not followed",
                            url.origin().ascii_serialization(),
                            target.origin().ascii_serialization()
                        ));
                    }
                    // As browsers do: 303, and 301/302 after a POST, continue with a GET.
                    if status == StatusCode::SEE_OTHER
                        || (method == Method::POST
                            && matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND))
                    {
                        method = Method::GET;
                        form = None;
                    }
                    url = target;
                    continue;
                }
            }
            let body = self.read_capped(&mut response).await?;
            return Ok(Page {
                url,
                status: status.as_u16(),
                body,
            });
        }
        Err(format!("more than {} redirects", self.limits.max_redirects))
    }

    /// The body, refused past the size cap (by its declared length first, then as it streams).
    async fn read_capped(&self, response: &mut reqwest::Response) -> Result<String, String> {
        let max = self.limits.max_response_bytes;
        let too_big = || {
            format!(
                "the response is larger than the {} limit",
                crate::documents::upload::human_bytes(max as u64)
            )
        };
        if response.content_length().is_some_and(|n| n > max as u64) {
            return Err(too_big());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| describe(&e, response.url()))?
        {
            if body.len() + chunk.len() > max {
                return Err(too_big());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(String::from_utf8_lossy(&body).into_owned())
    }
}

/// A client failure in words.
fn describe(e: &reqwest::Error, url: &url::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    if is_prohibited(e) {
        format!(
            "refused: {host} resolves only to addresses the task may not reach \
             (private, loopback or link-local)"
        )
    } else if e.is_timeout() {
        format!("{host} did not answer in time")
    } else if e.is_connect() {
        format!("could not connect to {host}")
    } else {
        format!("request to {host} failed")
    }
}
