//! The API error: every failure leaves the host as RFC 9457 `application/problem+json`.
//!
//! Client mistakes carry a `detail` that says what to fix (and, for validation, one entry per
//! field in `errors`); server failures are logged with their cause and answered with a generic
//! 500, so internal text never reaches a client.

use std::borrow::Cow;
use std::error::Error as StdError;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::AuthError;
use crate::store::StoreError;
use crate::vault::VaultError;

/// The cause of an internal error, kept for the log.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// The `Retry-After` of a 503: a dependency that is down is tried again this much later.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 5;

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// URI reference naming the kind of problem (`/problems/validation`); see `docs/API.md`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the kind of problem.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// What went wrong in this occurrence, and how to fix it.
    pub detail: String,
    /// Field-level validation failures.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// One invalid field.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    /// JSON path of the field (`owner_id`, `scopes[2]`); `""` for the whole body.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// A field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Errors of the HTTP layer.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON, or a parameter cannot be parsed.
    #[error("{0}")]
    BadRequest(String),
    /// Well-formed input that breaks a rule.
    #[error("invalid input")]
    Validation(Vec<FieldError>),
    /// No valid credential.
    #[error("{0}")]
    Unauthorized(String),
    /// The session timed out: the client must log in again.
    #[error("{0}")]
    SessionExpired(String),
    /// Authenticated, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// No such object, or not one the caller may see.
    #[error("{0}")]
    NotFound(String),
    /// The method is not defined for this path.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The request conflicts with current state.
    #[error("{0}")]
    Conflict(String),
    /// The body is larger than allowed.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The body is not `application/json`.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Throttled; retry after the given seconds.
    #[error("{detail}")]
    TooManyRequests {
        /// Seconds to wait.
        retry_after: u64,
        /// Why.
        detail: String,
    },
    /// A plugin call failed (crashed, timed out, exceeded a limit, or its service failed).
    #[error("{0}")]
    PluginFailed(String),
    /// A provider the host talked to on the caller's behalf (an OAuth token endpoint) failed.
    #[error("{0}")]
    BadGateway(String),
    /// A dependency (database) is unavailable or the request took too long.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an infrastructure failure: what the host was doing, and the error that stopped
    /// it. Both are logged with the error's whole source chain; the client gets a generic 500.
    #[error("internal error: {context}")]
    Internal {
        /// What the host was doing ("hashing a password", "vault").
        context: Cow<'static, str>,
        /// The error that stopped it; `None` for a broken invariant with no error behind it.
        #[source]
        source: Option<BoxError>,
    },
}

impl ApiError {
    /// Validation failure of a single field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::new(field, message)])
    }

    /// An internal error caused by `source` while doing `context`.
    pub fn internal(context: impl Into<Cow<'static, str>>, source: impl Into<BoxError>) -> Self {
        ApiError::Internal {
            context: context.into(),
            source: Some(source.into()),
        }
    }

    /// An internal error with no error behind it: an invariant of the host does not hold.
    pub fn bug(context: impl Into<Cow<'static, str>>) -> Self {
        ApiError::Internal {
            context: context.into(),
            source: None,
        }
    }

    /// 404 with a message naming what was not found.
    pub fn not_found(what: &str) -> Self {
        ApiError::NotFound(format!("{what} not found"))
    }

    /// The HTTP status this error is answered with.
    pub(crate) fn status(&self) -> StatusCode {
        self.parts().0
    }

    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        use ApiError::*;
        match self {
            BadRequest(_) => (StatusCode::BAD_REQUEST, "bad-request", "Bad request"),
            Validation(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                "Invalid input",
            ),
            Unauthorized(_) => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Not authenticated",
            ),
            SessionExpired(_) => (
                StatusCode::UNAUTHORIZED,
                "session-expired",
                "Session expired",
            ),
            Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", "Not allowed"),
            NotFound(_) => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
            ),
            Conflict(_) => (StatusCode::CONFLICT, "conflict", "Conflict"),
            PayloadTooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Payload too large",
            ),
            UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
            ),
            TooManyRequests { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-requests",
                "Too many requests",
            ),
            PluginFailed(_) => (
                StatusCode::BAD_GATEWAY,
                "plugin-failed",
                "Plugin call failed",
            ),
            BadGateway(_) => (StatusCode::BAD_GATEWAY, "bad-gateway", "A provider failed"),
            Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
            ),
            Internal { .. } => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal server error",
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, slug, title) = self.parts();
        let retry_after = match &self {
            ApiError::TooManyRequests { retry_after, .. } => Some(*retry_after),
            ApiError::Unavailable(_) => Some(UNAVAILABLE_RETRY_AFTER_SECS),
            _ => None,
        };
        let detail = match &self {
            ApiError::Internal { .. } => {
                tracing::error!(error = %chain(&self), "internal error");
                "the server failed to handle the request; it has been logged".to_owned()
            }
            // One field: its message too, so a client that shows only `detail` says why.
            ApiError::Validation(errors) if errors.len() == 1 => {
                format!(
                    "invalid value for: {}: {}",
                    errors[0].field, errors[0].message
                )
            }
            ApiError::Validation(errors) => {
                let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
                format!("invalid value for: {}", fields.join(", "))
            }
            other => other.to_string(),
        };
        let errors = match self {
            ApiError::Validation(errors) => errors,
            _ => Vec::new(),
        };
        let problem = Problem {
            kind: format!("/problems/{slug}"),
            title: title.into(),
            status: status.as_u16(),
            detail,
            errors,
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// A cron expression that does not parse is the caller's `cron` field; the rest is the store's.
impl From<crate::jobs::schedule::ScheduleError> for ApiError {
    fn from(e: crate::jobs::schedule::ScheduleError) -> Self {
        match e {
            crate::jobs::schedule::ScheduleError::Cron(m) => ApiError::field("cron", m),
            crate::jobs::schedule::ScheduleError::Store(s) => s.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound("not found".into()),
            e @ (StoreError::EmailTaken | StoreError::LastAdministrator) => {
                ApiError::Conflict(e.to_string())
            }
            StoreError::Conflict(what) => ApiError::Conflict(what),
            // The constraint's name is the schema's, not the client's: a handler that knows
            // what the key means says so before it gets here.
            StoreError::Duplicate { constraint } => {
                tracing::debug!(%constraint, "unique violation");
                ApiError::Conflict("another one with the same name or key exists".into())
            }
            StoreError::Stale(what) => {
                ApiError::Conflict(format!("{what}; read it again and retry"))
            }
            StoreError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "the database is unavailable");
                ApiError::Unavailable(
                    "the database is unavailable; try again in a few seconds".into(),
                )
            }
            other => ApiError::internal("store", other),
        }
    }
}

/// The vault's failures are the host's, except a database that is away (503 like the store's).
impl From<VaultError> for ApiError {
    fn from(e: VaultError) -> Self {
        match e {
            VaultError::Store(unavailable @ StoreError::Unavailable(_)) => unavailable.into(),
            other => ApiError::internal("vault", other),
        }
    }
}

/// `error` and each of its sources, outermost first, as one line for the log
/// ("internal error: store: database error: …"). A cause whose text its outer error already
/// ends with (an error that prints its source, as `database error: {0}` does) is not repeated.
pub(crate) fn chain(error: &dyn StdError) -> String {
    let mut line = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        next = cause.source();
    }
    line
}

impl From<crate::auth::password::HashError> for ApiError {
    fn from(e: crate::auth::password::HashError) -> Self {
        ApiError::internal("hashing a password", e)
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::InvalidCredentials => ApiError::Unauthorized(e.to_string()),
            AuthError::Throttled(wait) => ApiError::TooManyRequests {
                retry_after: wait.as_secs().max(1),
                detail: "too many login attempts; wait before trying again".into(),
            },
            AuthError::InvalidToken(why) => ApiError::Unauthorized(why.into()),
            AuthError::SessionExpired(why) => ApiError::SessionExpired(why.into()),
            AuthError::SessionRevoked(why) => ApiError::Unauthorized(why.into()),
            AuthError::Store(e) => e.into(),
            AuthError::Blocking(e) => ApiError::internal("checking a password", e),
        }
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_internal_error_keeps_its_cause_for_the_log_and_not_for_the_client() {
        let io = std::io::Error::other("disk on fire at /var/lib/agentic");
        let e = ApiError::internal("spooling an upload", io);
        assert_eq!(
            chain(&e),
            "internal error: spooling an upload: disk on fire at /var/lib/agentic"
        );
        let store = ApiError::from(StoreError::Database(sqlx::Error::Protocol(
            "bad packet".into(),
        )));
        assert!(
            chain(&store).starts_with("internal error: store: database error: "),
            "{}",
            chain(&store)
        );
        let response = e.into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn the_log_line_names_an_undecodable_name_once() {
        let unknown = crate::names::UnknownName::new("job state", "paused", &["queued"]);
        let e = ApiError::from(StoreError::from(unknown));
        let line = chain(&e);
        assert!(
            line.starts_with("internal error: store: database error: ")
                && line.ends_with(r#"unknown job state "paused" (expected one of: queued)"#)
                && line.matches("paused").count() == 1,
            "{line}"
        );
    }

    #[test]
    fn a_unique_violation_does_not_name_the_schema_to_the_client() {
        let e = ApiError::from(StoreError::Duplicate {
            constraint: "agents_project_id_name_key".into(),
        });
        assert!(
            matches!(&e, ApiError::Conflict(m) if !m.contains("agents_")),
            "{e:?}"
        );
        let taken = ApiError::from(StoreError::EmailTaken);
        assert!(matches!(&taken, ApiError::Conflict(m) if m == "email is already in use"));
        let last = ApiError::from(StoreError::LastAdministrator);
        assert!(matches!(&last, ApiError::Conflict(m) if m.contains("last active administrator")));
    }

    #[test]
    fn store_conflicts_are_409_by_kind() {
        let stale = ApiError::from(StoreError::Stale("the agent changed state meanwhile"));
        assert!(
            matches!(&stale, ApiError::Conflict(m) if m.ends_with("read it again and retry")),
            "{stale:?}"
        );
        let duplicate = ApiError::from(StoreError::Duplicate {
            constraint: "agents.name".into(),
        });
        assert!(matches!(duplicate, ApiError::Conflict(_)));
        let vault_down = ApiError::from(VaultError::Store(StoreError::Unavailable("gone".into())));
        assert!(
            matches!(vault_down, ApiError::Unavailable(_)),
            "{vault_down:?}"
        );
    }
}
