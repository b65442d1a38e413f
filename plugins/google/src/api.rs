//! The Drive v3, Calendar v3, Sheets v4 and Docs v1 calls, and Google's failures as the
//! contract's typed errors. Drive and Calendar live under the connection's base URL
//! (`https://www.googleapis.com/`); Sheets and Docs on origins of their own, which the manifest
//! declares as the service origins `sheets` and `docs` (contract 0.3.0: the host lets requests
//! through there with the credential, at the connection's override if it has one).
//!
//! Google answers errors as `{"error": {"code", "message", "status", "errors": [{"reason",
//! "domain", "message"}]}}`; the `reason` (or the gRPC `status`) decides the case:
//!
//! | answer | error |
//! |---|---|
//! | `429`; `403` `rateLimitExceeded`, `userRateLimitExceeded`, `RATE_LIMIT_EXCEEDED` | `rate-limited`, after `Retry-After` or [`DEFAULT_BACKOFF_SECS`] |
//! | `403` `dailyLimitExceeded`, `quotaExceeded` | `rate-limited` for an hour |
//! | `403` `insufficientPermissions`, `ACCESS_TOKEN_SCOPE_INSUFFICIENT` | `auth`, naming the scope the stream needs |
//! | `401` | `auth` (the host renews the token once and calls again) |
//! | `404` | `not-found` |
//! | `5xx`, `408` | `transient` |
//! | other `4xx` | `internal`: Google refused what the connector sent |

use agentic_sdk::http::{self, encode, Request, Response};
use agentic_sdk::serde_json::Value;
use agentic_sdk::Error;

/// Seconds to wait after a throttling answer without `Retry-After` (Google asks for
/// exponential backoff from about a second; the host's queue adds its own jitter).
pub const DEFAULT_BACKOFF_SECS: u32 = 30;
/// Seconds to wait after a daily quota ran out.
pub const DAILY_QUOTA_BACKOFF_SECS: u32 = 3600;

/// Which API a call goes to: it decides the path prefix and the OAuth scope it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// Drive v3.
    Drive,
    /// Calendar v3.
    Calendar,
    /// Drive v3, to create files (actions).
    DriveWrite,
    /// Calendar v3, to create events (actions).
    CalendarWrite,
    /// Sheets v4, to read sheets' values (origin `sheets`).
    Sheets,
    /// Sheets v4, to append rows (actions; origin `sheets`).
    SheetsWrite,
    /// Docs v1, to read a document's structure (origin `docs`).
    Docs,
}

impl Service {
    fn prefix(self) -> &'static str {
        match self {
            Service::Drive | Service::DriveWrite => "drive/v3",
            Service::Calendar | Service::CalendarWrite => "calendar/v3",
            Service::Sheets | Service::SheetsWrite => "v4",
            Service::Docs => "v1",
        }
    }

    /// The service origin (manifest `[origins]`) it lives on; `None`: the base URL.
    fn origin(self) -> Option<&'static str> {
        match self {
            Service::Sheets | Service::SheetsWrite => Some("sheets"),
            Service::Docs => Some("docs"),
            _ => None,
        }
    }

    /// The narrowest scope that lets the connector read (the `*Write` services: create).
    pub fn scope(self) -> &'static str {
        match self {
            Service::Drive => "https://www.googleapis.com/auth/drive.readonly",
            Service::Calendar => "https://www.googleapis.com/auth/calendar.readonly",
            Service::DriveWrite => "https://www.googleapis.com/auth/drive.file",
            Service::CalendarWrite => "https://www.googleapis.com/auth/calendar.events",
            // Sheets and Docs also accept drive.readonly, which the files stream needs anyway.
            Service::Sheets | Service::Docs => "https://www.googleapis.com/auth/drive.readonly",
            Service::SheetsWrite => "https://www.googleapis.com/auth/spreadsheets",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Service::Drive | Service::DriveWrite => "Google Drive",
            Service::Calendar | Service::CalendarWrite => "Google Calendar",
            Service::Sheets | Service::SheetsWrite => "Google Sheets",
            Service::Docs => "Google Docs",
        }
    }
}

/// Google's APIs under the connection's base URL (`https://www.googleapis.com/`) and its
/// service origins.
#[derive(Debug, Clone)]
pub struct Google {
    base: String,
    /// The `sheets` origin (`https://sheets.googleapis.com`, or the connection's override).
    sheets: String,
    /// The `docs` origin (`https://docs.googleapis.com`, or the connection's override).
    docs: String,
}

impl Google {
    /// The APIs on the connection the call is for.
    pub fn connected() -> Result<Self, Error> {
        let base = agentic_sdk::base_url().ok_or_else(|| {
            Error::Config(
                "this call has no connection, so no Google to call (create a connection with \
                 the base URL https://www.googleapis.com/)"
                    .into(),
            )
        })?;
        // Declared in plugin.toml, so a connection always has them.
        let origin = |name: &str| {
            agentic_sdk::service_url(name)
                .map(|u| u.trim_end_matches('/').to_owned())
                .ok_or_else(|| {
                    Error::Config(format!(
                        "the connection has no service origin {name} (plugin.toml declares it: \
                         is the connector installed with its own manifest?)"
                    ))
                })
        };
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            sheets: origin("sheets")?,
            docs: origin("docs")?,
        })
    }

    /// Where `service` lives: the base URL, or its service origin.
    fn root(&self, service: Service) -> &str {
        match service.origin() {
            Some("sheets") => &self.sheets,
            Some(_) => &self.docs,
            None => &self.base,
        }
    }

    /// `{root}/{service prefix}/{path}`; each segment of `path` given separately is
    /// percent-encoded.
    pub fn url(&self, service: Service, segments: &[&str]) -> String {
        let mut url = format!("{}/{}", self.root(service), service.prefix());
        for s in segments {
            url.push('/');
            url.push_str(&encode(s));
        }
        url
    }

    /// `{base}/upload/{service prefix}/{path}`: where media uploads go.
    pub fn upload_url(&self, service: Service, path: &str) -> String {
        format!("{}/upload/{}/{path}", self.base, service.prefix())
    }

    /// `GET` with `query`; any failure is the typed error, its text naming `what` was done.
    pub fn get(
        &self,
        service: Service,
        segments: &[&str],
        query: &[(&str, &str)],
        what: &str,
    ) -> Result<Response, Error> {
        let mut request = Request::get(self.url(service, segments));
        for (name, value) in query {
            request = request.query(name, value);
        }
        self.send(service, request, what)
    }

    /// `GET` answered with JSON.
    pub fn get_json(
        &self,
        service: Service,
        segments: &[&str],
        query: &[(&str, &str)],
        what: &str,
    ) -> Result<Value, Error> {
        self.get(service, segments, query, what)?.json()
    }

    /// Sends `request`; a failure is the typed error.
    pub fn send(&self, service: Service, request: Request, what: &str) -> Result<Response, Error> {
        self.check(service, request.send()?, what)
    }

    /// `GET` whatever the answer's status (for callers that handle one status themselves, such
    /// as Calendar's `410 Gone`); then [`Google::check`].
    pub fn get_unchecked(
        &self,
        service: Service,
        segments: &[&str],
        query: &[(&str, &str)],
    ) -> Result<Response, Error> {
        let mut request = Request::get(self.url(service, segments));
        for (name, value) in query {
            request = request.query(name, value);
        }
        request.send()
    }

    /// `Ok(response)` for a 2xx answer, else the typed error.
    pub fn check(
        &self,
        service: Service,
        response: Response,
        what: &str,
    ) -> Result<Response, Error> {
        if (200..300).contains(&response.status) {
            return Ok(response);
        }
        Err(error(&response, service, what))
    }
}

/// The `reason` of Google's first error detail (or the gRPC status), and the message.
pub fn reason(response: &Response) -> (String, String) {
    let body: Value = agentic_sdk::serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    let error = &body["error"];
    let reason = error["errors"][0]["reason"]
        .as_str()
        .or_else(|| {
            error["details"]
                .as_array()
                .and_then(|d| d.iter().find_map(|x| x["reason"].as_str()))
        })
        .or_else(|| error["status"].as_str())
        .unwrap_or_default()
        .to_owned();
    let message = error["message"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| response.text().chars().take(200).collect::<String>());
    (reason, message)
}

/// Google's answer as the contract's error.
pub fn error(response: &Response, service: Service, what: &str) -> Error {
    let (reason, message) = reason(response);
    let said = format!(
        "{} answered {} to {what}: {}{message}",
        service.name(),
        response.status,
        if reason.is_empty() {
            String::new()
        } else {
            format!("{reason}: ")
        }
    );
    let retry_after = || {
        http::retry_after_secs(response, std::time::SystemTime::now())
            .unwrap_or(DEFAULT_BACKOFF_SECS)
    };
    match (response.status, reason.as_str()) {
        (429, _) | (403, "rateLimitExceeded" | "userRateLimitExceeded" | "RATE_LIMIT_EXCEEDED") => {
            Error::RateLimited {
                retry_after_secs: retry_after(),
                message: said,
            }
        }
        (403, "dailyLimitExceeded" | "quotaExceeded") => Error::RateLimited {
            retry_after_secs: DAILY_QUOTA_BACKOFF_SECS,
            message: said,
        },
        (403, "insufficientPermissions" | "ACCESS_TOKEN_SCOPE_INSUFFICIENT") => {
            Error::Auth(format!(
                "the credential lacks the OAuth scope {} ({said}); add it to the credential's \
                 scopes (and, for a service account, to its domain-wide delegation)",
                service.scope()
            ))
        }
        (401, _) => Error::Auth(said),
        (403, _) => Error::Auth(said),
        (404, _) => Error::NotFound(said),
        (408 | 500..=599, _) => Error::Transient(said),
        _ => Error::Internal(said),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentic_sdk::http::Method;

    fn answer(status: u16, reason: &str, headers: &[(&str, &str)]) -> Response {
        Response {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: format!(
                r#"{{"error": {{"code": {status}, "message": "said so", "errors": [{{"reason": "{reason}"}}]}}}}"#
            )
            .into_bytes(),
            method: Method::Get,
            url: "https://www.googleapis.com/drive/v3/files".into(),
        }
    }

    #[test]
    fn googles_answers_map_to_the_contracts_cases() {
        let e = |s, r: &str, h: &[(&str, &str)]| error(&answer(s, r, h), Service::Drive, "list");
        assert!(matches!(
            e(429, "rateLimitExceeded", &[("Retry-After", "7")]),
            Error::RateLimited {
                retry_after_secs: 7,
                ..
            }
        ));
        assert!(matches!(
            e(403, "userRateLimitExceeded", &[]),
            Error::RateLimited {
                retry_after_secs: DEFAULT_BACKOFF_SECS,
                ..
            }
        ));
        assert!(matches!(
            e(403, "dailyLimitExceeded", &[]),
            Error::RateLimited {
                retry_after_secs: DAILY_QUOTA_BACKOFF_SECS,
                ..
            }
        ));
        match e(403, "insufficientPermissions", &[]) {
            Error::Auth(m) => assert!(
                m.contains("auth/drive.readonly") && m.contains("said so"),
                "{m}"
            ),
            other => panic!("{other:?}"),
        }
        match error(
            &answer(403, "insufficientPermissions", &[]),
            Service::Calendar,
            "x",
        ) {
            Error::Auth(m) => assert!(m.contains("auth/calendar.readonly"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(e(401, "authError", &[]), Error::Auth(_)));
        assert!(matches!(e(404, "notFound", &[]), Error::NotFound(_)));
        assert!(matches!(e(503, "backendError", &[]), Error::Transient(_)));
        assert!(matches!(e(500, "", &[]), Error::Transient(_)));
        assert!(matches!(e(400, "invalid", &[]), Error::Internal(_)));
    }
}
