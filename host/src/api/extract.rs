//! Extractors that turn every kind of bad input into our problem format.
//!
//! axum's own extractors answer malformed input with plain text; these wrappers keep the status
//! axum chose but send problem+json with a detail that names the offending field.

use std::marker::PhantomData;
use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use super::error::{ApiError, FieldError};
use super::AppState;
use crate::auth::{ClientInfo, Principal};

/// An optional query or body field holding one of a closed set of names ([`crate::names`]):
/// `None` when absent, a 422 on `field` naming every accepted value when unknown.
pub fn name_field<T>(field: &str, value: Option<&str>) -> Result<Option<T>, ApiError>
where
    T: std::str::FromStr<Err = crate::names::UnknownName>,
{
    value
        .map(|v| v.parse::<T>())
        .transpose()
        .map_err(|e| ApiError::field(field, e.must_be_one_of()))
}

/// A request body that can check its own rules after it parsed.
pub trait Validate {
    /// Every rule broken, one entry per field.
    fn validate(&self) -> Result<(), Vec<FieldError>>;
}

/// Collects field errors while a body is checked.
#[derive(Debug, Default)]
pub struct Checks(Vec<FieldError>);

impl Checks {
    /// Records `message` against `field` unless `ok`.
    pub fn check(&mut self, ok: bool, field: &str, message: &str) -> &mut Self {
        if !ok {
            self.0.push(FieldError::new(field, message));
        }
        self
    }

    /// Single-line text of `min..=max` characters, without control characters.
    pub fn text(&mut self, field: &str, value: &str, min: usize, max: usize) -> &mut Self {
        let len = value.trim().chars().count();
        if len < min || value.chars().count() > max {
            let msg = if min > 0 {
                format!("must be {min} to {max} characters (not blank)")
            } else {
                format!("must be at most {max} characters")
            };
            self.0.push(FieldError::new(field, msg));
        } else if value
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            self.0.push(FieldError::new(
                field,
                "must not contain control characters",
            ));
        }
        self
    }

    /// Single-line text (names, labels): like [`Checks::text`] but no line breaks or tabs either.
    pub fn line(&mut self, field: &str, value: &str, min: usize, max: usize) -> &mut Self {
        if value.chars().any(char::is_control) {
            self.0.push(FieldError::new(
                field,
                "must be a single line without control characters",
            ));
            return self;
        }
        self.text(field, value, min, max)
    }

    /// A plausible e-mail address (one `@`, a dotted domain, no spaces, at most 254 bytes).
    pub fn email(&mut self, field: &str, value: &str) -> &mut Self {
        let ok = value.len() <= 254
            && !value.chars().any(|c| c.is_whitespace() || c.is_control())
            && value.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            });
        self.check(ok, field, "must be an e-mail address like name@example.com")
    }

    /// A positive id.
    pub fn id(&mut self, field: &str, value: i64) -> &mut Self {
        self.check(value > 0, field, "must be a positive id")
    }

    /// Adds an error as is.
    pub fn push(&mut self, field: &str, message: impl Into<String>) -> &mut Self {
        self.0.push(FieldError::new(field, message));
        self
    }

    /// `Ok` when nothing was recorded.
    pub fn finish(&mut self) -> Result<(), Vec<FieldError>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(std::mem::take(&mut self.0))
        }
    }
}

/// A JSON body: `Content-Type: application/json`, within the size limit, no unknown fields
/// (the target types deny them), then [`Validate`]d.
///
/// Extracting it reads nothing: the handler calls [`ApiJson::parse`] *after* its permission
/// checks. axum runs extractors before the handler, so a body checked at extraction would answer
/// a caller without the permission with 400/415/422 and the endpoint's rules instead of 403, and
/// would buffer bodies nobody may send. Being lazy here covers every JSON endpoint at once; the
/// type gives the handler no `T` until it asks.
#[derive(Debug)]
pub struct ApiJson<T> {
    request: Request,
    body: PhantomData<fn() -> T>,
}

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ApiJson {
            request,
            body: PhantomData,
        })
    }
}

impl<T: DeserializeOwned + Validate> ApiJson<T> {
    /// Reads, parses and validates the body: 415 for another media type, 413 over the body
    /// limit, 400 for malformed JSON, 422 naming the field for a value that breaks the rules.
    /// Call it only once the caller is known to be allowed to make the request.
    pub async fn parse(self) -> Result<T, ApiError> {
        let req = self.request;
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mime = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if mime != "application/json"
            && !(mime.starts_with("application/") && mime.ends_with("+json"))
        {
            return Err(ApiError::UnsupportedMediaType(format!(
                "expected Content-Type: application/json, got {}",
                if content_type.is_empty() {
                    "none"
                } else {
                    content_type
                }
            )));
        }
        let bytes = Bytes::from_request(req, &()).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge("request body exceeds the configured limit".into())
            } else {
                ApiError::BadRequest(format!(
                    "could not read the request body: {}",
                    rejection.body_text()
                ))
            }
        })?;
        let value = parse_json::<T>(&bytes)?;
        value.validate().map_err(ApiError::Validation)?;
        Ok(value)
    }
}

/// Parses a JSON document, naming the field of any type error.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest(
            "request body is empty; expected a JSON object".into(),
        ));
    }
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            return Err(ApiError::BadRequest(format!("malformed JSON: {e}")));
        }
        return Err(ApiError::Validation(vec![FieldError::new(
            "",
            "the body must be a JSON object",
        )]));
    }
    if contains_escaped_nul(bytes) {
        let value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| ApiError::BadRequest(format!("malformed JSON: {e}")))?;
        let field = nul_path(&value, "").unwrap_or_default();
        return Err(ApiError::Validation(vec![FieldError::new(
            field,
            "must not contain NUL (\\u0000)",
        )]));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = match serde_path_to_error::deserialize(&mut de) {
        Ok(value) => value,
        Err(e) => match integral_floats(bytes) {
            // JSON Schema counts `189.0` as an integer, so the document allows it wherever it
            // says `integer`; serde does not. Such a body is read again with those numbers as
            // integers (only on this error path: well-typed bodies are read once).
            // The whole document parsed, so there is nothing after it to check.
            Some(value) if e.inner().to_string().contains("floating point") => {
                return serde_path_to_error::deserialize(value).map_err(|e| type_error(bytes, e));
            }
            _ => return Err(type_error(bytes, e)),
        },
    };
    de.end().map_err(|_| {
        ApiError::BadRequest("malformed JSON: trailing characters after the document".into())
    })?;
    Ok(value)
}

/// The document with every number that is a whole float (`189.0`, `1e2`) made an integer;
/// `None` if it is not JSON or has no such number.
fn integral_floats(bytes: &[u8]) -> Option<serde_json::Value> {
    fn walk(value: &mut serde_json::Value) -> bool {
        use serde_json::Value;
        match value {
            Value::Number(n) if n.is_f64() => {
                let f = n.as_f64().unwrap_or(f64::NAN);
                // 2^63 and 2^64: the first floats past i64::MAX and u64::MAX.
                let whole = f.fract() == 0.0
                    && (-9.223_372_036_854_776e18..1.844_674_407_370_955_2e19).contains(&f);
                if !whole {
                    return false;
                }
                *value = if f < 0.0 {
                    Value::from(f as i64)
                } else {
                    Value::from(f as u64)
                };
                true
            }
            // Every element is walked (no short circuit): each whole float is rewritten.
            Value::Array(items) => items.iter_mut().map(walk).filter(|c| *c).count() > 0,
            Value::Object(map) => map.values_mut().map(walk).filter(|c| *c).count() > 0,
            _ => false,
        }
    }
    let mut value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    walk(&mut value).then_some(value)
}

/// The problem for a body that is not of the target type, naming the field.
fn type_error<E: std::fmt::Display>(bytes: &[u8], e: serde_path_to_error::Error<E>) -> ApiError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    // A streaming parse may meet a type error before a syntax error further on; malformed
    // JSON is a 400 whatever came first (checked only on this error path), and its message
    // is the syntax error's: the type error's would quote the input.
    if let Err(syntax) = serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
        return ApiError::BadRequest(format!("malformed JSON: {syntax}"));
    }
    let message = without_input(&inner.to_string());
    let mut message = message
        .split(" at line ")
        .next()
        .unwrap_or(&message)
        .to_owned();
    if message == "expected value" {
        // serde_json's wording when e.g. a number stands where a name (enum) belongs.
        message = "has the wrong type".into();
    }
    // Unknown, missing and duplicate fields are reported at their parent; name the field.
    let named = ["unknown field `", "missing field `", "duplicate field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next());
    let field = match (named, path.as_str()) {
        (Some(name), ".") => name.to_owned(),
        (Some(name), parent) if !parent.ends_with(name) => format!("{parent}.{name}"),
        (_, ".") => String::new(),
        _ => path,
    };
    ApiError::Validation(vec![FieldError::new(field, message)])
}

/// serde's message without the input it quotes.
///
/// serde names the offending value (`invalid type: string "-----BEGIN PRIVATE KEY…", expected
/// struct ServiceAccountKey`); that value may be a password, a token or a private key, and no
/// response may echo a submitted secret, valid or not. What was expected is kept: that is the
/// useful part. The last `, expected ` is serde's own (the quoted input comes before it).
fn without_input(message: &str) -> String {
    const EXPECTED: &str = ", expected ";
    for (prefix, say) in [
        ("invalid type: ", "has the wrong type"),
        ("invalid value: ", "has an invalid value"),
    ] {
        if let Some(rest) = message.strip_prefix(prefix) {
            return match rest.rfind(EXPECTED) {
                Some(at) => format!("{say}: expected {}", &rest[at + EXPECTED.len()..]),
                None => say.to_owned(),
            };
        }
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        return match rest.rfind("`, expected ") {
            Some(at) => format!("unknown variant, expected {}", &rest[at + 12..]),
            None => "unknown variant".to_owned(),
        };
    }
    message.to_owned()
}

/// Whether a JSON text contains the escape `\u0000` (a NUL character, which PostgreSQL text cannot
/// hold), as opposed to an escaped backslash followed by `u0000`.
fn contains_escaped_nul(bytes: &[u8]) -> bool {
    bytes.windows(6).enumerate().any(|(i, w)| {
        w == b"\\u0000" && bytes[..i].iter().rev().take_while(|b| **b == b'\\').count() % 2 == 0
    })
}

/// The path of the first string (or key) holding a NUL character.
fn nul_path(value: &serde_json::Value, path: &str) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::String(s) if s.contains('\0') => Some(path.to_owned()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| nul_path(v, &format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            // The path names the key, but never carries a NUL itself (no string of a response
            // holds one): it is written as the escape the client sent.
            let has_nul = k.contains('\0');
            let k = k.replace('\0', "\\u0000");
            let here = if path.is_empty() {
                k
            } else {
                format!("{path}.{k}")
            };
            if has_nul {
                Some(here)
            } else {
                nul_path(v, &here)
            }
        }),
        _ => None,
    }
}

/// Deserializes an optional field of a change (`PATCH`) that may be absent but not `null`.
///
/// Used as `#[serde(default, deserialize_with = "present")]` beside `#[schema(nullable = false)]`:
/// absent means "unchanged", and `null` is refused like any value of the wrong type, as the
/// document says, instead of quietly meaning "unchanged" too.
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// Path parameters; a bad one is a 400 naming it.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| ApiPath(v))
            .map_err(|r| ApiError::BadRequest(format!("invalid path parameter: {}", r.body_text())))
    }
}

/// Query parameters; unknown or malformed ones are a 400 naming them.
///
/// Every endpoint that reads a query string takes it through this, with a target type that
/// denies unknown fields (`#[serde(deny_unknown_fields)]`); list endpoints without parameters
/// take [`NoQuery`]. A misspelt `limt=10` is then an error instead of a silently ignored filter,
/// and the document's parameters are the whole truth. Messages never quote the value.
///
/// Like [`ApiJson`], extracting it reads nothing: the handler calls [`ApiQuery::parse`] after
/// its permission checks, so a caller without the permission gets 403, not the rules of the
/// endpoint's parameters (a 400 before the 403 would also tell them which parameters exist).
#[derive(Debug)]
pub struct ApiQuery<T> {
    query: String,
    params: PhantomData<fn() -> T>,
}

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ApiQuery {
            query: parts.uri.query().unwrap_or("").to_owned(),
            params: PhantomData,
        })
    }
}

impl<T: DeserializeOwned> ApiQuery<T> {
    /// Parses the query string: 400 naming an unknown or malformed parameter. Call it only once
    /// the caller is known to be allowed to make the request.
    pub fn parse(&self) -> Result<T, ApiError> {
        parse_query(&self.query)
    }
}

/// The query string of an endpoint that takes no parameters: any parameter is a 400.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NoQuery {}

/// Parses a query string into `T`, naming the parameter of any error.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    if query.to_ascii_lowercase().contains("%00") {
        return Err(ApiError::BadRequest(
            "query parameters must not contain NUL (%00)".into(),
        ));
    }
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let message = without_input(&e.into_inner().to_string());
        let named = ["unknown field `", "missing field `", "duplicate field `"]
            .iter()
            .find_map(|prefix| message.strip_prefix(prefix))
            .and_then(|rest| rest.split('`').next());
        ApiError::BadRequest(match named {
            Some(name) if message.starts_with("unknown") => {
                let known = message
                    .split_once(", expected ")
                    .map(|(_, known)| format!("; known: {known}"))
                    .unwrap_or_else(|| "; this endpoint takes none".into());
                format!("unknown query parameter `{name}`{known}")
            }
            Some(name) => format!("query parameter `{name}`: {message}"),
            None if path == "." => format!("invalid query string: {message}"),
            None => format!("invalid query parameter `{path}`: {message}"),
        })
    })
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let value = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
            ApiError::Unauthorized("missing Authorization: Bearer credential".into())
        })?;
        // The scheme name is case-insensitive (RFC 9110 §11.1).
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|t| !t.is_empty() && t.len() <= 4096)
            .ok_or_else(|| {
                ApiError::Unauthorized("Authorization header must be `Bearer <token>`".into())
            })?;
        Ok(state.auth.authenticate(token).await?)
    }
}

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let forwarded = state
            .config
            .http
            .trust_forwarded_for
            .then(|| {
                parts
                    .headers
                    .get("x-forwarded-for")
                    .and_then(|v| v.to_str().ok())
            })
            .flatten()
            .and_then(|v| v.split(',').next())
            .map(|ip| ip.trim().chars().take(64).collect::<String>())
            .filter(|ip| !ip.is_empty());
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(a)| a.ip().to_string());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().filter(|c| !c.is_control()).take(256).collect());
        Ok(ClientInfo {
            ip: forwarded.or(peer),
            user_agent,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_messages_lose_the_input_they_quote() {
        assert_eq!(
            without_input(
                "invalid type: string \"-----BEGIN, expected x\", expected struct Key at line 1"
            ),
            "has the wrong type: expected struct Key at line 1"
        );
        assert_eq!(
            without_input("invalid value: integer `918273645`, expected u8"),
            "has an invalid value: expected u8"
        );
        assert_eq!(
            without_input("unknown variant `hunter2`, expected `basic` or `body`"),
            "unknown variant, expected `basic` or `body`"
        );
        assert_eq!(
            without_input("missing field `name`"),
            "missing field `name`"
        );
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        token: u8,
    }

    #[test]
    fn no_parse_error_echoes_a_value() {
        for body in [
            r#"{"token": "s3cr3t-value"}"#,
            r#"{"token": "s3cr3t-value", "x": "#,
            r#"{"token": 918273645}"#,
        ] {
            let e = parse_json::<Body>(body.as_bytes()).expect_err(body);
            let text = format!("{e} {e:?}");
            assert!(
                !text.contains("s3cr3t") && !text.contains("918273645"),
                "{text}"
            );
        }
    }
}
