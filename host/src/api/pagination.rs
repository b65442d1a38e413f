//! Cursor pagination, shared by every list endpoint.
//!
//! A cursor is opaque to clients (base64url of the last id they saw), so the ordering key can
//! change later without breaking them. Pages are in ascending id order; `limit` defaults to 50
//! and is capped at 200.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::ApiError;
use crate::store::Page;

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest page size.
pub const MAX_LIMIT: u32 = 200;

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Paginated<T: ToSchema> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T: ToSchema> Paginated<T> {
    /// Converts a store page, mapping each row to its API view.
    pub fn from_page<R>(page: Page<R>, view: impl Fn(R) -> T) -> Self {
        Self {
            items: page.items.into_iter().map(view).collect(),
            next_cursor: page
                .next_after
                .map(|id| URL_SAFE_NO_PAD.encode(id.to_string())),
        }
    }
}

/// Decodes `cursor` and checks `limit`: `(after_id, limit)`.
pub fn window(cursor: Option<&str>, limit: Option<u32>) -> Result<(i64, i64), ApiError> {
    let after = match cursor {
        None | Some("") => 0,
        Some(c) => URL_SAFE_NO_PAD
            .decode(c)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.parse::<i64>().ok())
            .filter(|id| *id >= 0)
            .ok_or_else(|| ApiError::field("cursor", "is not a cursor returned by this list"))?,
    };
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::field(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    Ok((after, i64::from(limit)))
}
